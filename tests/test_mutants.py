"""Held-out wrong answers: plausible student bugs that the hidden tests must catch.

Scope: for every assignment, ``tests/fixtures/mutants/<assignment>.json`` lists
mutants: one answer cell of the instructor notebook with one piece of its
solution replaced by a bug a student plausibly writes, and the test cells that
must fail because of it. Each entry is

    {"cell": "<answer grade_id>", "find": "<text in the solution>", "replace": "<buggy text>",
     "why": "<the bug, in words>", "fails": ["<test grade_id>", ...]}

An answer cell that cannot be mutated usefully (a training call whose result is
checked through the saved run) is listed as ``{"cell": "<grade_id>", "exempt": "<why>"}``.

How it runs: one kernel per assignment, in a copy of the assignment folder
(budget ``smoke``, as under ``nbgrader autograde``: training cells load the runs
the instructor notebook saved in source/ when nbval ran it first in ``make
test``, and train where there are none). The instructor notebook is executed in order up to the last
test cell any mutant names, and every cell must run without error (the
instructor version is right). Then, for each mutant, the mutated answer cell is
executed, each listed test cell must raise, and the original answer cell is
executed again, so the next mutant starts from the right answers.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from cnncourse.settings import NBGRADER_VARIABLE

from pipeline_helpers import REPO, all_assignments

pytestmark = pytest.mark.slow

MUTANTS = Path(__file__).resolve().parent / "fixtures" / "mutants"
CELL_TIMEOUT = 600  # seconds; the same order as the course's per-cell limit in smoke


@dataclass(frozen=True)
class Mutant:
    """One plausible bug in one answer cell, and the test cells that must catch it."""

    assignment: str
    cell: str
    find: str
    replace: str
    why: str
    fails: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.assignment}:{self.cell}: {self.why}"


def read_mutants(assignment: str) -> tuple[list[Mutant], dict[str, str]]:
    """The mutants of ``assignment`` and its exempt cells ({grade_id: why}), from its JSON file."""
    path = MUTANTS / f"{assignment}.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    mutants, exempt = [], {}
    for number, entry in enumerate(entries):
        if "exempt" in entry:
            exempt[entry["cell"]] = entry["exempt"]
            continue
        missing = {"cell", "find", "replace", "why", "fails"} - set(entry)
        assert not missing, f"{path.name}, entry {number}: missing keys {sorted(missing)}"
        assert entry["fails"], f"{path.name}, entry {number}: 'fails' must name at least one test cell"
        mutants.append(Mutant(assignment, entry["cell"], entry["find"], entry["replace"], entry["why"],
                              tuple(entry["fails"])))
    return mutants, exempt


def assignments_with_mutants() -> list[str]:
    return sorted(p.stem for p in MUTANTS.glob("*.json"))


def notebook_of(assignment: str) -> Path:
    for candidate in all_assignments():
        if candidate.name == assignment:
            notebooks = candidate.notebooks()
            assert len(notebooks) == 1, f"{assignment}: expected one notebook, found {notebooks}"
            return notebooks[0]
    raise AssertionError(f"{MUTANTS / (assignment + '.json')} names no assignment in source/ or the fixture")


def grade_ids(notebook: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")}


def answer_cells(notebook: nbformat.NotebookNode) -> list[str]:
    return [gid for gid, c in grade_ids(notebook).items()
            if c.metadata["nbgrader"].get("solution") and not c.metadata["nbgrader"].get("grade")]


class Kernel:
    """A Python kernel that runs code and says whether it raised (and what)."""

    def __init__(self, cwd: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        env = {**os.environ, "CNNCOURSE_BUDGET": "smoke", "MPLBACKEND": "Agg", NBGRADER_VARIABLE: "autograde"}
        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)

    def run(self, code: str) -> str | None:
        """Run ``code``; None when it ran cleanly, else "ErrorName: message"."""
        errors: list[str] = []

        def on_output(message: dict) -> None:
            if message["msg_type"] == "error":
                errors.append(f"{message['content']['ename']}: {message['content']['evalue']}")

        try:
            reply = self.client.execute_interactive(code, timeout=CELL_TIMEOUT, output_hook=on_output,
                                                    allow_stdin=False)
        except (TimeoutError, queue.Empty):
            return f"TimeoutError: the cell ran longer than {CELL_TIMEOUT} s"
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            return errors[0] if errors else f"{content.get('ename')}: {content.get('evalue')}"
        return None

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@dataclass
class Session:
    """An assignment's instructor notebook executed up to the last test cell the mutants need."""

    kernel: Kernel
    cells: dict[str, nbformat.NotebookNode]


