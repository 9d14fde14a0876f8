"""Grading one submission as a job that ships as bytes: pack (instructor), run (any worker), apply (instructor).

Scope: what lets ``cnncourse grade`` grade on machines that never see the
course directory (``cnncourse.tools.grading.cluster`` sends the jobs to a Dask
cluster; nothing here imports Dask).

- ``pack`` (instructor side) reads everything one grading needs into a
  ``Job``: the submission's files, the assignment's non-notebook source files,
  the text of the course's ``nbgrader_config.py``, the release notebooks (for
  the structure notes), the settings, the file hashes, a gradebook template
  holding this assignment only (``gradebook_template``: no student, no other
  assignment) and the instructor's versions of cnncourse, nbgrader and torch.
- ``run`` (worker side) refuses a job whose versions differ from the worker's,
  or whose sandbox would be ``off`` when the instructor did not ask for ``off``;
  otherwise it lays the files out as a small course in the worker's own
  temporary folder and grades it exactly as the local pool does
  (``cnncourse.tools.grading.submission.grade_submission``: the same grading
  folder, sandboxed kernel and safe steps, on a grading worker process kept
  warm between jobs). It returns a ``JobResult``: the results, the autograded
  files, the events and the log, as bytes and plain values.
- ``apply`` (instructor side) merges a result into the course gradebook and
  ``autograded/`` through ``merge_results``: the caller's single writer.
"""

from __future__ import annotations

import atexit
import fnmatch
import importlib.metadata
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cnncourse
from cnncourse.tools.grading import sandbox as sandboxing
from cnncourse.tools.grading.gradebook import CourseSettings, merge_results, snapshot_gradebook
from cnncourse.tools.grading.submission import (SOURCE_SKIPPED, GradingOptions, GradingRun, Outcome, Slot, digest,
                                                file_hashes, grade_submission)
from cnncourse.tools.grading.uids import reserve_uids

VERSIONED = ("cnncourse", "nbgrader", "torch")  # a worker with another version of any of these refuses the job
SLOT_VARIABLE = "CNNCOURSE_GRADING_SLOT"  # a worker's slot number (sandbox user id, GPU), where its launcher sets it


def versions() -> dict[str, str]:
    """This machine's versions of what decides a grade (cnncourse, nbgrader, torch), without importing torch.

    Example:
        >>> sorted(versions())
        ['cnncourse', 'nbgrader', 'torch']
    """
    found = {"cnncourse": cnncourse.__version__}
    for name in VERSIONED[1:]:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass(frozen=True)
class Job:
    """One submission's grading, as plain values and bytes (see the module docstring).

    Attributes:
        assignment: the assignment's folder name.
        student: whose submission.
        submission: the submitted files, by relative path (links are not shipped).
        source: the assignment's non-notebook source files, by relative path.
        config: the text of the course's ``nbgrader_config.py``.
        course_id: nbgrader's course id.
        references: the release notebooks (JSON bytes), by name without ``.ipynb``.
        options: how to grade; ``options.mode`` is what the instructor asked for ("auto" or a sandbox mode).
        hashes: ``file_hashes`` of the submission when it was packed.
        gradebook: the bytes of ``gradebook_template``.
        versions: the instructor's ``versions()``.
    """

    assignment: str
    student: str
    submission: dict[str, bytes]
    source: dict[str, bytes]
    config: str
    course_id: str
    references: dict[str, bytes]
    options: GradingOptions
    hashes: dict[str, str]
    gradebook: bytes
    versions: dict[str, str]

    @property
    def size(self) -> int:
        """Bytes of files carried (submission, source, config, references, gradebook)."""
        return (sum(map(len, self.submission.values())) + sum(map(len, self.source.values())) + len(self.config)
                + sum(map(len, self.references.values())) + len(self.gradebook))


@dataclass
class JobResult:
    """What a worker sends back for one job.

    Attributes:
        student: whose submission.
        status: "graded", or "refused" (versions or sandbox; nothing was run and nothing must be merged).
        results: ``read_results`` of the grading folder's gradebook (None if nbgrader wrote nothing).
        notes: the notes for the instructor (the refusal's reason when refused).
        failed: whether a notebook could not be graded.
        autograded: the autograded files by relative path (notebooks with outputs, the timestamp).
        events: the safe execution's report (``events.jsonl``) bytes.
        log: nbgrader's log of this job.
        seconds: time spent on the worker.
        worker: the worker's host name and process id.
        mode: the sandbox mode the worker used.
    """

    student: str
    status: str
    results: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    failed: bool = False
    autograded: dict[str, bytes] = field(default_factory=dict)
    events: bytes = b""
    log: bytes = b""
    seconds: float = 0.0
    worker: str = ""
    mode: str = ""

    @property
    def refused(self) -> bool:
        return self.status == "refused"


# ---------------------------------------------------------------------------
# pack (instructor side)


