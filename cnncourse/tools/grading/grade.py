"""Autograde a whole cohort with nbgrader: in parallel, isolated, resumable, with one gradebook writer.

Scope: ``cnncourse grade ASSIGNMENT``. Every submission in
``submitted/<student>/<assignment>/`` goes through nbgrader's own
``Autograde``; this module decides where, how many at a time, and what is
written back (the gradebook side is ``cnncourse.tools.grading.gradebook``, the table
``cnncourse.tools.grading.report``).

Design:

- **One grading folder per submission.** A throw-away nbgrader course
  directory in the system temporary folder holds a copy of the gradebook
  (taken once, before grading starts), the assignment's non-notebook files
  (never the instructor's notebooks), the one submission, a Jupyter kernel
  spec that starts the kernel in the sandbox (``cnncourse.tools.grading.sandbox``) and an
  ``nbgrader_config.py`` that loads the course's own and swaps three of
  nbgrader's steps for those of ``cnncourse.tools.grading.safe_execute``.
- **N at a time.** N worker processes (``cnncourse.tools.grading.worker``: nbgrader
  imported once, then job after job), fed by N threads (default: one per GPU,
  else one per CPU core; each kernel gets ``cores / N`` threads and, with
  GPUs, its own ``CUDA_VISIBLE_DEVICES``). A worker past the time limit is
  killed with its kernel and replaced.
- **One writer.** Results are read from the grading folder's gradebook and
  merged into the course gradebook by the main thread alone, one submission
  at a time, through nbgrader's ``Gradebook`` API (the same fields nbgrader's
  autograde writes). SQLite sees a single writer, so there is no "database is
  locked", no lost and no duplicated row: M submissions give M rows.
- **Resumable.** ``autograded/.cnncourse/<assignment>.json`` records, per
  student, a SHA-256 of the submitted files and the grading settings; a later
  run grades only submissions that are new or changed (``force`` regrades all).
- **Never touches submissions.** ``submitted/`` is only read; its files are
  hashed before and after each grading, and a difference is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cnncourse.settings import data_root
from cnncourse.tools import compare
from cnncourse.tools.grading import sandbox as sandboxing
from cnncourse.tools.grading.gradebook import (CourseSettings, assignment_layout, course_settings, export_grades, merge_results,
                                 read_results, snapshot_gradebook)
from cnncourse.tools.grading.worker import WorkerProcess
from cnncourse.tools.grading.report import GradingReport, SubmissionResult
from cnncourse.tools.release import nbgrader_environment, student_files

__all__ = ["grade", "default_workers", "file_hashes", "export_grades", "generate_feedback", "GradingReport",
           "SubmissionResult"]

MANIFEST_FOLDER = ".cnncourse"
DEFAULT_MAX_OUTPUT_BYTES = 10_000_000
_EVENT_WORDS = {"tamper": "tampering", "timeout": "timeout", "dead_kernel": "dead kernel", "killed": "killed kernel",
                "output_limit": "output limit", "clear_output_ignored": "cleared output", "removed_links": "links",
                "error": "execution error", "exit": "sys.exit", "answer_error": "error in an answer"}


# ---------------------------------------------------------------------------
# the course


def _submissions(course: CourseSettings, assignment: str, students: Sequence[str] | None) -> list[str]:
    submitted = course.root / "submitted"
    found = sorted(p.parent.name for p in submitted.glob(f"*/{assignment}")
                   if p.is_dir() and not p.parent.name.startswith(".")) if submitted.is_dir() else []
    if students:
        missing = [s for s in students if s not in found]
        if missing:
            raise ValueError(f"no submission of {assignment} for {', '.join(missing)} in {submitted} "
                             f"(expected submitted/<student>/{assignment}/); found: {', '.join(found) or 'none'}")
        return sorted(set(students))
    if not found:
        raise ValueError(f"no submissions of {assignment} in {submitted}: collect them first "
                         f"(`nbgrader collect {assignment}`, `nbgrader zip_collect {assignment}`, "
                         f"or copy each into submitted/<student>/{assignment}/)")
    return found


def file_hashes(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (links not followed), by relative path.

    Example:
        >>> file_hashes("release/01_conv_arithmetic")  # doctest: +SKIP
        {'conv_arithmetic.ipynb': '3b1f...'}
    """
    folder = Path(folder)
    hashes = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            hashes[relative] = "link:" + os.readlink(path)
        elif path.is_file():
            hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _digest(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def default_workers() -> int:
    """One worker per GPU where there are GPUs, else one per CPU core.

    Example:
        >>> default_workers() >= 1
        True
    """
    return len(_gpus()) or os.cpu_count() or 1


def _gpus() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    driver = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(driver.iterdir())))] if driver.is_dir() else []


