"""Grade one submission in a throw-away nbgrader course folder, on one worker of a pool.

Scope: what ``cnncourse grade`` (``cnncourse.tools.grading.grade``) does for
each submission. ``GradingRun`` holds what one run grades and how (the course,
the assignment, the options, the release notebooks); ``WorkerPool`` holds the
worker slots and the temporary folder the grading folders live in;
``grade_submission`` lays out one grading folder (a copy of the gradebook, the
assignment's non-notebook files, the submission, a sandboxed kernel spec and an
``nbgrader_config.py`` that swaps in the steps of
``cnncourse.tools.grading.safe_execute``), has a worker grade it, and returns an
``Outcome`` with the results and the notes for the instructor. After
nbgrader's run, ``cnncourse.tools.grading.verdict`` runs the tests again in a
fresh plain-Python interpreter; a test counts only where both passed it.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cnncourse.settings import RUNS_FOLDER, data_root, retrain_forced
from cnncourse.tools import compare
from cnncourse.tools.grading import sandbox as sandboxing
from cnncourse.tools.grading.gradebook import CourseSettings, read_results, snapshot_gradebook
from cnncourse.tools.grading.links import copy_without_links
from cnncourse.tools.grading.uids import clean_up_uid, reserve_uids
from cnncourse.tools.grading.verdict import WRITTEN_FOLDER, verdict_pass
from cnncourse.tools.grading.worker import WorkerProcess

# What of source/NAME a grading folder never gets: the notebooks (the gradebook holds their cells), hidden
# files, and the instructor's own saved runs (running a notebook in source/ saves them there; nbgrader's
# autograde would copy them over the student's runs/, giving every student the instructor's weights).
SOURCE_SKIPPED = ("*.ipynb", ".ipynb_checkpoints", "__pycache__", ".*", RUNS_FOLDER)

EVENT_WORDS = {"tamper": "tampering", "timeout": "timeout", "dead_kernel": "dead kernel", "killed": "killed kernel",
               "output_limit": "output limit", "clear_output_ignored": "cleared output", "removed_links": "links",
               "error": "execution error", "exit": "sys.exit", "answer_error": "error in an answer",
               "test_result": "result in a test cell", "wrote_files": "files written by a test",
               "challenge_score": "challenge score"}


@dataclass(frozen=True)
class GradingOptions:
    """How submissions are graded (see ``cnncourse.tools.grading.grade.grade`` for each option).

    Attributes:
        timeout: seconds one cell may run.
        max_output_bytes: the most output one cell may produce.
        interrupt_grace: seconds a kernel has to stop after an interrupt before it is killed.
        mode: the sandbox mode (``cnncourse.tools.grading.sandbox.MODES``).
        workers: submissions graded at a time.
        submission_timeout: seconds one whole submission may take.
        uid_base: first user id for sandboxed kernels.
    """

    timeout: int
    max_output_bytes: int
    interrupt_grace: float
    mode: str
    workers: int
    submission_timeout: float
    uid_base: int

    def fingerprint(self, source_digest: str) -> str:
        """A short hash of what changes a grade (not the worker count): a submission graded under another is regraded.

        Example:
            >>> options = GradingOptions(60, 1000, 1.0, "off", 2, 600.0, 61000)
            >>> options.fingerprint("a") == GradingOptions(60, 1000, 1.0, "off", 8, 900.0, 61000).fingerprint("a")
            True
        """
        kept = {"timeout": self.timeout, "max_output_bytes": self.max_output_bytes, "mode": self.mode,
                "source": source_digest, "checks": "verdict-1"}  # graded before the verdict pass: grade again
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GradingRun:
    """One ``cnncourse grade`` run: which assignment of which course, how, and the release notebooks to compare with.

    Attributes:
        course: the course's nbgrader settings.
        assignment: the assignment's folder name.
        options: how to grade.
        references: the release version of each notebook, by name without ``.ipynb``.
        progress: whether to show a progress bar.
    """

    course: CourseSettings
    assignment: str
    options: GradingOptions
    references: dict[str, Any]
    progress: bool = True

    def submitted(self, student: str) -> Path:
        """The folder of one student's submission (only ever read)."""
        return self.course.folder("submitted", student, self.assignment)


@dataclass
class Outcome:
    """What grading one submission gave: results to merge, notes for the instructor, and where it happened."""

    student: str
    results: dict[str, Any] | None
    notes: list[str]
    seconds: float
    digest: str
    autograded: Path | None
    folder: Path
    failed: bool = False


