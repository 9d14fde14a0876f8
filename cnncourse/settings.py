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
- ``CNNCOURSE_DEVICE``: overrides the device choice (read by ``cnncourse.runtime``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["BUDGETS", "BUDGET_VARIABLE", "DATA_VARIABLE", "DEVICE_VARIABLE", "current_budget", "data_root"]

BUDGETS = ("full", "smoke")
BUDGET_VARIABLE = "CNNCOURSE_BUDGET"
DATA_VARIABLE = "CNNCOURSE_DATA"
DEVICE_VARIABLE = "CNNCOURSE_DEVICE"


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