# ---------------------------------------------------------------------------
# grading


@dataclass
class _Settings:
    timeout: int
    max_output_bytes: int
    interrupt_grace: float
    mode: str
    workers: int
    submission_timeout: float
    uid_base: int

    def fingerprint(self, source_digest: str) -> str:
        kept = {"timeout": self.timeout, "max_output_bytes": self.max_output_bytes, "mode": self.mode,
                "source": source_digest}
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class _Outcome:
    student: str
    results: dict[str, Any] | None
    notes: list[str]
    seconds: float
    digest: str
    autograded: Path | None
    folder: Path
    failed: bool = False


def grade(assignment: str, *, course_dir: str | Path = ".", workers: int | None = None,
          students: Sequence[str] | None = None, timeout: int | None = None,
          max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, interrupt_grace: float = 10.0,
          submission_timeout: float | None = None, sandbox: str = "auto", force: bool = False,
          uid_base: int = sandboxing.DEFAULT_UID_BASE, progress: bool = True) -> GradingReport:
    """Autograde every collected submission of ``assignment`` (see the module docstring).

    Args:
        assignment: the assignment's folder name in ``source/``.
        course_dir: the nbgrader course directory.
        workers: submissions graded at a time (default ``default_workers()``).
        students: grade only these students (default: everyone in ``submitted/``).
        timeout: seconds one cell may run (default: the course's ``Execute.timeout``).
        max_output_bytes: the most output one cell may produce.
        interrupt_grace: seconds a kernel has to stop after a timeout's interrupt before it is killed.
        submission_timeout: seconds one whole submission may take (default: generous, from ``timeout``).
        sandbox: "auto" or a ``cnncourse.tools.grading.sandbox`` mode.
        force: regrade submissions that did not change.
        uid_base: first user id for sandboxed kernels (``full`` and ``user`` modes).
        progress: show a progress bar on stderr.

    Returns:
        A ``GradingReport``; ``print(report.table())`` shows it.

    Raises:
        FileNotFoundError: ``course_dir`` is not a course directory.
        ValueError: unknown assignment or student, no submissions, bad settings.

    Example:
        >>> report = grade("01_conv_arithmetic", workers=4)  # doctest: +SKIP
        >>> print(report.table())  # doctest: +SKIP
    """
    started = time.perf_counter()
    course = course_settings(course_dir)
    if not isinstance(assignment, str) or not (course.root / "source" / assignment).is_dir():
        raise ValueError(f"unknown assignment {assignment!r}: expected a folder source/{assignment}/ in {course.root}")
    workers = default_workers() if workers is None else workers
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    if max_output_bytes < 1:
        raise ValueError(f"max_output_bytes must be positive, got {max_output_bytes}")
    layout, source_digest = assignment_layout(course, assignment)
    selected = _submissions(course, assignment, students)
    timeout = int(timeout if timeout is not None else (course.timeout or 1800))
    if timeout < 1:
        raise ValueError(f"timeout must be at least 1 second, got {timeout}")
    code_cells = _code_cell_count(course, assignment)
    settings = _Settings(timeout=timeout, max_output_bytes=max_output_bytes, interrupt_grace=interrupt_grace,
                         mode=sandboxing.choose_mode(sandbox), workers=workers, uid_base=uid_base,
                         submission_timeout=submission_timeout or timeout * (code_cells + 2) + 300)
    fingerprint = settings.fingerprint(source_digest)
    manifest_path = course.root / "autograded" / MANIFEST_FOLDER / f"{assignment}.json"
    manifest = _load_manifest(manifest_path)

    hashes = {s: file_hashes(course.folder("submitted", s, assignment)) for s in selected}
    todo = [s for s in selected if force or not _is_current(course, assignment, s, manifest, _digest(hashes[s]),
                                                              fingerprint)]
    references = _references(course, assignment)
    outcomes: dict[str, _Outcome] = {}
    if todo:
        outcomes = _grade_all(course, assignment, todo, hashes, references, settings, manifest, manifest_path,
                              fingerprint, progress)
    results = _results(course, assignment, selected, layout, outcomes, manifest)
    report = GradingReport(assignment=assignment, results=results,
                           test_cells={name: points for cells in layout.values()
                                       for name, points, auto in cells if auto},
                           workers=min(workers, max(1, len(todo))), sandbox=settings.mode,
                           seconds=time.perf_counter() - started, warnings=_warnings(course, settings.mode))
    return report