_SESSIONS: dict[str, Session] = {}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory):
    yield _SESSIONS
    for session in _SESSIONS.values():
        session.kernel.stop()
    _SESSIONS.clear()


def session_for(assignment: str, sessions: dict[str, Session], tmp_path_factory) -> Session:
    if assignment in sessions:
        return sessions[assignment]
    for other in list(sessions):  # one kernel at a time: the mutants are collected assignment by assignment
        sessions.pop(other).kernel.stop()
    path = notebook_of(assignment)
    folder = tmp_path_factory.mktemp(f"mutants-{assignment}") / assignment
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebook = nbformat.read(path, as_version=4)
    mutants, _ = read_mutants(assignment)
    needed = {test for mutant in mutants for test in mutant.fails}
    kernel = Kernel(folder)
    session = Session(kernel, grade_ids(notebook))
    sessions[assignment] = session
    for index, cell in enumerate(notebook.cells):
        if not needed:
            break
        if cell.cell_type != "code":
            continue
        error = kernel.run(cell.source)
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        assert error is None, f"{assignment}: the instructor notebook's {gid} raised {error}"
        needed.discard(gid)
    assert not needed, f"{assignment}: the mutants name test cells the notebook does not have: {sorted(needed)}"
    return session


MUTANT_PARAMS = [pytest.param(m, id=f"{m.assignment}-{m.cell}-{i}")
                 for a in assignments_with_mutants() for i, m in enumerate(read_mutants(a)[0])]


@pytest.mark.parametrize("mutant", MUTANT_PARAMS)
def test_every_plausible_bug_fails_a_test(mutant: Mutant, sessions, tmp_path_factory) -> None:
    session = session_for(mutant.assignment, sessions, tmp_path_factory)
    assert mutant.cell in session.cells, f"{mutant.label}: the notebook has no cell {mutant.cell!r}"
    original = session.cells[mutant.cell].source
    assert original.count(mutant.find) == 1, (
        f"{mutant.label}: 'find' must occur exactly once in the cell, found {original.count(mutant.find)} times")
    error = session.kernel.run(original.replace(mutant.find, mutant.replace))
    try:
        assert error is None, f"{mutant.label}: the mutated answer cell itself raised {error}; mutate the body"
        survived = [test for test in mutant.fails if session.kernel.run(session.cells[test].source) is None]
    finally:
        restored = session.kernel.run(original)
    assert restored is None, f"{mutant.label}: re-running the original answer cell raised {restored}"
    assert not survived, f"{mutant.label}: the mutant passed {survived}; those tests should catch this bug"


@pytest.mark.parametrize("assignment", [a.name for a in all_assignments()])
def test_every_answer_cell_has_a_mutant_or_says_why_not(assignment: str) -> None:
    path = MUTANTS / f"{assignment}.json"
    assert path.is_file(), f"{assignment} has no held-out wrong answers: write {path.relative_to(REPO)}"
    mutants, exempt = read_mutants(assignment)
    notebook = nbformat.read(notebook_of(assignment), as_version=4)
    cells = set(answer_cells(notebook))
    covered = {m.cell for m in mutants} | set(exempt)
    assert cells <= covered, f"{assignment}: answer cells with no mutant and no exemption: {sorted(cells - covered)}"
    assert covered <= cells, f"{assignment}: mutants name cells that are not answer cells: {sorted(covered - cells)}"
