"""Autograde a whole cohort with nbgrader: in parallel, isolated, resumable, with one gradebook writer.

Scope: ``cnncourse grade ASSIGNMENT``. Every submission in
``submitted/<student>/<assignment>/`` goes through nbgrader's own
``Autograde``; this module decides what is graded, how many at a time, and
what is written back (one submission's grading folder is
``cnncourse.tools.grading.submission``, the gradebook side
``cnncourse.tools.grading.gradebook``, the table ``cnncourse.tools.grading.report``).

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
- **Or on a Dask cluster** (``cluster=``, ``--cluster``/``--local-cluster``): each
  submission becomes a job that ships as bytes (``cnncourse.tools.grading.job``),
  sent by ``cnncourse.tools.grading.cluster``; the merge stays here, one at a time.
- **Never touches submissions.** ``submitted/`` is only read; its files are
  hashed before and after each grading, and a difference is reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cnncourse.settings import RETRAIN_VARIABLE, RUNS_FOLDER, retrain_forced
from cnncourse.tools import compare
from cnncourse.tools.grading import sandbox as sandboxing
from cnncourse.tools.grading.gradebook import CourseSettings, assignment_layout, course_settings, export_grades, merge_results
from cnncourse.tools.grading.challenge import is_challenge, read_facts
from cnncourse.tools.grading.copies import copy_notes, run_files
from cnncourse.tools.grading.links import remove_links
from cnncourse.tools.grading.report import GradingReport, SubmissionResult
from cnncourse.tools.grading.submission import (GradingOptions, GradingRun, Outcome, WorkerPool, digest, file_hashes,
                                                gpus, grade_submission)
from cnncourse.tools.release import nbgrader_environment, student_files

__all__ = ["grade", "default_workers", "file_hashes", "export_grades", "generate_feedback", "GradingReport",
           "SubmissionResult"]

MANIFEST_FOLDER = ".cnncourse"
DEFAULT_MAX_OUTPUT_BYTES = 10_000_000


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


def default_workers() -> int:
    """One worker per GPU where there are GPUs, else one per CPU core.

    Example:
        >>> default_workers() >= 1
        True
    """
    return len(gpus()) or os.cpu_count() or 1


# ---------------------------------------------------------------------------
# grading


def grade(assignment: str, *, course_dir: str | Path = ".", workers: int | None = None,
          students: Sequence[str] | None = None, timeout: int | None = None,
          max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, interrupt_grace: float = 10.0,
          submission_timeout: float | None = None, sandbox: str = "auto", force: bool = False,
          uid_base: int = sandboxing.DEFAULT_UID_BASE, progress: bool = True, cluster: str | None = None,
          security: Any = None) -> GradingReport:
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
        uid_base: where the blocks of sandbox user ids start (``full`` and ``user`` modes; each run holds a block
            of its own, ``cnncourse.tools.grading.uids``).
        progress: show a progress bar on stderr.
        cluster: grade on Dask instead of local processes: a scheduler address, or "local" for a LocalCluster
            of ``workers`` processes (``cnncourse.tools.grading.cluster``; the sandbox is chosen on each worker).
        security: Dask's ``distributed.Security`` (TLS) for ``cluster``.

    Returns:
        A ``GradingReport``; ``print(report.table())`` shows it.

    Raises:
        FileNotFoundError: ``course_dir`` is not a course directory.
        ValueError: unknown assignment or student, no submissions, bad settings.

    Example::

        report = grade("01_conv_arithmetic", workers=4)
        print(report.table())
    """
    started = time.perf_counter()
    course = course_settings(course_dir)
    if retrain_forced() and sandbox != "off":
        raise ValueError(f"{RETRAIN_VARIABLE}=1 re-trains inside the grading kernel, which may not write the new runs "
                         f"into the graded folder under a sandbox (asked: {sandbox!r}): unset {RETRAIN_VARIABLE} to "
                         f"grade the saved runs, or re-train with --sandbox off on submissions you trust")
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
    options = GradingOptions(timeout=timeout, max_output_bytes=max_output_bytes, interrupt_grace=interrupt_grace,
                             mode=sandboxing.choose_mode(sandbox) if cluster is None else _asked_mode(sandbox),
                             workers=workers, uid_base=uid_base,
                             submission_timeout=submission_timeout or timeout * (code_cells + 2) + 300)
    run = GradingRun(course, assignment, options, _references(course, assignment), progress=progress)
    manifest = _Manifest.load(course.root / "autograded" / MANIFEST_FOLDER / f"{assignment}.json",
                              fingerprint=options.fingerprint(source_digest))
    hashes = {s: file_hashes(run.submitted(s)) for s in selected}
    todo = [s for s in selected if force or not manifest.is_current(run, s, digest(hashes[s]))]
    mode, warnings = options.mode, _warnings(course, options.mode)
    if cluster is None:
        outcomes = _grade_all(run, todo, hashes, manifest) if todo else {}
    elif todo:  # on Dask (imported there only): cnncourse.tools.grading.cluster
        from cnncourse.tools.grading.cluster import grade_on_cluster

        outcomes, modes, warnings = grade_on_cluster(run, todo, hashes, manifest, cluster=cluster, security=security)
        mode = "/".join(sorted(modes)) or mode
        warnings += _warnings(course, "off") if "off" in modes else []
    else:
        outcomes = {}
    results, copies = _results(run, selected, outcomes, manifest), manifest.note_runs(hashes)
    for result in results:
        result.notes += [note for note in copies.get(result.student, []) if note not in result.notes]
    return GradingReport(assignment=assignment, results=results,
                         test_cells={name: points for cells in layout.values() for name, points, auto in cells if auto},
                         workers=min(workers, max(1, len(todo))), sandbox=mode,
                         seconds=time.perf_counter() - started, warnings=warnings)