def _code_cell_count(course: CourseSettings, assignment: str) -> int:
    release = course.root / "release" / assignment
    count = 0
    for path in release.rglob("*.ipynb") if release.is_dir() else []:
        nb, _ = compare.read_notebook(path)
        count += sum(c.cell_type == "code" for c in nb.cells) if nb is not None else 0
    return count or 50


def _references(course: CourseSettings, assignment: str) -> dict[str, Any]:
    """The release version of each notebook, for the structural notes (generated if release/ lacks it)."""
    release = course.root / "release" / assignment
    found = {}
    if release.is_dir():
        for path in release.glob("*.ipynb"):
            nb, _ = compare.read_notebook(path)
            if nb is not None:
                found[path.stem] = nb
    if not found:
        import nbformat

        for name, data in student_files(assignment, course_dir=course.root).items():
            if name.endswith(".ipynb") and "/" not in name:
                nb = nbformat.reads(data.decode("utf-8"), as_version=4)
                for cell in nb.cells:
                    cell.source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
                found[Path(name).stem] = nb
    return found


def _is_current(course: CourseSettings, assignment: str, student: str, manifest: dict, digest: str,
                fingerprint: str) -> bool:
    entry = manifest.get("students", {}).get(student)
    if not entry or entry.get("digest") != digest or entry.get("settings") != fingerprint:
        return False
    if not course.folder("autograded", student, assignment).is_dir() and not entry.get("failed"):
        return False
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            return False
    return True


def _grade_all(course: CourseSettings, assignment: str, todo: list[str], hashes: dict[str, dict[str, str]],
               references: dict[str, Any], settings: _Settings, manifest: dict, manifest_path: Path,
               fingerprint: str, progress: bool) -> dict[str, _Outcome]:
    from tqdm.auto import tqdm

    tmp_root = Path(tempfile.mkdtemp(prefix="cnncourse-grade-"))
    tmp_root.chmod(0o711)
    try:
        template = tmp_root / "gradebook-template.db"
        snapshot_gradebook(course.db_url, template)
        template.chmod(0o600)
        slots: queue.Queue[_Slot] = queue.Queue()
        workers = min(settings.workers, len(todo))
        for index in range(workers):
            slots.put(_Slot(index, tmp_root / f"worker{index}.log"))
        threads = max(1, (os.cpu_count() or 1) // workers)
        outcomes: dict[str, _Outcome] = {}
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnncourse-grade") as pool, \
                    tqdm(total=len(todo), desc=f"grading {assignment}", unit="submission", disable=not progress,
                         file=sys.stderr) as bar:
                futures = {pool.submit(_grade_one, course, assignment, student, template, tmp_root, slots, settings,
                                       threads, references, hashes[student]): student for student in todo}
                for future in as_completed(futures):
                    outcome = future.result()
                    merge_results(course, assignment, outcome.student, outcome.results,
                                  autograded=outcome.autograded)
                    outcomes[outcome.student] = outcome
                    manifest.setdefault("students", {})[outcome.student] = {
                        "digest": outcome.digest, "settings": fingerprint, "notes": outcome.notes,
                        "seconds": round(outcome.seconds, 2), "failed": outcome.failed,
                        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                    _save_manifest(manifest_path, manifest)
                    shutil.rmtree(outcome.folder, ignore_errors=True)
                    bar.update(1)
        finally:
            while not slots.empty():
                slots.get().close()
        return outcomes
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


class _Slot:
    """One worker slot: its number (sandbox user id, GPU) and its grading worker process, started on first use."""

    def __init__(self, index: int, log: Path) -> None:
        self.index, self.log = index, log
        self.worker: WorkerProcess | None = None

    def grade(self, job: dict[str, Any], *, timeout: float) -> dict[str, Any] | None:
        if self.worker is None:
            self.worker = WorkerProcess(log=self.log)
        return self.worker.grade(job, timeout=timeout)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def _grade_one(course: CourseSettings, assignment: str, student: str, template: Path, tmp_root: Path,
               slots: "queue.Queue[_Slot]", settings: _Settings, threads: int, references: dict[str, Any],
               hashes_before: dict[str, str]) -> _Outcome:
    """Grade one submission in its own grading folder (runs in a pool thread)."""
    slot = slots.get()
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix=f"slot{slot.index}-", dir=tmp_root))
    try:
        notes = _structure_notes(course.folder("submitted", student, assignment), references)
        env = _prepare_folder(course, assignment, student, folder, template, slot.index, settings, threads)
        reply = slot.grade({"folder": str(folder), "assignment": assignment, "student": student, "env": env},
                           timeout=settings.submission_timeout)
        tail = (reply or {}).get("error", "")
        if reply is None:
            notes.append(f"grading took longer than {settings.submission_timeout:.0f} s (or the grading worker "
                         "died) and was stopped; the whole submission got 0")
        results = read_results(folder, assignment, student)
        autograded = folder / "autograded" / student / assignment
        for notebook in references:
            if results is not None and not (autograded / f"{notebook}.ipynb").is_file():
                reason = tail or "nbgrader could not grade it"
                notes.append(f"{notebook}.ipynb could not be graded and counts 0 ({reason})")
                results["notebooks"].setdefault(notebook, {})["failed"] = True
        if results is None:
            notes.append(f"nbgrader could not grade the submission; it counts 0 ({tail or 'no result'})")
        notes += _event_notes(folder / "events.jsonl")
        after = file_hashes(course.folder("submitted", student, assignment))
        if after != hashes_before:
            changed = sorted(k for k in set(after) | set(hashes_before) if after.get(k) != hashes_before.get(k))
            notes.append(f"the submitted files changed while grading: {', '.join(changed)} (report this as a bug)")
        failed = results is None or any(nb.get("failed") for nb in results["notebooks"].values())
        return _Outcome(student, results, _unique(notes), time.perf_counter() - started, _digest(hashes_before),
                        autograded if autograded.is_dir() else None, folder, failed)
    finally:
        slots.put(slot)


