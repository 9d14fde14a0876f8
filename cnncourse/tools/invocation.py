"""How to write a ``cnncourse`` command so that it runs where it is printed.

Scope: one function, ``command(*words)``. The tools print hints such as
``cnncourse data fetch mnist --root DIR``. With the course's environment
active (``source .venv/bin/activate``, a JupyterLab terminal of ``make
course``, a hub's image) the bare name works and is printed; when the running
``cnncourse`` was started by its path (``.venv/bin/cnncourse doctor``) and the
bare name would not find it, the hint names it by that path, so that it can be
pasted as it is.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["command"]


def command(*words: str) -> str:
    """``cnncourse WORDS`` as a line that runs in the current shell context.

    Example:
        >>> command("data", "fetch", "mnist").endswith("cnncourse data fetch mnist")
        True
    """
    return " ".join([_program(), *words])


def _program() -> str:
    here = Path(sys.executable).parent / "cnncourse"  # the console script beside the running interpreter
    if not here.is_file():
        return "cnncourse"  # e.g. `python -m cnncourse.tools.cli`, or an unusual install: the documented name
    found = shutil.which("cnncourse")
    try:
        if found is not None and os.path.samefile(found, here):
            return "cnncourse"
    except OSError:
        pass
    return shlex.quote(str(here))
