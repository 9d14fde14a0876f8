"""Train once, grade in seconds, end to end: saved runs through nbgrader's real autograde in the full budget.

In a temporary course directory with a tiny training assignment
(``training_assignment.py``: 60 points for the training function, 40 for the
accuracy bar of its saved run), three students ran the instructor notebook
themselves before submitting: alice in the full budget, with her ``runs/``
folder; bob the same, but he deleted ``runs/`` before submitting; carol in the
smoke budget. ``nbgrader autograde`` then runs in the full budget. Alice gets
every point without training again; bob and carol lose exactly the 40 points
of the accuracy test, which fails with the ``RunError`` that says why
(``missing``, ``smoke``) and what to run; ``cnncourse check`` reports the same
problems on their notebooks before submission.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnncourse.tools.check import check_notebook
from cnncourse.tools.release import nbgrader_environment
from pipeline_helpers import REPO, read_grades, run_module, run_nbgrader
from training_assignment import ACCURACY_TEST, ASSIGNMENT, NOTEBOOK, POINTS, RUN, TRAINING_TEST, run_as_student
from training_assignment import write_source

pytestmark = pytest.mark.slow

STUDENTS = ("alice", "bob", "carol")
# What each student's runs/ folder holds at submission, and why grading cannot use it (RunError.reason).
REASONS = {"alice": None, "bob": "missing", "carol": "smoke"}
MESSAGES = {  # words of the RunError message the accuracy test fails with
    "bob": ("no saved run 'mlp'", "runs/mlp.pt does not exist", "submit the runs/ folder"),
    "carol": ("was trained in the smoke budget, but grading uses the full budget", "unset CNNCOURSE_BUDGET"),
}


def cell_of(path: Path, grade_id: str) -> dict:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return next(c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def text_of(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts += ["".join(output.get("text", "")), f"{output.get('ename', '')}: {output.get('evalue', '')}"]
    return "\n".join(parts)


@dataclass(frozen=True)
class Graded:
    course: Path
    scores: dict[str, dict[str, float]]  # student -> test cell -> points, from nbgrader's gradebook

    def autograded(self, student: str) -> Path:
        return self.course / "autograded" / student / ASSIGNMENT / NOTEBOOK

    def training_cell(self, student: str) -> dict:
        cells = json.loads(self.autograded(student).read_text(encoding="utf-8"))["cells"]
        return next(c for c in cells if 'trained_or_loaded("mlp"' in "".join(c["source"]))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """The course after alice, bob and carol submitted and ``nbgrader autograde`` ran in the full budget."""
    course = tmp_path_factory.mktemp("runs-grading") / "course"
    course.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    source = write_source(course)
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    work = course.parent / "students"
    trained = {"full": run_as_student(source, work / "full", "full"),
               "smoke": run_as_student(source, work / "smoke", "smoke")}
    for student, budget in (("alice", "full"), ("bob", "full"), ("carol", "smoke")):
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy2(trained[budget], target / NOTEBOOK)
        if student != "bob":  # bob deleted runs/ before submitting
            shutil.copytree(trained[budget].parent / "runs", target / "runs")
        (target / "timestamp.txt").write_text("2024-01-15 12:00:00.000000 UTC", encoding="utf-8")
    env = {**nbgrader_environment(), "CNNCOURSE_BUDGET": "full", "CNNCOURSE_DEVICE": "cpu"}
    env.pop("CNNCOURSE_RETRAIN", None)
    run_module("nbgrader", "autograde", ASSIGNMENT, "--force", f"--CourseDirectory.root={course}", cwd=course, env=env,
               timeout=600)
    grades = read_grades(course, ASSIGNMENT, list(STUDENTS))
    return Graded(course, {student: {g["name"]: g["auto_score"] for g in rows if g["cell_type"] == "code"}
                           for student, rows in grades.items()})


def test_a_student_who_trained_and_submitted_runs_gets_every_point_without_training_again(graded: Graded) -> None:
    assert graded.scores["alice"] == POINTS, (
        f"alice submitted her full-budget run: expected {POINTS}, got {graded.scores['alice']}")
    training = graded.training_cell("alice")
    assert "Loaded the saved run 'mlp'" in text_of(training) and "Saved the run" not in text_of(training), (
        f"grading should load alice's run, not train again; the training cell printed: {text_of(training)}")


@pytest.mark.parametrize("student", ["bob", "carol"])
def test_a_missing_or_smoke_run_loses_exactly_the_accuracy_points_with_the_reason(graded: Graded, student: str) -> None:
    got = graded.scores[student]
    expected = {**POINTS, ACCURACY_TEST: 0}
    assert got == expected, f"{student} ({REASONS[student]} run) should lose exactly the accuracy test's points: {got}"
    autograded = graded.autograded(student)
    failure = text_of(cell_of(autograded, ACCURACY_TEST))
    assert "RunError" in failure and all(words in failure for words in MESSAGES[student]), (
        f"{student}'s accuracy test should fail with the RunError saying {MESSAGES[student]}, it printed:\n{failure}")
    assert not text_of(cell_of(autograded, TRAINING_TEST)), f"{student}'s training test should pass silently"
    training = graded.training_cell(student)
    assert f"Not training {RUN!r} while grading" in text_of(training), (
        f"in the full budget grading never trains; {student}'s training cell printed: {text_of(training)}")


def test_the_reasons_are_those_of_run_error_and_cnncourse_check_reports_them_before_submission(
        graded: Graded, monkeypatch: pytest.MonkeyPatch) -> None:
    from torch import nn

    from cnncourse.runs import RunError, check_run

    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")
    kinds = {None: [], "missing": ["run_missing"], "smoke": ["run_smoke"]}
    for student, reason in REASONS.items():
        folder = graded.course / "submitted" / student / ASSIGNMENT
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))  # make_model() of the notebook
        if reason is None:
            assert check_run(RUN, model, folder=folder / "runs").budget == "full"
        else:
            with pytest.raises(RunError) as caught:
                check_run(RUN, model, folder=folder / "runs")
            assert caught.value.reason == reason, f"{student}: expected reason {reason!r}, got {caught.value.reason!r}"
        found = [p.kind for p in check_notebook(folder / NOTEBOOK, run=False) if p.kind.startswith("run_")]
        assert found == kinds[reason], (
            f"cnncourse check on {student}'s notebook should report {kinds[reason]}, got {found}")
