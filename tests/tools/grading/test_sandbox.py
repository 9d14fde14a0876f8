"""cnncourse.tools.grading.sandbox: the kernel launcher never imports a submission's own files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cnncourse.tools.grading import sandbox


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
