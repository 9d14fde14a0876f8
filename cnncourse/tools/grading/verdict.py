"""The verdict pass: every test of a submission run again, in a fresh plain-Python interpreter, and both must agree.

Scope: what ``cnncourse.tools.grading.submission`` does after nbgrader's
autograde of one submission. ``build_job`` takes the cells in the order of the
autograded notebook, with the source of every locked cell (tests, set-up)
read from the grading folder's gradebook, never from the submission;
``run_job`` runs them inside the same sandbox as the kernel, in
``cnncourse.tools.grading.verdict_runner`` (no IPython, no ipykernel, no
jupyter_client, tests compiled before any student code runs, a strict tamper
guard before each test); ``apply_verdicts`` then keeps a test cell's points
only where nbgrader's run AND the fresh interpreter passed it. Where they
disagree the cell gets 0 in the results and the autograded notebook, with a
note for the "needs attention" list. Each test cell of the autograded
notebook also gets the grader's verdict in its metadata (``cnncourse``), from
which the feedback is built (``cnncourse.tools.feedback``).

A challenge cell (``cnncourse.tools.grading.challenge``) is scored on a scale:
the runner evaluates its last expression itself and reports the points, and
the cell gets the lower of nbgrader's points and the runner's, so a kernel
made to report more than the fresh interpreter measured gains nothing.

With ``CNNCOURSE_RETRAIN=1`` (sandbox off, trusted submissions) nbgrader's
pass trains every training task again; the verdict pass then loads the runs
that pass saved (those saved once the tests had started are kept aside by
``SafeExecute.written_to``, never in the autograded folder) instead of
training them a second time: the same weights are graded twice (a second
training would double the cost and, on a GPU, could land on the other side
of an accuracy bar).

Guarantee and limit: a submission that rewires the notebook machinery
(IPython's transformers, event callbacks, display hook or compiler,
ipykernel's messaging, the in-kernel guard) changes what nbgrader sees, not
what the fresh interpreter sees, so it scores 0 with a note. Code written
against the verdict runner itself can forge its reports (it runs in that
process); to get points it must fool both passes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from cnncourse.settings import RETRAIN_VARIABLE, RUNS_FOLDER, retrain_forced
from cnncourse.tools.grading import sandbox as sandboxing
from cnncourse.tools.grading.challenge import facts_from_value, is_challenge
from cnncourse.tools.grading.links import copy_without_links

METADATA_KEY = "cnncourse"  # cell metadata the grader writes (and strips from submissions)
WRITTEN_FOLDER = "written"  # in a grading folder: what the kernel wrote once tests had started (CNNCOURSE_RETRAIN)
MAX_CHANNEL_BYTES = 1 << 20


@dataclass
class Verdicts:
    """What the verdict runner reported for one notebook.

    Attributes:
        started: the runner compiled the tests and sent ``ready`` (before any student code ran).
        finished: it got through every cell.
        tests: per test cell (grade_id), ``{"passed", "message", "where", "during"}``, and for a challenge
            cell that passed, ``"score"`` (its points) and ``"facts"`` (for the leaderboard).
        forged: test cells reported more than once (only forged lines can do that).
        problem: why the runner did not finish, in words ("" when it did).
        seconds: how long it ran.
    """

    started: bool = False
    finished: bool = False
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    forged: list[str] = field(default_factory=list)
    problem: str = ""
    seconds: float = 0.0


def build_job(notebook: Any, gradebook_db: Path, assignment: str, name: str, *, timeout: float) -> dict[str, Any]:
    """The runner's job for one autograded notebook: its code cells in order, locked ones from the gradebook.

    Args:
        notebook: the autograded notebook (``nbformat`` node).
        gradebook_db: the grading folder's ``gradebook.db``.
        assignment: the assignment's name.
        name: the notebook's name without ``.ipynb``.
        timeout: seconds one cell may run.

    Returns:
        ``{"timeout", "cells": [{"kind": "test"|"code", "grade_id", "source"}]}``; test cells are the
        gradebook's autograded code cells, and carry their ``points`` and whether they are ``scaled``
        (challenge cells, ``cnncourse.tools.grading.challenge.is_challenge``).
    """
    from IPython.core.inputtransformer2 import TransformerManager
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook_db}") as gb:
        source = gb.find_notebook(name, assignment)
        locked = {cell.name: cell.source for cell in source.source_cells if cell.locked}
        tests = {cell.name for cell in source.grade_cells if cell.cell_type == "code"} - \
            {cell.name for cell in source.solution_cells}
        points = {cell.name: float(cell.max_score) for cell in source.grade_cells}
    transformer = TransformerManager()
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        text = locked[grade_id] if grade_id in locked else _joined(cell.source)
        try:
            text = transformer.transform_cell(text)  # %magics become get_ipython() calls, as in a kernel
        except Exception:  # noqa: BLE001  (what does not transform runs as written, and fails as it would)
            pass
        kind = "test" if grade_id in tests else "code"
        entry = {"kind": kind, "grade_id": grade_id if kind == "test" else None, "source": text}
        if kind == "test":
            entry.update(points=points[grade_id], scaled=is_challenge(grade_id))
        cells.append(entry)
    return {"timeout": timeout, "cells": cells}


def run_job(job: dict[str, Any], policy_file: Path, workdir: Path, *, limit: float,
            env: dict[str, str] | None = None) -> Verdicts:
    """Run ``job`` in the sandbox of ``policy_file``, in ``workdir``, for at most ``limit`` seconds.

    The job file is written beside ``workdir`` (the runner deletes it once
    read); the nonce goes through stdin; the reports come back on stdout.
    ``env`` changes variables of the policy's environment.
    """
    policy = sandboxing.SandboxPolicy.load(policy_file)
    job_file = workdir.parent / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    job_file.chmod(0o600)
    nonce = secrets.token_hex(16)
    command = verdict_command(policy, policy_file, job_file)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, env={**sandboxing.kernel_environment(policy), **(env or {})},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=_drain, args=(process.stdout, out, MAX_CHANNEL_BYTES), daemon=True),
               threading.Thread(target=_drain, args=(process.stderr, err, 20_000), daemon=True)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.stdin.write(nonce.encode() + b"\n")
        process.stdin.close()
    except BrokenPipeError:
        pass
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
    _kill(process, policy)
    for reader in readers:
        reader.join(timeout=5)
    verdicts = parse_reports(b"".join(out).decode("utf-8", "replace"), nonce)
    verdicts.seconds = time.perf_counter() - started
    if timed_out:
        verdicts.problem = f"it ran past its {limit:.0f} s limit and was stopped"
    elif not verdicts.finished:
        tail = b"".join(err).decode("utf-8", "replace").strip().splitlines()[-1:] if not verdicts.started else []
        verdicts.problem = f"it stopped early (exit status {process.returncode})" + \
            (f": {tail[0][-300:]}" if tail else "")
    if job_file.exists():
        job_file.unlink()
    return verdicts


def verdict_command(policy: sandboxing.SandboxPolicy, policy_file: Path, job_file: Path) -> list[str]:
    """The kernel's sandbox command (``sandbox.kernel_command``), running ``kernel verdict`` instead of ``start``.

    Like the kernel, the runner starts with the working folder (the submission's
    files) off ``sys.path`` (``sandbox.SAFE_PATH``) until it has set itself up.
    """
    command = sandboxing.kernel_command(policy, str(policy_file), str(job_file), [])
    at = command.index("cnncourse.tools.grading.kernel")
    if command[at - 1] != "-m" or command[at + 1] != "start":
        raise RuntimeError(f"unexpected kernel command {command}: cnncourse.tools.grading.verdict needs "
                           "'python -m cnncourse.tools.grading.kernel start ...' in it")
    command[at + 1] = "verdict"  # kernel_command already keeps the working folder off sys.path (SAFE_PATH)
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv else command


def parse_reports(text: str, nonce: str) -> Verdicts:
    """The runner's report lines with the right nonce, as ``Verdicts`` (example: the tests of this module).

    Example:
        >>> lines = ['{"nonce": "n", "ready": true}', '{"nonce": "x", "test": "t", "passed": true}',
        ...          '{"nonce": "n", "test": "t", "passed": false, "message": "AssertionError: no"}']
        >>> v = parse_reports("\\n".join(lines), "n")
        >>> v.started, v.finished, v.tests["t"]["passed"]
        (True, False, False)
    """
    verdicts = Verdicts()
    for line in text.splitlines():
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if not isinstance(report, dict) or report.get("nonce") != nonce:
            continue
        if report.get("ready"):
            verdicts.started = True
        elif report.get("done"):
            verdicts.finished = True
        elif isinstance(report.get("test"), str):
            test = report["test"]
            if test in verdicts.tests:
                verdicts.forged.append(test)
            verdicts.tests[test] = {"passed": report.get("passed") is True, "message": str(report.get("message", "")),
                                    "where": str(report.get("where", "")), "during": list(report.get("during", []))}
            score = report.get("score")
            if type(score) in (int, float) and score >= 0:  # a challenge cell's points (JSON: never NaN here)
                verdicts.tests[test].update(score=float(score), facts=facts_from_value(report.get("facts")))
    for test in verdicts.forged:
        verdicts.tests[test]["passed"] = False
    return verdicts


def apply_verdicts(notebook: Any, name: str, grades: dict[str, tuple], verdicts: Verdicts) -> list[str]:
    """Keep a test's points only where both passes passed it; mark the notebook; return the notes.

    A challenge cell that both passed gets the lower of nbgrader's points and
    the runner's (``"score"``), with a note where nbgrader's were higher; its
    verdict metadata also holds the runner's points and facts (the leaderboard's).

    Args:
        notebook: the autograded notebook, changed in place (a note in overruled cells, verdict metadata).
        name: the notebook's name without ``.ipynb``.
        grades: nbgrader's ``{grade_id: (auto_score, needs_manual_grade)}`` for it, changed in place.
        verdicts: what the runner reported.
    """
    notes = []
    if not verdicts.started:
        notes.append(f"{name}.ipynb, verdict pass: the fresh interpreter did not start ({verdicts.problem}); "
                     "no test of this notebook counts (report this as a bug; regrade with --force)")
    for test in dict.fromkeys(verdicts.forged):
        notes.append(f"{name}.ipynb ({test}), verdict pass: the test was reported more than once: the submission "
                     "may forge the grader's reports; it counts 0")
    for cell in notebook.cells:
        cell.metadata.pop(METADATA_KEY, None)  # never trust what a submission put there
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or grade_id not in grades or not cell.metadata["nbgrader"].get("grade") \
                or cell.metadata["nbgrader"].get("solution"):
            continue
        score = grades[grade_id][0]
        verdict = verdicts.tests.get(grade_id)
        passed = bool(verdict and verdict["passed"])
        scaled = is_challenge(grade_id)
        if scaled and passed and "score" not in verdict:
            passed = False  # a challenge cell the runner could not score does not pass
        if scaled and passed:
            ran = not any(o.get("output_type") == "error" for o in cell.outputs)
            kernel, fresh = float(score or 0), min(verdict["score"], float(cell.metadata["nbgrader"].get("points", 0)))
            if kernel > fresh:
                grades[grade_id] = (fresh, False)
                notes.append(f"{name}.ipynb ({grade_id}), verdict pass: the kernel reported {kernel:g} points, the "
                             f"fresh interpreter measured {fresh:g}; the lower counts (the submission may tamper "
                             "with the notebook machinery, or the measurement is not deterministic)")
            cell.metadata[METADATA_KEY] = {"passed": ran, "message": "", "score": min(kernel, fresh),
                                           "facts": dict(verdict.get("facts", {})) if ran else {}}
            continue
        if score and not passed:
            reason = _reason(verdict, verdicts)
            grades[grade_id] = (0.0, False)
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="VerdictMismatch", evalue=f"the kernel reported this test as passed, the fresh "
                f"interpreter failed it ({reason}); it counts 0", traceback=[]))
            if verdicts.started and grade_id not in verdicts.forged:
                notes.append(f"{name}.ipynb ({grade_id}), verdict pass: the kernel reported {grade_id} as passed, the "
                             f"fresh interpreter failed it ({reason}): the submission may tamper with the notebook "
                             "machinery; it counts 0")
        visible = verdict["message"] if verdict and not verdict["passed"] and verdict["where"] == "visible" else ""
        cell.metadata[METADATA_KEY] = {"passed": bool(score) and passed, "message": visible}
    return notes


def verdict_pass(folder: Path, assignment: str, student: str, results: dict[str, Any], *, timeout: float,
                 limit: float) -> list[str]:
    """Run the verdict pass on every autograded notebook of one grading folder; overrule ``results``; the notes.

    Args:
        folder: the grading folder (``submission.grade_submission``'s), after nbgrader's autograde.
        assignment: the assignment.
        student: the student.
        results: ``gradebook.read_results`` of the folder, changed in place.
        timeout: seconds one cell may run.
        limit: seconds the whole pass may take per notebook.
    """
    autograded = folder / "autograded" / student / assignment
    notes: list[str] = []
    for name, found in sorted(results["notebooks"].items()):
        path = autograded / f"{name}.ipynb"
        if found.get("failed") or not path.is_file():
            continue
        notebook = nbformat.read(path, as_version=4)
        job = build_job(notebook, folder / "gradebook.db", assignment, name, timeout=timeout)
        workdir = _workdir(folder, assignment, student)
        env = {}
        if retrain_forced():  # grade the runs nbgrader's pass has just trained, rather than train them all again
            shutil.rmtree(workdir / RUNS_FOLDER, ignore_errors=True)
            for trained in (autograded / RUNS_FOLDER, folder / WRITTEN_FOLDER / RUNS_FOLDER):  # before, after the 1st test
                copy_without_links(trained, workdir / RUNS_FOLDER)
            env[RETRAIN_VARIABLE] = "0"
        try:
            verdicts = run_job(job, folder / "sandbox.json", workdir, limit=limit, env=env)
        finally:
            shutil.rmtree(workdir.parent, ignore_errors=True)
        notes += apply_verdicts(notebook, name, found["grades"], verdicts)
        nbformat.write(notebook, path)
    return notes


def _workdir(folder: Path, assignment: str, student: str) -> Path:
    """A fresh working folder: the submission's files, then the assignment's (never the autograded folder)."""
    root = folder / "verdict"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o711)
    root.chmod(0o711)
    work = root / "work"
    for origin in (folder / "submitted" / student / assignment, folder / "source" / assignment):
        if origin.is_dir():
            shutil.copytree(origin, work, symlinks=False, ignore_dangling_symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    work.mkdir(exist_ok=True)
    return work


def _reason(verdict: dict[str, Any] | None, verdicts: Verdicts) -> str:
    if verdict is None:
        return f"it never got to this test: {verdicts.problem or 'no report'}"
    if verdict["during"]:
        return "while it ran, " + "; ".join(verdict["during"][:2])
    return f"it raised {verdict['message'].split(':')[0] or 'an error'}"


def _drain(stream: Any, chunks: list[bytes], cap: int) -> None:
    """Read ``stream`` to its end, keeping the first ``cap`` bytes."""
    kept = 0
    while block := stream.read(65536):
        if kept < cap:
            chunks.append(block[: cap - kept])
            kept += len(chunks[-1])


def _kill(process: subprocess.Popen, policy: sandboxing.SandboxPolicy) -> None:
    """Stop the runner and whatever it started (its process group; in mode user, every process of its user)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
    if policy.mode == "user" and policy.uid is not None:
        sandboxing.kill_leftovers(policy.uid)


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text
