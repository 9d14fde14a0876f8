"""cnncourse.tools.grading.sandbox: the launcher never imports a submission's own files; kernels find the data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.uids import reserve_uids
from cnncourse.tools.grading.verdict import run_job


def test_the_launcher_does_not_import_a_shutil_py_shipped_beside_the_notebook(tmp_path: Path):
    """A submission folder with its own shutil.py: starting the launcher's module there does not run it."""
    marker = tmp_path / "ran"
    (tmp_path / "shutil.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('student code ran')\n")
    command = sandbox.kernel_command(sandbox.make_policy("off", run_dir=str(tmp_path / "run"), home=str(tmp_path / "h")),
                                     "policy.json", "connection.json", [])
    launcher = command[:command.index("cnncourse.tools.grading.kernel") + 1]
    done = subprocess.run([*launcher[:-2], "-c", "import cnncourse.tools.grading.kernel, shutil; print(shutil.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"the launcher's interpreter failed: {done.stderr[-500:]}"
    assert not marker.exists() and str(tmp_path) not in done.stdout, (
        f"the launcher imported the submission's shutil.py ({done.stdout.strip()}): it must start with "
        f"{sandbox.SAFE_PATH} so that the working folder is not on sys.path")


READ_THE_DATA = '''
import os
from pathlib import Path
from cnncourse.settings import data_roots
roots = [str(p) for p in data_roots()]
marker = (Path(os.environ["CNNCOURSE_DATA"]) / "marker.txt").read_text()
try:
    (Path(os.environ["CNNCOURSE_DATA"]) / "written.txt").write_text("x")
    wrote = True
except OSError:
    wrote = False
'''


@pytest.mark.parametrize("mode", ["off", "full", "namespaces"])
def test_a_kernel_is_told_where_the_data_sets_are_and_reads_them(mode: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's HOME is its own, so its per-user data cache would be empty: it gets the grader's data folders."""
    if mode not in sandbox.available_modes():
        pytest.skip(f"sandbox mode {mode!r} is not available here")
    data, system = tmp_path / "data", tmp_path / "system-data"
    for folder in (data, system):
        folder.mkdir()
        folder.chmod(0o755)  # the sandbox user of mode full reads it as "others"
    (data / "marker.txt").write_text("the data root")
    (data / "marker.txt").chmod(0o644)
    tmp_path.chmod(0o755)
    monkeypatch.setenv("CNNCOURSE_DATA", str(data))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", str(system))
    with reserve_uids(sandbox.DEFAULT_UID_BASE, 1) as uid_base:
        policy = sandbox.make_policy(mode, run_dir=tmp_path / "run", home=tmp_path / "home", uid_base=uid_base,
                                     hide=[tmp_path])
        assert policy.env["CNNCOURSE_DATA"] == str(data.resolve()), policy.env
        assert policy.env["CNNCOURSE_SYSTEM_DATA"] == str(system.resolve()), policy.env
        assert {str(data.resolve()), str(system.resolve())} <= set(policy.expose_ro), policy.expose_ro
        sandbox.prepare_folders(policy, traverse=[tmp_path])
        work = tmp_path / "verdict" / "work"
        work.mkdir(parents=True)
        (tmp_path / "verdict").chmod(0o711)
        work.chmod(0o777)
        check = (f"assert roots == [{str(data.resolve())!r}, {str(system.resolve())!r}], roots\n"
                 "assert marker == 'the data root', marker\n"
                 f"assert wrote is {mode == 'off'}, f'wrote into the data root: {{wrote}}'\n")
        verdicts = run_job({"timeout": 60, "cells": [{"kind": "code", "grade_id": None, "source": READ_THE_DATA},
                                                    {"kind": "test", "grade_id": "reads_data", "source": check}]},
                           policy.save(tmp_path / "sandbox.json"), work, limit=120)
    assert verdicts.finished, verdicts.problem
    assert verdicts.tests["reads_data"]["passed"], verdicts.tests["reads_data"]["message"]