def _prepare_folder(course: CourseSettings, assignment: str, student: str, folder: Path, template: Path, slot: int,
                    settings: _Settings, threads: int) -> dict[str, str]:
    """Lay out one grading folder; return the environment variables nbgrader needs there."""
    folder.chmod(0o711)
    shutil.copyfile(template, folder / "gradebook.db")
    (folder / "gradebook.db").chmod(0o600)
    source = course.root / "source" / assignment
    shutil.copytree(source, folder / "source" / assignment, symlinks=True,
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", ".*"))
    (folder / "source").chmod(0o700)
    shutil.copytree(course.folder("submitted", student, assignment), folder / "submitted" / student / assignment,
                    symlinks=False, ignore_dangling_symlinks=True)
    (folder / "submitted").chmod(0o700)
    gpus = _gpus()
    extra_env = {"NBGRADER_EXECUTION": "autograde", "CNNCOURSE_MAX_OUTPUT_BYTES": str(settings.max_output_bytes)}
    if gpus:
        extra_env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    data_roots = _data_roots()
    policy = sandboxing.make_policy(settings.mode, run_dir=folder / "run", home=folder / "home", slot=slot,
                                    uid_base=settings.uid_base, hide=[course.root, folder.parent],
                                    expose_ro=data_roots, env=extra_env, threads=threads)
    sandboxing.prepare_folders(policy, traverse=[folder.parent, folder])
    policy_file = policy.save(folder / "sandbox.json")
    sandboxing.write_kernel_spec(folder / "share", policy_file)
    config = _worker_config(course, folder, settings, policy)
    (folder / "nbgrader_config.py").write_text(config, encoding="utf-8")
    (folder / "nbgrader_config.py").chmod(0o600)
    return {"JUPYTER_PATH": str(folder / "share"), "JUPYTER_RUNTIME_DIR": str(folder / "run"),
            "JUPYTER_DATA_DIR": str(folder / "share")}


def _data_roots() -> list[str]:
    """Where the kernel looks for datasets: ``cnncourse.settings.data_root()``."""
    return [str(data_root())]


def _worker_config(course: CourseSettings, folder: Path, settings: _Settings, policy: sandboxing.SandboxPolicy) -> str:
    lines = [
        '"""Written by cnncourse grade for one submission: the course config, then the safe grading steps."""',
        "from nbgrader.converters.autograde import Autograde",
        "from nbgrader.preprocessors import DeduplicateIds, Execute, OverwriteCells",
        "from cnncourse.tools.grading.safe_execute import DeduplicateCells, RestoreCells, SafeExecute",
        "c = get_config()  # noqa: F821",
        f"load_subconfig({str(course.config_file)!r})  # noqa: F821",
        f"c.CourseDirectory.root = {str(folder)!r}",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(folder / 'gradebook.db')!r}",
        "_swap = {Execute: SafeExecute, 'nbgrader.preprocessors.Execute': SafeExecute,",
        "         OverwriteCells: RestoreCells, 'nbgrader.preprocessors.OverwriteCells': RestoreCells,",
        "         DeduplicateIds: DeduplicateCells, 'nbgrader.preprocessors.DeduplicateIds': DeduplicateCells}",
        "for _name in ('autograde_preprocessors', 'sanitize_preprocessors'):",
        "    _chain = c.Autograde.get(_name) or Autograde.class_traits()[_name].default()",
        "    c.Autograde[_name] = [_swap.get(p, p) for p in _chain]",
        f"c.SafeExecute.timeout = {settings.timeout}",
        f"c.SafeExecute.max_output_bytes = {settings.max_output_bytes}",
        f"c.SafeExecute.interrupt_grace = {settings.interrupt_grace!r}",
        f"c.SafeExecute.report_file = {str(folder / 'events.jsonl')!r}",
        "c.RestoreCells.add_missing_cells = True",
    ]
    if settings.mode == "user":
        lines.append(f"c.SafeExecute.sandbox_uid = {policy.uid}")
    if sandboxing.uses_unix_sockets(settings.mode):
        lines += ['c.KernelManager.transport = "ipc"', f"c.KernelManager.ip = {str(folder / 'run' / 'kernel')!r}"]
    return "\n".join(lines) + "\n"