def gradebook_template(course: CourseSettings, assignment: str) -> bytes:
    """A copy of the course gradebook with ``assignment`` only: no students, no submissions, no other assignment.

    What a worker's grading folder starts from (nbgrader's autograde needs the
    assignment's source cells and checksums); made once per run, shipped with
    every job. ``VACUUM`` leaves no deleted page with another student's data.
    """
    import sqlite3
    import warnings

    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="cnncourse-template-") as folder:
        path = Path(folder) / "gradebook.db"
        snapshot_gradebook(course.db_url, path)
        with warnings.catch_warnings(), Gradebook(f"sqlite:///{path}", course.course_id) as gb:
            warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy 2 "not in session" warnings, harmless
            for student in [s.id for s in gb.students]:
                gb.remove_student(student)
            for other in [a.name for a in gb.assignments if a.name != assignment]:
                gb.remove_assignment(other)
        with sqlite3.connect(path) as db:
            db.execute("VACUUM")
        db.close()
        return path.read_bytes()


def _read_files(folder: Path, *, skip: tuple[str, ...] = (".*", "__pycache__")) -> dict[str, bytes]:
    """Every plain file under ``folder`` by relative path, except links and any whose path has a part matching ``skip``."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in skip):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files


def pack(run: GradingRun, student: str, hashes: dict[str, str], *, template: bytes) -> Job:
    """Read one submission and what grading it needs into a ``Job`` (see the module docstring).

    Args:
        run: the grading run; ``run.options.mode`` is the sandbox asked for ("auto" or a mode).
        student: whose submission.
        hashes: ``file_hashes`` of the submission (what the manifest records).
        template: ``gradebook_template(run.course, run.assignment)``.
    """
    course = run.course
    submitted = run.submitted(student)
    files = {}
    for path in sorted(submitted.rglob("*")):  # as the local pool copies it: hidden files too, links not shipped
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(submitted).as_posix()] = path.read_bytes()
    references = {name: json.dumps(nb).encode() for name, nb in run.references.items()}
    return Job(assignment=run.assignment, student=student, submission=files,
               source=_read_files(course.root / "source" / run.assignment, skip=SOURCE_SKIPPED),
               config=course.config_file.read_text(encoding="utf-8"), course_id=course.course_id,
               references=references, options=run.options, hashes=dict(hashes), gradebook=template,
               versions=versions())


# ---------------------------------------------------------------------------
# run (worker side)


class _WorkerSide:
    """This process's grading worker (``cnncourse.tools.grading.worker``), kept warm between jobs, one job at a time."""

    lock = threading.Lock()
    slot: Slot | None = None
    logs: Path | None = None

    @classmethod
    @contextmanager
    def claim(cls, index: int) -> Iterator[Slot]:
        with cls.lock:
            if cls.slot is None or cls.slot.index != index:
                if cls.slot is not None:
                    cls.slot.close()
                cls.logs = Path(tempfile.mkdtemp(prefix="cnncourse-worker-"))
                cls.slot = Slot(index, cls.logs / "worker.log")
                atexit.register(cls.close)
            yield cls.slot

    @classmethod
    def close(cls) -> None:
        if cls.slot is not None:
            cls.slot.close()
            cls.slot = None
        if cls.logs is not None:
            shutil.rmtree(cls.logs, ignore_errors=True)
            cls.logs = None


def release() -> None:
    """Stop this process's grading worker, if one is running (the client calls it on every worker at the end)."""
    _WorkerSide.close()


class _OneSlotPool:
    """What ``grade_submission`` needs of a pool, for one job on this worker: its folder, gradebook, slot."""

    def __init__(self, root: Path, template: Path, slot_index: int, uid_base: int) -> None:
        self.root, self.template, self.index = root, template, slot_index
        self.uid_base = uid_base  # sandbox user id = uid_base + slot (workers sharing a machine need other slots)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.threads = max(1, cores)  # one job at a time per worker: the kernel may use every core it was given

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        with _WorkerSide.claim(self.index) as slot:
            yield slot


@contextmanager
def _job_uids(mode: str, base: int, slot: int) -> Iterator[int]:
    """The pool's uid base for one job, whose sandbox user (base + slot) is the first id of a block it holds
    (``reserve_uids``, as a local run): no other run on the machine shares the id, nor kills its kernel in clean-up."""
    if not sandboxing.own_user_ids(mode):
        yield base
        return
    with reserve_uids(base, 1) as start:
        yield start - slot


def worker_slot() -> int:
    """This worker's slot number: ``$CNNCOURSE_GRADING_SLOT``, else the Dask worker's name if it is a number,
    else one drawn from the process id (0 to 999).

    The slot picks the sandbox user id (``full`` and ``user`` modes) and, on a
    machine with several GPUs visible, the GPU; workers sharing a machine need
    different slots (``LocalCluster`` names its workers 0, 1, ...; elsewhere set
    the variable to be sure, and pin one GPU per worker).
    """
    if os.environ.get(SLOT_VARIABLE, "").isdigit():
        return int(os.environ[SLOT_VARIABLE])
    try:
        from distributed import get_worker  # only where the job runs on a Dask worker

        name = str(get_worker().name)
        if name.isdigit():
            return int(name)
    except (ImportError, ValueError):
        pass
    return os.getpid() % 1000


