"""cnncourse.tools.grading.gradebook on a real nbgrader gradebook made in a temporary folder (no kernel, seconds).

The merge is the single writer of ``cnncourse grade``: one submission row per
student, a rerun changes nothing, a failed notebook counts 0, a manual score
survives and is flagged for review.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from cnncourse.tools.grading.gradebook import (assignment_layout, course_settings, export_grades, merge_results,
                                               read_results, snapshot_gradebook)
from demo_assignment import ASSIGNMENT, NOTEBOOK

# nbgrader's own SQLAlchemy 2 "not in session" warnings when a test writes a submission the way autograde does
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")



@pytest.fixture()
def course(tmp_path: Path, gradebook: Path):
    """A course folder with its nbgrader_config.py and a gradebook holding the demo assignment."""
    root = gradebook.parent
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'demo'\n"
                                             "c.Execute.timeout = 77\n", encoding="utf-8")
    return course_settings(root)


def results(double: float, negative: float, *, timestamp: str = "2026-01-05 10:00:00") -> dict:
    """What ``read_results`` returns for one graded notebook."""
    return {"timestamp": timestamp, "notebooks": {NOTEBOOK: {
        "late_penalty": 0.0, "grades": {"test_double": (double, False), "test_negative": (negative, False)},
        "comments": {}}}}


def scores(course, student: str) -> dict[str, float]:
    with Gradebook(course.db_url, course.course_id) as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {"total": float(submission.score),
                **{g.name: float(g.score) for nb in submission.notebooks for g in nb.grades}}


def submission_rows(course) -> list[tuple]:
    with sqlite3.connect(course.db_url[len("sqlite:///"):]) as db:
        return sorted(db.execute("SELECT student_id FROM submitted_assignment").fetchall())


def test_course_settings_and_layout_read_the_config_and_the_gradebook(course) -> None:
    assert course.course_id == "demo" and course.timeout == 77, f"the config's settings should be read, got {course}"
    layout, digest = assignment_layout(course, ASSIGNMENT)
    assert layout == {NOTEBOOK: [("test_double", 40.0, True), ("test_negative", 60.0, True)]}, layout
    assert len(digest) == 64 and digest == assignment_layout(course, ASSIGNMENT)[1], "the digest should be stable"
    with pytest.raises(ValueError, match="'02_missing' is not in the gradebook"):
        assignment_layout(course, "02_missing")


def test_merge_writes_one_row_per_student_and_a_rerun_changes_nothing(course, tmp_path: Path) -> None:
    autograded = tmp_path / "slot0" / "autograded" / "alice" / ASSIGNMENT
    autograded.mkdir(parents=True)
    (autograded / f"{NOTEBOOK}.ipynb").write_text("{}", encoding="utf-8")
    merge_results(course, ASSIGNMENT, "alice", results(40.0, 30.0), autograded=autograded)
    merge_results(course, ASSIGNMENT, "bob", results(0.0, 60.0), autograded=None)
    first = {s: scores(course, s) for s in ("alice", "bob")}
    assert first == {"alice": {"total": 70.0, "test_double": 40.0, "test_negative": 30.0},
                     "bob": {"total": 60.0, "test_double": 0.0, "test_negative": 60.0}}, first
    assert (course.folder("autograded", "alice", ASSIGNMENT) / f"{NOTEBOOK}.ipynb").is_file(), \
        "the graded folder should be copied into autograded/"
    merge_results(course, ASSIGNMENT, "alice", results(40.0, 30.0), autograded=autograded)
    merge_results(course, ASSIGNMENT, "bob", results(0.0, 60.0), autograded=None)
    assert submission_rows(course) == [("alice",), ("bob",)], \
        f"two students merged twice should give two submission rows, got {submission_rows(course)}"
    assert {s: scores(course, s) for s in ("alice", "bob")} == first, "merging the same results again should change nothing"


def test_a_failed_notebook_counts_zero_and_a_manual_score_is_kept_and_flagged(course) -> None:
    merge_results(course, ASSIGNMENT, "carol", results(40.0, 60.0), autograded=None)
    with Gradebook(course.db_url, course.course_id) as gb:
        grade = gb.find_grade("test_negative", NOTEBOOK, ASSIGNMENT, "carol")
        grade.manual_score = 50.0
        gb.db.commit()
    failed = results(40.0, 60.0)
    failed["notebooks"][NOTEBOOK]["failed"] = True
    merge_results(course, ASSIGNMENT, "carol", failed, autograded=None)
    with Gradebook(course.db_url, course.course_id) as gb:
        double = gb.find_grade("test_double", NOTEBOOK, ASSIGNMENT, "carol")
        negative = gb.find_grade("test_negative", NOTEBOOK, ASSIGNMENT, "carol")
        assert (double.auto_score, double.needs_manual_grade) == (0.0, False), "a failed notebook should count 0"
        assert (negative.manual_score, negative.needs_manual_grade) == (50.0, True), \
            "a manual score given before a regrade should stay and be flagged for review"
    merge_results(course, ASSIGNMENT, "dave", None, autograded=None)
    assert scores(course, "dave")["total"] == 0.0, "a submission nbgrader could not grade at all should count 0"


def test_snapshot_read_back_and_export(course, tmp_path: Path) -> None:
    folder = tmp_path / "slot1"
    folder.mkdir()
    snapshot_gradebook(course.db_url, folder / "gradebook.db")
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:  # what autograde writes in a grading folder
        assert read_results(folder, ASSIGNMENT, "erin") is None, "no submission yet: nothing to read"
        gb.update_or_create_student("erin")
        submission = gb.update_or_create_submission(ASSIGNMENT, "erin", timestamp="2026-01-05 10:00:00")
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = {"test_double": 40.0, "test_negative": 10.0}[grade.name]
                grade.needs_manual_grade = False
        gb.db.commit()
    found = read_results(folder, ASSIGNMENT, "erin")
    assert found["notebooks"][NOTEBOOK]["grades"] == {"test_double": (40.0, False), "test_negative": (10.0, False)}, found
    assert submission_rows(course) == [], "the snapshot is a copy: the course gradebook should not change"
    merge_results(course, ASSIGNMENT, "erin", found, autograded=None)
    out = export_grades(ASSIGNMENT, tmp_path / "grades.csv", course_dir=course.root)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["student_id"], r["score"], r["max_score"], r["test_double"], r["test_negative"]) for r in rows] == \
        [("erin", "50", "100", "40", "10")], rows
    with pytest.raises(ValueError, match="needs an SQLite gradebook"):
        snapshot_gradebook("postgresql://host/db", tmp_path / "x.db")
