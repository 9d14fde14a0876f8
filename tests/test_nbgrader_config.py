"""nbgrader_config.py: the course directory's nbgrader settings, checked with nbgrader's own apps.

Scope: what the settings promise beyond nbgrader's defaults about saved training
runs (``runs/``, cnncourse.runs). An instructor who runs a notebook in source/
saves their own runs there; plain ``nbgrader generate_assignment`` must not
release them, and ``nbgrader autograde`` must not copy them over (or beside) a
student's own runs. The feedback settings are checked end to end by test_pipeline.py.
"""

from __future__ import annotations

import re
import shutil

import pytest

from cnncourse.settings import RUNS_FOLDER
from pipeline_helpers import FIXTURE, REPO, all_assignments, make_course, run_nbgrader

pytestmark = pytest.mark.slow


def test_the_config_names_the_libraries_runs_folder() -> None:
    text = (REPO / "nbgrader_config.py").read_text(encoding="utf-8")
    found = re.search(r'^_RUNS = "([^"]+)"', text, flags=re.MULTILINE)
    assert found and found.group(1) == RUNS_FOLDER, (
        f"nbgrader_config.py's _RUNS should be cnncourse.settings.RUNS_FOLDER ({RUNS_FOLDER!r}), got {found and found.group(1)}")


def test_the_instructors_runs_are_never_released_nor_graded_as_a_students(tmp_path) -> None:
    fixture = next(a for a in all_assignments() if a.name == FIXTURE)
    course = make_course(tmp_path / "course", fixture)
    instructor = course / "source" / FIXTURE / RUNS_FOLDER
    instructor.mkdir()
    (instructor / "lenet.pt").write_bytes(b"the instructor's weights")
    (instructor / "vgg.pt").write_bytes(b"the instructor's other weights")
    run_nbgrader(course, "generate_assignment", FIXTURE, "--force")
    released = sorted(p.relative_to(course / "release").as_posix() for p in (course / "release").rglob("*") if p.is_file())
    assert not [p for p in released if f"/{RUNS_FOLDER}/" in p], f"the release holds the instructor's runs: {released}"

    notebook = next((course / "source" / FIXTURE).glob("*.ipynb"))
    for student in ("alice", "bob"):
        target = course / "submitted" / student / FIXTURE
        target.mkdir(parents=True)
        shutil.copy2(notebook, target / notebook.name)
        (target / "timestamp.txt").write_text("2024-01-15 12:00:00.000000 UTC", encoding="utf-8")
    (course / "submitted" / "alice" / FIXTURE / RUNS_FOLDER).mkdir()
    (course / "submitted" / "alice" / FIXTURE / RUNS_FOLDER / "lenet.pt").write_bytes(b"alice's weights")
    run_nbgrader(course, "autograde", FIXTURE, "--force")
    alice = course / "autograded" / "alice" / FIXTURE / RUNS_FOLDER
    assert sorted(p.name for p in alice.iterdir()) == ["lenet.pt"], f"alice's graded runs: {sorted(alice.iterdir())}"
    assert (alice / "lenet.pt").read_bytes() == b"alice's weights", "autograde put the instructor's weights over alice's"
    bob = course / "autograded" / "bob" / FIXTURE / RUNS_FOLDER
    assert not bob.exists(), f"bob submitted no runs, yet his graded folder holds {sorted(bob.iterdir())}"
