"""The ``CNNCOURSE_*`` environment rules, in one torch-free module that both wings read.

Scope: what the environment variables of the course mean, and nothing else.
The student library (``cnncourse.runtime``, ``cnncourse.data``) and the
instructor tools (grading, the site, doctor) all import these rules from here,
so a rule is written once; importing this module costs no torch import, which
the tools need (they start in a fraction of a second).

- ``CNNCOURSE_BUDGET``: ``full`` (the default: real training, the accuracy
  bars) or ``smoke`` (a quick check on a CPU with small offline stand-ins).
- ``CNNCOURSE_DATA``: the data root, a JupyterHub's shared (often read-only)
  mount; unset, the per-user cache ``$XDG_CACHE_HOME/cnncourse`` or
  ``~/.cache/cnncourse``.
- ``CNNCOURSE_SYSTEM_DATA``: read-only system data folders searched after the
  data root, separated by ``os.pathsep`` (``:``), e.g. a hub's mount; unset,
  ``/usr/share/datasets`` (where Debian's ``dataset-*`` packages put their files).
  Set it empty to search none.
- ``CNNCOURSE_DEVICE``: overrides the device choice (read by ``cnncourse.runtime``).
- ``CNNCOURSE_RETRAIN``: ``1`` makes autograding train every training task
  again instead of loading the run a student saved (``cnncourse.runs``);
  unset or ``0`` (the default), a saved run that fits is loaded.
- ``NBGRADER_EXECUTION``: set by nbgrader itself, ``autograde`` while it
  autogrades; ``autograding()`` reads it.

``RUNS_FOLDER`` (``runs``) is where a notebook's saved runs live, beside it:
submitted and graded with the notebook, never released or committed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "BUDGETS", "BUDGET_VARIABLE", "DATA_VARIABLE", "DEVICE_VARIABLE", "SYSTEM_DATA_VARIABLE", "SYSTEM_DATA_ROOTS",
    "RETRAIN_VARIABLE", "NBGRADER_VARIABLE", "RUNS_FOLDER", "current_budget", "data_root", "data_roots",
    "system_data_roots", "data_environment", "retrain_forced", "autograding", "loads_saved_runs",
]

BUDGETS = ("full", "smoke")
BUDGET_VARIABLE = "CNNCOURSE_BUDGET"
DATA_VARIABLE = "CNNCOURSE_DATA"
DEVICE_VARIABLE = "CNNCOURSE_DEVICE"
SYSTEM_DATA_VARIABLE = "CNNCOURSE_SYSTEM_DATA"
SYSTEM_DATA_ROOTS = ("/usr/share/datasets",)  # Debian's dataset-* packages (e.g. dataset-fashion-mnist)
RETRAIN_VARIABLE = "CNNCOURSE_RETRAIN"
NBGRADER_VARIABLE = "NBGRADER_EXECUTION"  # nbgrader sets it to "autograde" while autograding
RUNS_FOLDER = "runs"  # saved training runs, beside each notebook (cnncourse.runs)

_YES = ("1", "true", "yes", "on")
_NO = ("", "0", "false", "no", "off")


def current_budget() -> str:
    """The time budget in force: ``"full"`` (the default) or ``"smoke"``, from ``CNNCOURSE_BUDGET``.

    Raises:
        ValueError: the variable holds anything else.

    Example:
        >>> os.environ["CNNCOURSE_BUDGET"] = "smoke"; current_budget()
        'smoke'
        >>> del os.environ["CNNCOURSE_BUDGET"]; current_budget()
        'full'
    """
    value = os.environ.get(BUDGET_VARIABLE, "").strip().lower()
    if not value:
        return "full"
    if value not in BUDGETS:
        raise ValueError(
            f"{BUDGET_VARIABLE}={os.environ[BUDGET_VARIABLE]!r} is not a budget; "
            f"use 'full' (real training, the default) or 'smoke' (a quick check on a CPU)"
        )
    return value


def data_root() -> Path:
    """The folder data sets live in: ``$CNNCOURSE_DATA``, else the per-user cache.

    The cache is ``$XDG_CACHE_HOME/cnncourse`` or ``~/.cache/cnncourse``. Nothing is created.

    Example:
        >>> os.environ["CNNCOURSE_DATA"] = "/srv/data"; data_root()
        PosixPath('/srv/data')
        >>> del os.environ["CNNCOURSE_DATA"]
    """
    shared = os.environ.get(DATA_VARIABLE, "").strip()
    if shared:
        return Path(shared).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "cnncourse"


def system_data_roots() -> list[Path]:
    """The read-only system data folders, searched after ``data_root()``: ``$CNNCOURSE_SYSTEM_DATA``.

    The variable lists folders separated by ``os.pathsep``; unset, it means
    ``SYSTEM_DATA_ROOTS`` (``/usr/share/datasets``); set but empty, no folder.
    Nothing is created, and a folder that does not exist is still listed.

    Example:
        >>> os.environ["CNNCOURSE_SYSTEM_DATA"] = "/srv/hub-data" + os.pathsep + "/usr/share/datasets"
        >>> system_data_roots()
        [PosixPath('/srv/hub-data'), PosixPath('/usr/share/datasets')]
        >>> del os.environ["CNNCOURSE_SYSTEM_DATA"]; system_data_roots()
        [PosixPath('/usr/share/datasets')]
    """
    raw = os.environ.get(SYSTEM_DATA_VARIABLE)
    entries = SYSTEM_DATA_ROOTS if raw is None else raw.split(os.pathsep)
    return [Path(entry.strip()).expanduser() for entry in entries if entry.strip()]


def data_environment() -> dict[str, str]:
    """``CNNCOURSE_DATA`` and ``CNNCOURSE_SYSTEM_DATA`` as absolute paths: the same data folders for a child process.

    For a process with another ``HOME`` (a grading kernel), where the per-user
    cache would be another folder: set both, it searches exactly ``data_roots()``.

    Example:
        >>> os.environ["CNNCOURSE_DATA"] = "/srv/data"; os.environ["CNNCOURSE_SYSTEM_DATA"] = ""
        >>> data_environment()
        {'CNNCOURSE_DATA': '/srv/data', 'CNNCOURSE_SYSTEM_DATA': ''}
        >>> del os.environ["CNNCOURSE_DATA"], os.environ["CNNCOURSE_SYSTEM_DATA"]
    """
    return {DATA_VARIABLE: str(data_root().resolve()),
            SYSTEM_DATA_VARIABLE: os.pathsep.join(str(folder.resolve()) for folder in system_data_roots())}


def data_roots() -> list[Path]:
    """Every folder a data set is looked for in, in order: ``data_root()``, then ``system_data_roots()``.

    Only the first is ever written to (downloads go there); the others are read.

    Example:
        >>> os.environ["CNNCOURSE_DATA"] = "/srv/data"; os.environ["CNNCOURSE_SYSTEM_DATA"] = "/usr/share/datasets"
        >>> data_roots()
        [PosixPath('/srv/data'), PosixPath('/usr/share/datasets')]
        >>> del os.environ["CNNCOURSE_DATA"], os.environ["CNNCOURSE_SYSTEM_DATA"]
    """
    first = data_root()
    return [first, *(folder for folder in system_data_roots() if folder != first)]


def retrain_forced() -> bool:
    """Whether ``CNNCOURSE_RETRAIN`` asks autograding to train every training task again.

    ``1``/``true``/``yes``/``on`` mean yes; unset, empty, ``0``/``false``/``no``/``off`` mean no.

    Raises:
        ValueError: the variable holds anything else.

    Example:
        >>> os.environ["CNNCOURSE_RETRAIN"] = "1"; retrain_forced()
        True
        >>> del os.environ["CNNCOURSE_RETRAIN"]; retrain_forced()
        False
    """
    value = os.environ.get(RETRAIN_VARIABLE, "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError(
        f"{RETRAIN_VARIABLE}={os.environ[RETRAIN_VARIABLE]!r} is not a yes or a no; use 1 (autograding trains "
        f"every training task again) or 0 (the default: autograding loads the runs students saved)"
    )


def autograding() -> bool:
    """Whether this process runs under ``nbgrader autograde`` (``NBGRADER_EXECUTION=autograde``).

    Example:
        >>> os.environ["NBGRADER_EXECUTION"] = "autograde"; autograding()
        True
        >>> del os.environ["NBGRADER_EXECUTION"]; autograding()
        False
    """
    return os.environ.get(NBGRADER_VARIABLE, "").strip() == "autograde"


def loads_saved_runs() -> bool:
    """Whether a training cell loads the run saved beside the notebook instead of training.

    True while autograding, unless ``CNNCOURSE_RETRAIN`` forces training again.

    Example:
        >>> os.environ["NBGRADER_EXECUTION"] = "autograde"; loads_saved_runs()
        True
        >>> os.environ["CNNCOURSE_RETRAIN"] = "1"; loads_saved_runs()
        False
        >>> del os.environ["CNNCOURSE_RETRAIN"], os.environ["NBGRADER_EXECUTION"]
    """
    return autograding() and not retrain_forced()
