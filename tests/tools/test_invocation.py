"""cnncourse.tools.invocation: hints name `cnncourse` bare only where the bare name runs this very program."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cnncourse.tools.invocation import command

VENV_BIN = Path(sys.executable).parent


@pytest.mark.skipif(not (VENV_BIN / "cnncourse").is_file(), reason="no cnncourse console script beside the interpreter")
def test_bare_name_when_on_path_else_the_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([str(VENV_BIN), "/usr/bin", "/bin"]))
    assert command("data", "fetch", "mnist") == "cnncourse data fetch mnist"
    monkeypatch.setenv("PATH", str(tmp_path))  # the environment not activated: nothing called cnncourse on PATH
    assert command("doctor") == f"{VENV_BIN / 'cnncourse'} doctor"
    other = tmp_path / "cnncourse"  # a different cnncourse first on PATH: not this one, so give the path
    other.write_text("#!/bin/sh\n", encoding="utf-8")
    other.chmod(0o755)
    assert command("doctor") == f"{VENV_BIN / 'cnncourse'} doctor"
