"""Fixtures of the grading tests: the demo assignment (demo_assignment.py) in a real gradebook."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnncourse.tools.release import nbgrader_environment
from demo_assignment import record_assignment


@pytest.fixture(scope="session")
def recorded_gradebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gradebook with the demo assignment, made once (a new gradebook runs nbgrader's ``alembic``); copy it."""
    db = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", nbgrader_environment()["PATH"])
        record_assignment(db)
    return db


@pytest.fixture()
def gradebook(tmp_path: Path, recorded_gradebook: Path) -> Path:
    """A fresh copy of the demo gradebook for one test."""
    copy = tmp_path / "gradebook.db"
    shutil.copyfile(recorded_gradebook, copy)
    return copy
