"""cnncourse.settings: the data folders' search rule, re-training while grading, and one copy of each rule."""

from __future__ import annotations

import os

import pytest

from cnncourse.settings import (SYSTEM_DATA_ROOTS, autograding, data_roots, loads_saved_runs, retrain_forced,
                                system_data_roots)


def test_system_data_folders_come_from_the_variable_or_the_debian_default(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNCOURSE_SYSTEM_DATA", raising=False)
    assert [str(path) for path in system_data_roots()] == list(SYSTEM_DATA_ROOTS) == ["/usr/share/datasets"]
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", os.pathsep.join([str(tmp_path / "hub"), "", " ~/shared "]))
    assert system_data_roots() == [tmp_path / "hub", tmp_path.home() / "shared"], "empty entries are dropped, ~ expanded"
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", "")
    assert system_data_roots() == [], "set but empty: no system folder at all"
    assert not (tmp_path / "hub").exists(), "nothing is created"


def test_data_roots_put_the_writable_root_first_and_never_twice(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "own"))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", os.pathsep.join([str(tmp_path / "hub"), str(tmp_path / "own")]))
    assert data_roots() == [tmp_path / "own", tmp_path / "hub"]


def test_both_wings_read_the_one_copy_of_each_rule(monkeypatch, tmp_path):
    """The library and the tools hold no copy of the CNNCOURSE_* rules: they use settings' own objects,
    so changing the environment moves both wings together."""
    import importlib

    data, runtime, settings, fetch, submission, site_build = (importlib.import_module(f"cnncourse.{name}") for name in (
        "data", "runtime", "settings", "tools.fetch", "tools.grading.submission", "tools.site.build"))

    for where, name in [(data, "data_root"), (fetch, "data_root"), (submission, "data_root"), (site_build, "data_root"),
                        (runtime, "current_budget"), (runtime, "BUDGETS"), (site_build, "BUDGETS")]:
        assert getattr(where, name) is getattr(settings, name), (
            f"{where.__name__}.{name} should be cnncourse.settings.{name} itself, not a copy of the rule")
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "mount"))
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    assert data.data_root() == site_build.data_root() == submission.data_root() == tmp_path / "mount"
    assert runtime.is_smoke() and runtime.current_budget() == "smoke"


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
