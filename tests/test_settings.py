"""cnncourse.settings: the data folders' search rule, from the environment, without creating anything."""

from __future__ import annotations

import os

from cnncourse.settings import SYSTEM_DATA_ROOTS, data_roots, system_data_roots


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
