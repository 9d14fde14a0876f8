"""Tests of the ``cnncourse`` command through cnncourse.tools.cli.main (one real subprocess for --help)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnncourse.tools.cli import main


def test_doctor_exits_0_and_prints_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cnncourse doctor") and str(tmp_path) in out, out
    assert main(["doctor", "--root", str(tmp_path / "other")]) == 0
    assert str(tmp_path / "other") in capsys.readouterr().out


def test_fetch_unknown_name_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    status = main(["data", "fetch", "nosuchdata", "--root", str(root)])
    err = capsys.readouterr().err
    assert status == 2, f"expected exit status 2, got {status}"
    assert "unknown data set 'nosuchdata'" in err and "mnist" in err, f"stderr: {err!r}"
    assert "Traceback" not in err, err
    assert not root.exists(), "an unknown name must not create the root"


def test_fetch_into_read_only_folder_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(0o555)
    if os.access(root, os.W_OK):  # root may write there anyway: os.access answers as it would for anyone else
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == root and mode & os.W_OK
                            else real_access(path, mode, **kw))
    try:
        status = main(["data", "fetch", "mnist", "--root", str(root)])
    finally:
        root.chmod(0o755)
    err = capsys.readouterr().err
    assert status != 0, "fetching into a read-only folder must fail"
    assert "read-only" in err and str(root) in err and "Traceback" not in err, f"stderr: {err!r}"
    assert list(root.iterdir()) == [], "nothing may be written into the read-only folder"


def test_fetch_into_a_root_that_cannot_be_created_fails_clearly(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("a file where a folder should be")
    status = main(["data", "fetch", "mnist", "--root", str(blocker / "data")])
    err = capsys.readouterr().err
    assert status == 2, f"expected exit status 2, got {status}"
    assert "cannot be created" in err and "Traceback" not in err, f"stderr: {err!r}"


def test_console_script_help() -> None:
    script = Path(sys.executable).parent / "cnncourse"
    if not script.exists():
        pytest.skip(f"the console script is not installed beside {sys.executable} (pip install -e .)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"cnncourse --help exited {done.returncode}: {done.stderr}"
    for command in ("doctor", "data", "release"):
        assert command in done.stdout, f"{command!r} missing from --help:\n{done.stdout}"


@pytest.mark.parametrize("command, words", [
    (["doctor"], ["What this machine offers the course", "--root"]),
    (["data", "fetch"], ["Download data sets", "resnet18"]),
    (["release"], ["Regenerate the student notebooks", "(default: .)"]),
    (["grade"], ["Autograde every submission", "most output one cell may print (default: 10000000)",
                 "(default: auto)"]),
    (["check"], ["What would go wrong when a notebook is graded", "(default: 5000000)"]),
    (["site"], ["Execute every lecture", "(default: _site)"]),
])
def test_every_subcommand_help_describes_it_and_shows_the_defaults(command, words, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    for word in words:
        assert " ".join(word.split()) in out, f"`cnncourse {' '.join(command)} --help` should say {word!r}:\n{out}"
    assert "(default: None)" not in out and "(default: False)" not in out, out