def _structure_notes(submitted: Path, references: dict[str, Any]) -> list[str]:
    notes = []
    for name, reference in sorted(references.items()):
        path = submitted / f"{name}.ipynb"
        if not path.is_file():
            notes.append(f"{name}.ipynb was not submitted; it counts 0")
            continue
        nb, problems = compare.read_notebook(path)
        if nb is not None:
            problems = compare.compare_with_reference(nb, reference)
        notes += [f"{name}.ipynb: {p.message}" for p in problems]
    return notes


def _event_notes(report_file: Path) -> list[str]:
    from cnncourse.tools.grading.safe_execute import read_report

    notes = []
    for notebook, events in read_report(report_file).items():
        for event in events:
            if event["kind"] == "clear_output_ignored":
                continue
            where = f" ({event['grade_id']})" if event.get("grade_id") else ""
            label = _EVENT_WORDS.get(event["kind"], event["kind"])
            notes.append(f"{notebook}.ipynb{where}, {label}: {event['message']}")
    return notes


def _results(course: CourseSettings, assignment: str, students: list[str],
             layout: dict[str, list[tuple[str, float, bool]]],
             outcomes: dict[str, _Outcome], manifest: dict) -> list[SubmissionResult]:
    from nbgrader.api import Gradebook, MissingEntry

    results = []
    with Gradebook(course.db_url, course.course_id) as gb:
        for student in students:
            outcome = outcomes.get(student)
            entry = manifest.get("students", {}).get(student, {})
            failed = outcome.failed if outcome else entry.get("failed", False)
            status = "failed" if failed else ("graded" if outcome else "unchanged")
            result = SubmissionResult(student, status, notes=list(outcome.notes if outcome else entry.get("notes", [])),
                                      seconds=outcome.seconds if outcome else 0.0)
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                results.append(result)
                continue
            result.score, result.max_score = float(submission.score), float(submission.max_score)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell.cell_type == "code":
                        result.cells[grade.name] = float(grade.score)
                    result.manual += bool(grade.needs_manual_grade)
            results.append(result)
    return results


def _warnings(course: CourseSettings, mode: str) -> list[str]:
    warnings = []
    if mode == "off":
        warnings.append("no isolation (sandbox off): submissions ran with your user's rights and could read "
                        "the gradebook and source/")
    if mode == "user" and course.root.stat().st_mode & 0o005:
        warnings.append(f"sandbox 'user' relies on file permissions, but {course.root} is readable by others; "
                        f"run `chmod o-rwx {course.root}`")
    return warnings


def _load_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError:
        return {}  # a damaged manifest only costs a full regrade


def _save_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    partial.replace(path)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------
# after grading: export and feedback


def generate_feedback(assignment: str, *, course_dir: str | Path = ".") -> int:
    """Run ``nbgrader generate_feedback`` (hidden tests stay hidden: ``HideHiddenTests``); its exit status.

    Example:
        >>> generate_feedback("01_conv_arithmetic")  # doctest: +SKIP
        0
    """
    course = course_settings(course_dir)
    command = [sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force",
               f"--CourseDirectory.root={course.root}", "--log-level=WARN"]
    return subprocess.run(command, cwd=course.root, env=nbgrader_environment()).returncode