def _asked_mode(sandbox: str) -> str:
    """The sandbox asked of cluster workers (each chooses and probes its own): "auto" or a mode name."""
    if sandbox != "auto" and sandbox not in sandboxing.MODES:
        raise ValueError(f"unknown sandbox mode {sandbox!r}: use auto or one of {', '.join(sandboxing.MODES)}")
    return sandbox


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


@dataclass
class _Manifest:
    """``autograded/.cnncourse/<assignment>.json``: per student, what was graded, under which settings, and the notes."""

    path: Path
    fingerprint: str
    data: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, *, fingerprint: str) -> "_Manifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}  # a missing or damaged manifest only costs a full regrade
        return cls(path, fingerprint, data if isinstance(data, dict) else {})

    def entry(self, student: str) -> dict:
        return self.data.get("students", {}).get(student, {})

    def is_current(self, run: GradingRun, student: str, submitted_digest: str) -> bool:
        """Whether ``student``'s submission was graded as it is now, under these settings, and is in the gradebook."""
        entry = self.entry(student)
        if not entry or entry.get("digest") != submitted_digest or entry.get("settings") != self.fingerprint:
            return False
        if not run.course.folder("autograded", student, run.assignment).is_dir() and not entry.get("failed"):
            return False
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(run.course.db_url, run.course.course_id) as gb:
            try:
                gb.find_submission(run.assignment, student)
            except MissingEntry:
                return False
        return True

    def record(self, outcome: Outcome) -> None:
        """Note one graded submission and save the manifest at once (a crash later keeps it)."""
        self.data.setdefault("students", {})[outcome.student] = {
            "digest": outcome.digest, "settings": self.fingerprint, "notes": outcome.notes,
            "seconds": round(outcome.seconds, 2), "failed": outcome.failed,
            "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.save()

    def note_runs(self, hashes: dict[str, dict[str, str]]) -> dict[str, list[str]]:
        """Record each student's saved runs (``runs/`` files, SHA-256); the copy notes over every student recorded."""
        for student, files in hashes.items():
            if student in self.data.get("students", {}):
                self.data["students"][student]["runs"] = run_files(files)
        self.save()
        return copy_notes({s: e.get("runs", {}) for s, e in self.data.get("students", {}).items()})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
        partial.replace(self.path)


def _grade_all(run: GradingRun, todo: list[str], hashes: dict[str, dict[str, str]],
               manifest: _Manifest) -> dict[str, Outcome]:
    """Grade ``todo`` on a pool of workers; merge each result into the course gradebook from this thread alone."""
    from tqdm.auto import tqdm

    outcomes: dict[str, Outcome] = {}
    workers = min(run.options.workers, len(todo))
    with WorkerPool(run.course, workers, mode=run.options.mode, uid_base=run.options.uid_base) as pool, \
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnncourse-grade") as threads, \
            tqdm(total=len(todo), desc=f"grading {run.assignment}", unit="submission", disable=not run.progress,
                 file=sys.stderr) as bar:
        futures = [threads.submit(grade_submission, run, pool, student, hashes[student]) for student in todo]
        for future in as_completed(futures):
            outcome = future.result()
            merge_results(run.course, run.assignment, outcome.student, outcome.results, autograded=outcome.autograded)
            outcomes[outcome.student] = outcome
            manifest.record(outcome)
            shutil.rmtree(outcome.folder, ignore_errors=True)
            bar.update(1)
    return outcomes


