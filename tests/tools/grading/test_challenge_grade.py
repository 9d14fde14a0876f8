"""Challenge cells end to end: partial credit through nbgrader's autograde, both passes, the table and the CSV.

A small assignment made here (an answer ``quality()``, an ordinary test worth 90
points and a challenge cell worth 0 to 10, linear in ``quality()`` between 0.5
and 0.9), graded by ``cnncourse grade`` for students at the ceiling, half-way,
below the floor and untouched, plus two that rewire the kernel: one makes its
result say 10, one publishes a second result. Honest students must get exactly
what nbgrader's own autograde gives them; the two others gain nothing.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest

from cnncourse.tools.cli import main
from cnncourse.tools.grading.grade import generate_feedback, grade
from pipeline_helpers import REPO, html_text, run_nbgrader

pytestmark = pytest.mark.slow

NAME, NOTEBOOK = "00_challenge", "challenge.ipynb"
ANSWER = "def quality():\n    \"\"\"A fraction: how good the submission is.\"\"\"\n    ### BEGIN SOLUTION\n    return 0.95\n    ### END SOLUTION"
SCORE = ('"""challenge: points on a scale from a floor of 0.5 to a ceiling of 0.9."""\n'
         'assert "quality" in globals(), "Run the cell that defines quality first."\n'
         "_value = float(quality())\n"
         "_points = round(10 * min(1.0, max(0.0, (_value - 0.5) / 0.4)), 2)\n"
         'challenge_facts = {"accuracy": _value, "params": 1_000, "macs": 5_000_000}\n'
         "### BEGIN HIDDEN TESTS\n"
         'assert 0 <= _value <= 1, f"quality() should be a fraction, got {_value}"\n'
         "### END HIDDEN TESTS\n"
         "_points")
KERNEL_SAYS_TEN = '''def quality():
    return 0.6


try:  # in a kernel: silence the guard, then make every result read 10
    import cnncourse.tools.grading.tamper as guard

    guard.restore_report = lambda: '{"changes": []}'
    get_ipython().displayhook.compute_format_data = lambda result: ({"text/plain": "10"}, {})
except AttributeError:
    pass
'''
SECOND_RESULT = '''def quality():
    return 0.6


import cnncourse.tools.grading.tamper as guard

guard.restore_report = lambda: '{"changes": []}'  # the guard reports nothing
hook = get_ipython().displayhook


def result_first(info):
    """Before every cell, publish a result of 10 (nbgrader reads a cell's first result)."""
    hook.session.send(hook.pub_socket, "execute_result", {"data": {"text/plain": "10"}, "metadata": {},
                      "execution_count": 1}, parent=hook.parent_header)


get_ipython().events.register("pre_run_cell", result_first)
'''


def source_notebook() -> nbformat.NotebookNode:
    def cell(kind: str, text: str, cell_id: str, **nbgrader: object) -> nbformat.NotebookNode:
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        made = new(text, metadata={"nbgrader": {"schema_version": 3, "grade": False, "solution": False,
                                                "locked": False, "task": False, **nbgrader}} if nbgrader else {})
        made["id"] = cell_id
        return made

    return nbformat.v4.new_notebook(cells=[
        cell("markdown", "# A challenge\n\nTask 1 (`quality`) 90 points, the challenge 0 to 10.", "title",
             grade_id="title", locked=True),
        cell("code", ANSWER, "quality", grade_id="quality", solution=True),
        cell("code", '"""quality is a fraction."""\nassert 0 <= quality() <= 1, "quality() should be in [0, 1]"',
             "test-quality", grade_id="test_quality", grade=True, locked=True, points=90),
        cell("code", SCORE, "challenge-score", grade_id="challenge_score", grade=True, locked=True, points=10),
    ], metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}})


STUDENTS = {  # answer cell source, or None for the untouched release
    "top": "def quality():\n    return 0.95",
    "half": "def quality():\n    return 0.7",
    "floor": "def quality():\n    return 0.3",
    "untouched": None,
    "kernel_says_ten": KERNEL_SAYS_TEN,
    "second_result": SECOND_RESULT,
}
HONEST = ("top", "half", "floor", "untouched")
EXPECTED = {"top": (90, 10), "half": (90, 5), "floor": (90, 0), "untouched": (0, 0),
            "kernel_says_ten": (90, 2.5), "second_result": (90, 0)}


def make_course(root: Path) -> Path:
    (root / "source" / NAME).mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    nbformat.write(source_notebook(), root / "source" / NAME / NOTEBOOK)
    run_nbgrader(root, "generate_assignment", NAME, "--force")
    release = nbformat.read(root / "release" / NAME / NOTEBOOK, as_version=4)
    for student, answer in STUDENTS.items():
        submitted = copy.deepcopy(release)
        if answer is not None:
            next(c for c in submitted.cells if c.get("id") == "quality").source = answer
        folder = root / "submitted" / student / NAME
        folder.mkdir(parents=True)
        nbformat.write(submitted, folder / NOTEBOOK)
    return root


def auto_scores(course: Path) -> dict[str, dict[str, float]]:
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute(
            "SELECT sa.student_id, bc.name, g.auto_score FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id JOIN base_cell bc ON g.cell_id = bc.id").fetchall()
    scores: dict[str, dict[str, float]] = {}
    for student, cell, score in rows:
        scores.setdefault(student, {})[cell] = score
    return scores


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    course = make_course(tmp_path_factory.mktemp("challenge") / "course")
    report = grade(NAME, course_dir=course, workers=2, timeout=60, sandbox="off", progress=False)
    return course, report


def test_points_on_the_scale_and_nothing_gained_by_rewiring_the_kernel(graded) -> None:
    course, report = graded
    got = {r.student: (r.cells["test_quality"], r.cells["challenge_score"]) for r in report.results}
    assert got == EXPECTED, report.table()
    notes = {r.student: " ".join(r.notes) for r in report.results}
    assert "the kernel reported 10 points, the fresh interpreter measured 2.5; the lower counts" in \
        notes["kernel_says_ten"], notes["kernel_says_ten"]
    assert "challenge_score" in notes["second_result"], notes["second_result"]
    assert not any(notes[s] for s in HONEST), {s: notes[s] for s in HONEST}


def test_honest_submissions_get_exactly_nbgraders_own_scores(graded, tmp_path: Path) -> None:
    course, _ = graded
    alone = tmp_path / "alone"
    (alone / "source").mkdir(parents=True)
    shutil.copytree(course / "source" / NAME, alone / "source" / NAME)
    shutil.copy2(course / "nbgrader_config.py", alone / "nbgrader_config.py")
    run_nbgrader(alone, "generate_assignment", NAME, "--force")
    for student in HONEST:
        shutil.copytree(course / "submitted" / student, alone / "submitted" / student)
    run_nbgrader(alone, "autograde", NAME, "--force")
    ours = {s: v for s, v in auto_scores(course).items() if s in HONEST}
    assert ours == auto_scores(alone), f"ours {ours}\nnbgrader {auto_scores(alone)}"
    assert ours["half"]["challenge_score"] == 5, "nbgrader's own autograde should give partial credit (5 of 10)"


def test_the_table_ranks_the_cohort_and_the_cli_writes_the_leaderboard_beside_the_grades(
        graded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course, report = graded
    board = report.leaderboards()["challenge_score"]
    assert [(e.rank, e.student, e.points) for e in board] == [
        (1, "top", 10), (2, "half", 5), (3, "kernel_says_ten", 2.5), (4, "floor", 0), (5, "second_result", 0),  # no facts: a shared rank
        (5, "untouched", 0)], board
    assert board[0].facts == {"accuracy": 0.95, "params": 1000, "macs": 5_000_000}
    assert board[3].facts["accuracy"] == 0.3 and board[4].facts == {} and board[5].facts == {}, board
    target = tmp_path / "grades.csv"
    status = main(["grade", NAME, "--course-dir", str(course), "--no-progress", "--sandbox", "off",
                   "--timeout", "60", "--export", str(target)])
    out = capsys.readouterr().out
    assert status == 0 and "0 graded now" in out and "leaderboard: challenge_score" in out, out
    assert f"leaderboard written to {tmp_path / 'grades-leaderboard.csv'}" in out, out
    with open(tmp_path / "grades-leaderboard.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["rank"], r["student_id"], r["points"], r["accuracy"]) for r in rows[:2]] == \
        [("1", "top", "10", "0.95"), ("2", "half", "5", "0.7")], rows
    with open(target, newline="", encoding="utf-8") as f:
        grades = {row["student_id"]: row for row in csv.DictReader(f)}
    assert grades["half"]["challenge_score"] == "5" and grades["half"]["score"] == "95", grades["half"]


def test_feedback_shows_the_challenges_points(graded) -> None:
    course, _ = graded
    assert generate_feedback(NAME, course_dir=course) == 0
    text = html_text((course / "feedback" / "half" / NAME / "challenge.html").read_text(encoding="utf-8"))
    assert "Challenge scored (5 of 10 points)." in text, text[-2000:]
    assert "quality() should be a fraction" not in text
    metadata = json.loads((course / "autograded" / "half" / NAME / NOTEBOOK).read_text(encoding="utf-8"))
    verdicts = [c["metadata"].get("cnncourse") for c in metadata["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "challenge_score"]
    assert verdicts == [{"passed": True, "message": "", "score": 5.0,
                         "facts": {"accuracy": 0.7, "params": 1000.0, "macs": 5000000.0}}], verdicts
