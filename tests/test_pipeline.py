"""The nbgrader workflow end to end, with nbgrader's own apps, for every assignment.

In a temporary course directory: generate_assignment; student "alice" submits
the instructor version (must get every autograded point), "bob" the untouched
student version (must run to the end and fail every autograded test); for the
fixture, "carol" submits a solution that passes the visible tests but fails a
hidden one. Then autograde, generate_feedback (which must show no hidden-test
code), export; and, for the fixture, validate. All grading state lives in pytest's tmp_path.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cnncourse.settings import RUNS_FOLDER

from pipeline_helpers import FIXTURE, Assignment, all_assignments, assignment_params, cell_sources, html_text
from pipeline_helpers import make_course, read_grades, run_nbgrader, secret_lines

pytestmark = pytest.mark.slow

# Carol's clip_sum forgets the lower bound: right on the visible test, wrong on the hidden one.
CAROL_BUG = ("return sum(max(-limit, min(limit, value)) for value in values)",
             "return sum(min(limit, value) for value in values)")


@dataclass
class Graded:
    """One assignment taken through generate -> submit -> autograde -> feedback -> export."""

    assignment: Assignment
    course: Path
    students: list[str]
    grades: dict[str, list[dict]] = field(default_factory=dict)

    def notebook_names(self) -> list[str]:
        return [p.relative_to(self.assignment.folder).as_posix() for p in self.assignment.notebooks()]

    def autograded(self, student: str, notebook: str) -> list[dict]:
        return cell_sources(self.course / "autograded" / student / self.assignment.name / notebook)

    def feedback(self, student: str, notebook: str) -> str:
        page = self.course / "feedback" / student / self.assignment.name / Path(notebook).with_suffix(".html")
        assert page.is_file(), f"generate_feedback should write {page}, it did not"
        return page.read_text(encoding="utf-8")


_GRADED: dict[str, Graded] = {}


def grade_once(assignment: Assignment, tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """Run the whole workflow for one assignment (once per test session)."""
    if assignment.name in _GRADED:
        return _GRADED[assignment.name]
    course = make_course(tmp_path_factory.mktemp(f"course-{assignment.name}"), assignment)
    name = assignment.name
    run_nbgrader(course, "generate_assignment", name, "--force")
    students = ["alice", "bob"] + (["carol"] if name == FIXTURE else [])
    for notebook in (p.relative_to(assignment.folder) for p in assignment.notebooks()):
        versions = {
            "alice": (course / "source" / name / notebook).read_text(encoding="utf-8"),
            "bob": (course / "release" / name / notebook).read_text(encoding="utf-8"),
        }
        if "carol" in students:
            assert CAROL_BUG[0] in versions["alice"], "the fixture's clip_sum solution changed; update CAROL_BUG"
            versions["carol"] = versions["alice"].replace(*CAROL_BUG)
        for student in students:
            target = course / "submitted" / student / name / notebook
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(versions[student], encoding="utf-8")
            (target.parent / "timestamp.txt").write_text("2024-01-15 12:00:00.000000 UTC", encoding="utf-8")
    # alice hands in her runs with the notebook, as a student who trained does: the runs the instructor
    # notebook saved when it ran in source/ (nbval runs source/ first in `make test`). Without them (this
    # file run alone), her training cells train in the smoke budget while grading, as before.
    runs = assignment.folder / RUNS_FOLDER
    if runs.is_dir():
        shutil.copytree(runs, course / "submitted" / "alice" / name / RUNS_FOLDER)
    run_nbgrader(course, "autograde", name, "--force")
    run_nbgrader(course, "generate_feedback", name, "--force")
    run_nbgrader(course, "export")
    graded = Graded(assignment, course, students)
    graded.grades = read_grades(course, name, students)
    _GRADED[name] = graded
    return graded


@pytest.fixture(params=assignment_params())
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_once(request.param, tmp_path_factory)


def autograded_tests(grades: list[dict]) -> list[dict]:
    return [g for g in grades if g["cell_type"] == "code"]


def test_instructor_version_gets_every_autograded_point(graded: Graded) -> None:
    tests = autograded_tests(graded.grades["alice"])
    assert tests, f"{graded.assignment.name} should have autograded test cells, nbgrader found none"
    short = [f"{g['name']} ({g['auto_score']}/{g['max_score']})" for g in tests if g["auto_score"] != g["max_score"]]
    assert not short, f"the instructor version should get full marks on every test cell; these did not: {short}"
    for notebook in graded.notebook_names():
        errors = [i for i, cell in enumerate(graded.autograded("alice", notebook))
                  if any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
        assert not errors, f"the instructor version of {notebook} should run without errors, cells {errors} raised"


def test_points_add_up_to_100(graded: Graded) -> None:
    total = sum(g["max_score"] for g in graded.grades["alice"])
    assert total == 100, f"autograded plus manually graded points should sum to 100, got {total}"


def test_untouched_student_version_runs_to_the_end_and_fails_every_test(graded: Graded) -> None:
    tests = autograded_tests(graded.grades["bob"])
    passing = [g["name"] for g in tests if g["auto_score"] != 0]
    assert not passing, "; ".join(f"test cell {name} passes on the unmodified student notebook: it cannot fail"
                                  for name in passing) + " (call the student's function before any other check)"
    assert len(tests) == len(autograded_tests(graded.grades["alice"])), "bob and alice should be graded on the same cells"
    for notebook in graded.notebook_names():
        cells = graded.autograded("bob", notebook)
        unrun = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and c.get("execution_count") is None]
        assert not unrun, f"autograde should execute every cell of bob's {notebook}, cells {unrun} did not run"
        # NotImplementedError (or a NameError that follows from it) is expected; a stub that does not compile is not.
        broken = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
                  if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "code"
                  and any(o.get("ename") in ("SyntaxError", "IndentationError", "TabError") for o in c.get("outputs", []))]
        assert not broken, f"the answer cells of the student version should compile once nbgrader stubs them: {broken}"


def test_feedback_shows_results_but_no_hidden_test_code(graded: Graded) -> None:
    for notebook in graded.notebook_names():
        secrets = secret_lines(graded.assignment.folder / notebook, "hidden")
        test_cells = [c for c in cell_sources(graded.assignment.folder / notebook)
                      if c["metadata"].get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]
        for student in graded.students:
            page = graded.feedback(student, notebook)
            text = html_text(page)
            assert "BEGIN HIDDEN TESTS" not in page and "END HIDDEN TESTS" not in page, \
                f"{student}'s feedback on {notebook} should not show the hidden-test markers"
            leaked = sorted(line for line in secrets if line in text)
            assert not leaked, f"{student}'s feedback on {notebook} should show no hidden-test code, found: {leaked[:5]}"
            for cell in test_cells:
                first_line = cell["source"].split("\n", 1)[0].strip()
                grade_id = cell["metadata"]["nbgrader"]["grade_id"]
                assert first_line in text, f"{student}'s feedback should show the visible part of {grade_id} ({first_line!r})"
                assert f"Grade cell: {grade_id}" in text, f"{student}'s feedback should show the score of {grade_id}"
        bob = html_text(graded.feedback("bob", notebook))
        assert "NotImplementedError" in bob, "bob's feedback should show why his tests failed (NotImplementedError)"


def test_feedback_of_a_hidden_failure_shows_neither_its_message_nor_its_code(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    graded = grade_once(all_assignments()[0], tmp_path_factory)
    scores = {g["name"]: g["auto_score"] for g in autograded_tests(graded.grades["carol"])}
    assert scores == {"test_double": 40, "test_clip_sum": 0}, f"carol should pass test_double only, got {scores}"
    text = html_text(graded.feedback("carol", "fixture.ipynb"))
    message = "clip_sum([-10, 0.5, 10], limit=2) should be 0.5; clip negative numbers at -limit too, got -7.5"
    assert message not in text, "carol's feedback should not show a hidden check's message (output of hidden code)"
    assert "hidden_total" not in text, "carol's feedback should not show the hidden test's code (hidden_total)"
    assert "hidden checks do not show their code or message" in text, "the feedback should say a hidden check failed"


def test_export_lists_every_student_with_the_expected_score(graded: Graded) -> None:
    with open(graded.course / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(graded.students) <= set(rows), f"grades.csv should list {graded.students}, it lists {sorted(rows)}"
    full = sum(g["max_score"] for g in autograded_tests(graded.grades["alice"]))
    assert float(rows["alice"]["score"]) == full, f"alice should score {full} before manual grading, got {rows['alice']['score']}"
    assert float(rows["bob"]["score"]) == 0, f"bob should score 0, got {rows['bob']['score']}"
    assert float(rows["bob"]["max_score"]) == 100, f"max_score should be 100, got {rows['bob']['max_score']}"


def test_validate_passes_on_the_instructor_version_and_fails_everywhere_on_the_student_version(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """`nbgrader validate` with the course config, on the fixture only: for the real assignments the
    autograde results of alice and bob above are the same runs, and stronger checks."""
    graded = grade_once(all_assignments()[0], tmp_path_factory)
    name = graded.assignment.name
    for notebook in graded.notebook_names():
        done = run_nbgrader(graded.course, "validate", f"source/{name}/{notebook}")
        assert "Success! Your notebook passes all the tests." in done.stdout, \
            f"`nbgrader validate` should pass on the instructor version of {notebook}, it printed:\n{done.stdout[-3000:]}"
        done = run_nbgrader(graded.course, "validate", "--invert", f"release/{name}/{notebook}")
        assert "Success! The notebook does not pass any tests." in done.stdout, \
            f"`nbgrader validate --invert` found test cells that pass on the student version of {notebook}:\n{done.stdout[-3000:]}"


def test_grading_state_stays_in_the_temporary_course(graded: Graded, repo: Path) -> None:
    name = graded.assignment.name
    for step in ("submitted", "autograded", "feedback"):
        assert (graded.course / step / "alice" / name).is_dir(), f"the workflow should create {step}/alice/{name} in tmp_path"
        assert not (repo / step / "alice" / name).exists(), f"the tests should not write {step}/alice/{name} into the repository"
    assert (graded.course / "gradebook.db").is_file(), "the gradebook should be in the temporary course"
