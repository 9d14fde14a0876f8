"""cnncourse.downloads.download_when_allowed: tries only when allowed, and reports instead of raising."""

from __future__ import annotations

import os

import pytest

from cnncourse import downloads
from cnncourse.downloads import download_when_allowed, writable


def test_automatic_download_needs_a_writable_folder_and_an_answering_server(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(downloads, "network_available", lambda host: False)
    why = download_when_allowed(None, tmp_path, "example.org", lambda: calls.append(1))
    assert calls == [] and "example.org did not answer" in why, why
    monkeypatch.setattr(downloads, "network_available", lambda host: True)
    assert download_when_allowed(None, tmp_path / "new" / "folder", "example.org", lambda: calls.append(2)) == ""
    assert calls == [2], "a folder that does not exist yet under a writable one may be downloaded into"
    afile = tmp_path / "afile"
    afile.write_text("")
    why = download_when_allowed(None, afile / "inside", "example.org", lambda: calls.append(3))
    assert calls == [2] and "read-only" in why, why


def test_explicit_choices_and_failures(tmp_path, monkeypatch):
    monkeypatch.setattr(downloads, "network_available", lambda host: pytest.fail("download=True/False must not probe the network"))
    calls = []
    assert download_when_allowed(False, tmp_path, "example.org", lambda: calls.append(1)) == "download=False was passed"
    assert calls == []

    def broken() -> None:
        raise OSError("disk full")

    why = download_when_allowed(True, tmp_path, "example.org", broken)
    assert why == "the download failed (OSError: disk full)", why


def test_writable_looks_at_the_nearest_existing_folder(tmp_path):
    assert writable(tmp_path / "a" / "b") == os.access(tmp_path, os.W_OK | os.X_OK)