class Slot:
    """One worker slot: its number (sandbox user id, GPU) and its grading worker process, started on first use."""

    def __init__(self, index: int, log: Path) -> None:
        self.index, self.log = index, log
        self.worker: WorkerProcess | None = None

    def grade(self, job: dict[str, Any], *, timeout: float) -> dict[str, Any] | None:
        """Have this slot's worker grade one prepared folder; None when it ran past ``timeout`` or died."""
        if self.worker is None:
            self.worker = WorkerProcess(log=self.log)
        return self.worker.grade(job, timeout=timeout)

    def close(self) -> None:
        """Stop the worker process, if one was started."""
        if self.worker is not None:
            self.worker.close()


class WorkerPool:
    """``workers`` slots and a temporary folder holding a snapshot of the gradebook and every grading folder.

    Use it as a context manager: the worker processes are stopped and the
    temporary folder is removed on the way out.
    """

    def __init__(self, course: CourseSettings, workers: int, *, mode: str = "off",
                 uid_base: int = sandboxing.DEFAULT_UID_BASE) -> None:
        if workers < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {workers}")
        self.course, self.workers, self.mode = course, workers, mode
        self.uid_base = uid_base  # the first id of the block this run holds (modes with their own user ids)
        self._uids = ExitStack()
        self.threads = max(1, (os.cpu_count() or 1) // workers)  # per kernel
        self.root = Path()
        self.template = Path()
        self._slots: queue.Queue[Slot] = queue.Queue()

    def __enter__(self) -> "WorkerPool":
        self.root = Path(tempfile.mkdtemp(prefix="cnncourse-grade-"))
        self.root.chmod(0o711)
        try:
            self.template = self.root / "gradebook-template.db"
            snapshot_gradebook(self.course.db_url, self.template)
            self.template.chmod(0o600)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        if sandboxing.own_user_ids(self.mode):
            try:  # a block of user ids no other grading run on this machine holds
                self.uid_base = self._uids.enter_context(reserve_uids(self.uid_base, self.workers))
            except BaseException:
                shutil.rmtree(self.root, ignore_errors=True)
                raise
        for index in range(self.workers):
            self._slots.put(Slot(index, self.root / f"worker{index}.log"))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            while not self._slots.empty():
                self._slots.get().close()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self._uids.close()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """A free slot for the duration of the ``with`` block (waits for one)."""
        slot = self._slots.get()
        try:
            yield slot
        finally:
            self._slots.put(slot)


def file_hashes(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (links not followed), by relative path.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "a.txt").write_text("hi")
        ...     file_hashes(folder)["a.txt"][:12]
        '8f434346648f'
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


def digest(hashes: dict[str, str]) -> str:
    """One SHA-256 for a whole ``file_hashes`` result (what the manifest compares)."""
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def gpus() -> list[str]:
    """The GPUs graders may hand out: ``CUDA_VISIBLE_DEVICES`` where set, else the NVIDIA driver's list."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    driver = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(driver.iterdir())))] if driver.is_dir() else []


def grade_submission(run: GradingRun, pool: WorkerPool, student: str, hashes_before: dict[str, str]) -> Outcome:
    """Grade one student's submission in its own grading folder (runs in a pool thread).

    Args:
        run: the grading run.
        pool: the worker pool (entered).
        student: whose submission.
        hashes_before: ``file_hashes`` of the submission before grading (checked again after).
    """
    with pool.slot() as slot:
        started = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix=f"slot{slot.index}-", dir=pool.root))
        notes = structure_notes(run.submitted(student), run.references)
        env = _prepare_folder(run, pool, student, folder, slot.index, notes)
        reply = slot.grade({"folder": str(folder), "assignment": run.assignment, "student": student, "env": env},
                           timeout=run.options.submission_timeout)
        tail = (reply or {}).get("error", "")
        if reply is None:
            notes.append(f"grading took longer than {run.options.submission_timeout:.0f} s (or the grading worker "
                         "died) and was stopped; the whole submission got 0")
        results = read_results(folder, run.assignment, student)
        autograded = folder / "autograded" / student / run.assignment
        if results is not None and reply is not None:  # the second, independent verdict (verdict.py)
            limit = min(run.options.submission_timeout, 2 * (time.perf_counter() - started) + run.options.timeout + 30)
            notes += verdict_pass(folder, run.assignment, student, results, timeout=run.options.timeout, limit=limit)
        if sandboxing.own_user_ids(run.options.mode):  # after both passes ran as the sandbox user
            left = clean_up_uid(pool.uid_base + slot.index)
            if left:
                notes.append("the kernel left behind, and the grader removed: " + ", ".join(left[:10])
                             + (f" and {len(left) - 10} more" if len(left) > 10 else ""))
        for notebook in run.references:
            if results is not None and not (autograded / f"{notebook}.ipynb").is_file():
                reason = tail or "nbgrader could not grade it"
                notes.append(f"{notebook}.ipynb could not be graded and counts 0 ({reason})")
                results["notebooks"].setdefault(notebook, {})["failed"] = True
        if results is None:
            notes.append(f"nbgrader could not grade the submission; it counts 0 ({tail or 'no result'})")
        notes += event_notes(folder / "events.jsonl")
        after = file_hashes(run.submitted(student))
        if after != hashes_before:
            changed = sorted(k for k in set(after) | set(hashes_before) if after.get(k) != hashes_before.get(k))
            notes.append(f"the submitted files changed while grading: {', '.join(changed)} (report this as a bug)")
        failed = results is None or any(nb.get("failed") for nb in results["notebooks"].values())
        return Outcome(student, results, list(dict.fromkeys(notes)), time.perf_counter() - started,
                       digest(hashes_before), autograded if autograded.is_dir() else None, folder, failed)


def _prepare_folder(run: GradingRun, pool: WorkerPool, student: str, folder: Path, slot: int,
                    notes: list[str]) -> dict[str, str]:
    """Lay out one grading folder (noting links left out); return the environment variables nbgrader needs there."""
    course, assignment, options = run.course, run.assignment, run.options
    folder.chmod(0o711)
    shutil.copyfile(pool.template, folder / "gradebook.db")
    (folder / "gradebook.db").chmod(0o600)
    shutil.copytree(course.root / "source" / assignment, folder / "source" / assignment, symlinks=True,
                    ignore=shutil.ignore_patterns(*SOURCE_SKIPPED))
    (folder / "source").chmod(0o700)
    skipped = copy_without_links(run.submitted(student), folder / "submitted" / student / assignment)
    if skipped:
        notes.append("links: the submission holds links or special files, which were neither followed nor copied: "
                     + ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""))
    (folder / "submitted").chmod(0o700)
    extra_env = {"NBGRADER_EXECUTION": "autograde", "CNNCOURSE_MAX_OUTPUT_BYTES": str(options.max_output_bytes)}
    if gpus():
        extra_env["CUDA_VISIBLE_DEVICES"] = gpus()[slot % len(gpus())]
    policy = sandboxing.make_policy(options.mode, run_dir=folder / "run", home=folder / "home", slot=slot,
                                    uid_base=pool.uid_base, hide=[course.root, folder.parent],
                                    expose_ro=[str(data_root())], env=extra_env, threads=pool.threads)
    sandboxing.prepare_folders(policy, traverse=[folder.parent, folder])
    policy_file = policy.save(folder / "sandbox.json")
    sandboxing.write_kernel_spec(folder / "share", policy_file)
    (folder / "nbgrader_config.py").write_text(worker_config(course, folder, options, policy), encoding="utf-8")
    (folder / "nbgrader_config.py").chmod(0o600)
    return {"JUPYTER_PATH": str(folder / "share"), "JUPYTER_RUNTIME_DIR": str(folder / "run"),
            "JUPYTER_DATA_DIR": str(folder / "share")}


def worker_config(course: CourseSettings, folder: Path, options: GradingOptions,
                  policy: sandboxing.SandboxPolicy) -> str:
    """The ``nbgrader_config.py`` of one grading folder: the course's config, then the safe grading steps."""
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
        f"c.SafeExecute.timeout = {options.timeout}",
        f"c.SafeExecute.max_output_bytes = {options.max_output_bytes}",
        f"c.SafeExecute.interrupt_grace = {options.interrupt_grace!r}",
        f"c.SafeExecute.report_file = {str(folder / 'events.jsonl')!r}",
        "c.RestoreCells.add_missing_cells = True",
    ]
    if options.mode == "user":
        lines.append(f"c.SafeExecute.sandbox_uid = {policy.uid}")
    if retrain_forced():  # the runs trained after the first test leave the folder; the verdict pass grades them
        lines.append(f"c.SafeExecute.written_to = {str(folder / WRITTEN_FOLDER)!r}")
    if sandboxing.uses_unix_sockets(options.mode):
        lines += ['c.KernelManager.transport = "ipc"', f"c.KernelManager.ip = {str(folder / 'run' / 'kernel')!r}"]
    return "\n".join(lines) + "\n"


def structure_notes(submitted: Path, references: dict[str, Any]) -> list[str]:
    """Notes on notebooks not submitted, and on cells deleted, duplicated, moved or edited (``compare``)."""
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


def event_notes(report_file: Path) -> list[str]:
    """Notes on what the safe execution reported (timeouts, tampering, dead kernels, ...), one per event."""
    from cnncourse.tools.grading.safe_execute import read_report

    notes = []
    for notebook, events in read_report(report_file).items():
        for event in events:
            if event["kind"] == "clear_output_ignored":
                continue
            where = f" ({event['grade_id']})" if event.get("grade_id") else ""
            label = EVENT_WORDS.get(event["kind"], event["kind"])
            notes.append(f"{notebook}.ipynb{where}, {label}: {event['message']}")
    return notes