def _results(run: GradingRun, students: list[str], outcomes: dict[str, Outcome],
             manifest: _Manifest) -> list[SubmissionResult]:
    from nbgrader.api import Gradebook, MissingEntry

    results = []
    challenges = any(is_challenge(cell.metadata.get("nbgrader", {}).get("grade_id"))
                     for nb in run.references.values() for cell in nb.cells)
    with Gradebook(run.course.db_url, run.course.course_id) as gb:
        for student in students:
            outcome = outcomes.get(student)
            entry = manifest.entry(student)
            failed = outcome.failed if outcome else entry.get("failed", False)
            status = "failed" if failed else ("graded" if outcome else "unchanged")
            result = SubmissionResult(student, status, notes=list(outcome.notes if outcome else entry.get("notes", [])),
                                      seconds=outcome.seconds if outcome else 0.0)
            try:
                submission = gb.find_submission(run.assignment, student)
            except MissingEntry:
                results.append(result)
                continue
            result.score, result.max_score = float(submission.score), float(submission.max_score)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell.cell_type == "code":
                        result.cells[grade.name] = float(grade.score)
                    result.manual += bool(grade.needs_manual_grade)
            if challenges:
                result.facts = _challenge_facts(run.course.folder("autograded", student, run.assignment))
            results.append(result)
    return results


def _challenge_facts(folder: Path) -> dict[str, dict[str, float]]:
    """What the verdict pass measured for each challenge cell, as stored in the autograded notebooks of ``folder``."""
    from cnncourse.tools.grading.verdict import METADATA_KEY

    facts: dict[str, dict[str, float]] = {}
    for path in sorted(folder.glob("*.ipynb")):
        notebook, _ = compare.read_notebook(path)
        if notebook is not None:
            facts.update(read_facts(notebook, METADATA_KEY))
    return facts


def _warnings(course: CourseSettings, mode: str) -> list[str]:
    warnings = []
    if mode == "off":
        warnings.append("no isolation (sandbox off): submissions ran with your user's rights and could read "
                        "the gradebook and source/")
    if mode == "user" and course.root.stat().st_mode & 0o005:
        warnings.append(f"sandbox 'user' relies on file permissions, but {course.root} is readable by others; "
                        f"run `chmod o-rwx {course.root}`")
    return warnings


# ---------------------------------------------------------------------------
# after grading: export and feedback


# nbgrader's default CourseDirectory.ignore, plus the saved training runs (cnncourse.runs).
FEEDBACK_IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", RUNS_FOLDER)


def generate_feedback(assignment: str, *, course_dir: str | Path = ".") -> int:
    """Run ``nbgrader generate_feedback`` (hidden tests stay hidden: ``HideHiddenTests``); its exit status.

    Links and special files in ``autograded/`` are removed first, with a warning: nbgrader's copy would follow them.
    The saved training runs (``runs/``) stay out of the feedback: students get their scores, not weights back.

    Example::

        generate_feedback("01_conv_arithmetic")
        # 0
    """
    course = course_settings(course_dir)
    for student in sorted(course.root.glob(f"autograded/*/{assignment}")):  # nbgrader's copy would follow them
        for path in remove_links(student):
            print(f"warning: removed {path} from autograded/ before writing feedback: a link or special file "
                  "(grading never copies them; was this folder written by hand?)", file=sys.stderr)
    command = [sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force",
               f"--CourseDirectory.root={course.root}", "--log-level=WARN",
               *(f"--CourseDirectory.ignore={pattern}" for pattern in FEEDBACK_IGNORED)]
    return subprocess.run(command, cwd=course.root, env=nbgrader_environment()).returncode