def _refusal(job: Job, mode_wanted: str) -> tuple[str, str]:
    """(reason, mode): why this worker must not run ``job`` ("" if it may), and the sandbox mode it would use."""
    here = versions()
    if here != job.versions:
        differ = [name for name in VERSIONED if here.get(name) != job.versions.get(name)]
        both = "; ".join(f"{name} {here.get(name)} on the worker, {job.versions.get(name)} on the instructor's "
                         "machine" for name in differ)
        return (f"worker {socket.gethostname()} refused the job: its versions differ from the instructor's "
                f"({both}); install the same versions on both (the course environment)"), ""
    try:
        mode = sandboxing.choose_mode(mode_wanted)
    except ValueError as err:
        return f"worker {socket.gethostname()} refused the job: {err}", ""
    if mode == "off" and mode_wanted != "off":
        return (f"worker {socket.gethostname()} refused the job: its strongest sandbox is 'off' (no isolation; "
                f"{sandboxing.describe_mode('off')}); give the workers a sandbox (root, or unprivileged user "
                "namespaces), or insist with --sandbox off", mode)
    return "", mode


def run(job: Job) -> JobResult:
    """Grade one packed submission on this machine, in its own temporary folder (see the module docstring).

    Example::

        result = run(pack(grading_run, "alice", hashes, template=gradebook_template(course, "00_fixture")))
        result.status, result.results["notebooks"]["fixture"]["grades"]
        # ('graded', {'test_double': (40.0, False), ...})
    """
    started = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    reason, mode = _refusal(job, job.options.mode)
    if reason:
        return JobResult(job.student, "refused", notes=[reason], worker=where, mode=mode)
    root = Path(tempfile.mkdtemp(prefix="cnncourse-job-"))  # the worker's TMPDIR: hidden from every kernel
    try:
        root.chmod(0o711)
        course_root = root / "course"
        _write_files(course_root / "source" / job.assignment, job.source)
        _write_files(course_root / "submitted" / job.student / job.assignment, job.submission)
        (course_root / "nbgrader_config.py").write_text(job.config, encoding="utf-8")
        (course_root / "gradebook.db").write_bytes(job.gradebook)
        course = CourseSettings(course_root, f"sqlite:///{course_root / 'gradebook.db'}", job.course_id,
                                course_root / "nbgrader_config.py", job.options.timeout)
        import nbformat

        references = {name: nbformat.from_dict(json.loads(data)) for name, data in job.references.items()}
        grading = GradingRun(course, job.assignment, replace(job.options, mode=mode), references, progress=False)
        grading_root = root / "grading"
        grading_root.mkdir(mode=0o711)
        slot = worker_slot()
        with _job_uids(mode, grading.options.uid_base, slot) as uid_base:
            pool = _OneSlotPool(grading_root, course_root / "gradebook.db", slot, uid_base)
            outcome = grade_submission(grading, pool, job.student, file_hashes(grading.submitted(job.student)))  # type: ignore[arg-type]
        autograded = _read_files(outcome.autograded) if outcome.autograded is not None else {}
        events = outcome.folder / "events.jsonl"
        log = outcome.folder / "nbgrader.log"
        return JobResult(job.student, "graded", results=outcome.results, notes=outcome.notes, failed=outcome.failed,
                         autograded=autograded, events=events.read_bytes() if events.is_file() else b"",
                         log=log.read_bytes() if log.is_file() else b"", seconds=time.perf_counter() - started,
                         worker=where, mode=mode)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        target = (folder / name).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise ValueError(f"a job's file name leaves its folder: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# ---------------------------------------------------------------------------
# apply (instructor side)


def apply(run: GradingRun, job: Job, result: JobResult) -> Outcome:
    """Merge one worker's result into the course (gradebook and ``autograded/``); the ``Outcome`` for the report.

    A refused job changes nothing (its outcome is marked failed, with the
    reason as note, and must not be recorded in the manifest: a later run
    grades it again). Call it from one thread only: the gradebook's single writer.
    """
    notes = list(result.notes)
    after = file_hashes(run.submitted(job.student))
    if not result.refused and after != job.hashes:
        changed = sorted(k for k in set(after) | set(job.hashes) if after.get(k) != job.hashes.get(k))
        notes.append(f"the submitted files changed while grading: {', '.join(changed)} (grade again to grade "
                     "what is there now)")
    outcome = Outcome(job.student, result.results, list(dict.fromkeys(notes)), result.seconds, digest(job.hashes),
                      None, Path(), failed=result.failed or result.refused)
    if result.refused:
        return outcome
    with tempfile.TemporaryDirectory(prefix="cnncourse-apply-") as folder:
        autograded = Path(folder) / "autograded"
        if result.autograded:
            _write_files(autograded, result.autograded)
        merge_results(run.course, run.assignment, job.student, result.results,
                      autograded=autograded if result.autograded else None)
    return outcome
