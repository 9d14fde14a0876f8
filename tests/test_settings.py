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
