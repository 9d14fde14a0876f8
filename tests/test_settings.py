"""cnncourse.settings: the CNNCOURSE_* rules for re-training and grading (the budget is tested in test_runtime)."""

from __future__ import annotations

import pytest

from cnncourse.settings import autograding, loads_saved_runs, retrain_forced


def test_retrain_reads_yes_and_no_and_refuses_anything_else(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_RETRAIN", raising=False)
    assert retrain_forced() is False
    for value, want in (("1", True), ("TRUE", True), ("yes", True), ("0", False), ("off", False), (" ", False)):
        monkeypatch.setenv("CNNCOURSE_RETRAIN", value)
        assert retrain_forced() is want, value
    monkeypatch.setenv("CNNCOURSE_RETRAIN", "sometimes")
    with pytest.raises(ValueError, match="CNNCOURSE_RETRAIN='sometimes' is not a yes or a no"):
        retrain_forced()


def test_saved_runs_load_only_while_autograding_without_retrain(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_RETRAIN", raising=False)
    for value, want in (("", False), ("validate", False), ("autograde", True)):
        monkeypatch.setenv("NBGRADER_EXECUTION", value)
        assert autograding() is want and loads_saved_runs() is want, value
    monkeypatch.setenv("CNNCOURSE_RETRAIN", "1")
    assert autograding() and not loads_saved_runs()


def test_the_runs_folder_is_ignored_by_git(repo):
    from cnncourse.settings import RUNS_FOLDER

    ignored = (repo / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert f"{RUNS_FOLDER}/" in ignored, f".gitignore should list {RUNS_FOLDER}/: runs trained in CI are never committed"
