"""Executing the lectures for the site: one kernel per lecture, a few at a time.

Scope: run each lecture top to bottom in its temporary copy (``nbclient``, the
``python3`` kernel of this interpreter), with the budget and the data root in
the kernels' environment, and turn a failing cell into a ``LectureError`` that
names the notebook, the cell and the error. Used by ``cnncourse.tools.site.build``.

The kernels talk to the build over Unix sockets (ZeroMQ's IPC transport) in a
private temporary folder, not over TCP on localhost: nothing else on the
machine can connect to them, and ipykernel has no reason to warn that the
kernel "is running over TCP without encryption".
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from time import monotonic
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode

from cnncourse.settings import BUDGET_VARIABLE, DATA_VARIABLE, data_root
from cnncourse.tools.site.widgets import WIDGET_STATE

__all__ = ["LectureError", "execute_all", "kernel_environment", "read_notebook"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TRACEBACK_LINES = 12  # traceback lines quoted in a failure message
_SOCKET_PATH_MAX = 100  # a Unix socket path must stay under ~107 bytes; longer ones fall back to TCP


class LectureError(RuntimeError):
    """A lecture could not be executed: a cell raised, timed out, or the kernel died."""


class _Cancelled(Exception):
    """Another lecture failed; this one stops at its next cell."""


def read_notebook(path: Path) -> NotebookNode:
    """A notebook file as nbformat 4, with a clear error for a broken file."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several kinds for a broken file
        raise ValueError(f"{path} is not a readable notebook ({type(err).__name__}: {err})") from None


def execute_all(lectures: list[Path], course: Path, work: Path, *, budget: str, timeout: float, jobs: int,
                keep_going: bool, progress: bool) -> Iterator[tuple[str, NotebookNode, float, list[str]]]:
    """Execute the lectures, ``jobs`` at a time; yields (relative path, notebook, seconds, failures) in order.

    ``course`` is the course root the lectures are in, ``work`` the temporary
    copy of it the kernels run in (their working directory: the copy's folder).
    """
    env = kernel_environment(budget, jobs=min(jobs, len(lectures)))
    stop = threading.Event()

    def one(number: int, path: Path) -> tuple[str, NotebookNode, float, list[str]]:
        relative = path.relative_to(course).as_posix()
        nb = read_notebook(path)
        seconds, failures = _execute(nb, relative, work / relative, env=env, timeout=timeout,
                                     keep_going=keep_going, stop=stop, number=number)
        if progress:
            state = f"{len(failures)} failing cell(s)" if failures else "ok"
            print(f"executed {relative} in {seconds:.0f} s: {state}", flush=True)
        return relative, nb, seconds, failures

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cnncourse-site") as pool:
        futures = [pool.submit(one, number, path) for number, path in enumerate(lectures)]
        try:
            for future in as_completed(futures):
                future.result()  # the first failure ends the build at once, whichever lecture it is in
        finally:
            stop.set()  # on a failure (or Ctrl-C) the other kernels stop at their next cell
            for future in futures:
                future.cancel()
    for future in futures:
        yield future.result()


def kernel_environment(budget: str, *, jobs: int) -> dict[str, str]:
    """The kernels' environment: this process's, plus the budget, the data root, this interpreter's bin/ first.

    The data root (``$CNNCOURSE_DATA`` or the per-user cache) is passed as an
    absolute path: the kernels run in a temporary copy of the course, where a
    relative ``CNNCOURSE_DATA=data`` would point at nothing, and the lectures
    would fall back to stand-ins although the real data is on the machine.
    With ``jobs`` kernels at a time, each gets its share of the cores.
    """
    env = {**os.environ, BUDGET_VARIABLE: budget, DATA_VARIABLE: str(data_root().resolve()),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.pop("MPLBACKEND", None)  # a backend set for scripts (Agg) would keep the figures out of the pages
    if jobs > 1:
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, threads)
    return env


def _execute(nb: NotebookNode, relative: str, copy_path: Path, *, env: dict[str, str], timeout: float,
             keep_going: bool, stop: threading.Event, number: int) -> tuple[float, list[str]]:
    """Run one notebook in place (cwd: the copy's folder); returns the seconds and, with keep_going, the failures.

    The kernel's sockets live in a private temporary folder of their own
    (short, so that the socket paths fit), removed afterwards.
    """
    with tempfile.TemporaryDirectory(prefix=f"cnncourse-k{number}-") as sockets:
        return _execute_with(nb, relative, copy_path, env=env, timeout=timeout, keep_going=keep_going, stop=stop,
                             sockets=Path(sockets))


def _execute_with(nb: NotebookNode, relative: str, copy_path: Path, *, env: dict[str, str], timeout: float,
                  keep_going: bool, stop: threading.Event, sockets: Path) -> tuple[float, list[str]]:
    """``_execute`` with the kernel's socket folder given."""
    current = {"index": 0}

    def on_cell_start(cell: NotebookNode, cell_index: int) -> None:
        if stop.is_set():
            raise _Cancelled()
        current["index"] = cell_index

    client = _Client(nb, km=_kernel_manager(sockets), timeout=timeout, allow_errors=keep_going,
                     interrupt_on_timeout=keep_going, record_timing=False,
                     resources={"metadata": {"path": str(copy_path.parent)}}, on_cell_start=on_cell_start)
    started = monotonic()
    try:
        asyncio.run(client.async_execute(env=env, cleanup_kc=True))
    except CellExecutionError as err:
        where = _where(relative, nb, current["index"])
        traceback = _ANSI.sub("", err.traceback).split("------------------\n")[-1]  # after the quoted cell
        tail = "\n".join(traceback.strip().splitlines()[-_TRACEBACK_LINES:])
        raise LectureError(f"{where} raised {err.ename}: {err.evalue}\n{tail}") from None
    except CellTimeoutError:
        raise LectureError(f"{_where(relative, nb, current['index'])} ran longer than {timeout:g} s; "
                           "raise the limit (timeout=, or --timeout S on the command line)") from None
    except DeadKernelError:
        message = f"{_where(relative, nb, current['index'])} killed its kernel (out of memory, or a crash)"
        if not keep_going:
            raise LectureError(message) from None
        return monotonic() - started, [message]
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model_id in client.closed_widgets:
        state.pop(model_id, None)  # Jupyter removes a closed widget's view; so does the page
    failures = [f"{_where(relative, nb, index)} raised {output.ename}: {output.evalue}"
                for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
                for output in cell.get("outputs", []) if output.output_type == "error"]
    return monotonic() - started, failures


class _Client(NotebookClient):
    """nbclient's notebook client, also noting the widgets the notebook closed (nbclient keeps their state)."""

    def __init__(self, nb: NotebookNode, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.closed_widgets: set[str] = set()

    def process_message(self, msg: dict[str, Any], cell: NotebookNode, cell_index: int) -> NotebookNode | None:
        """Note a ``comm_close``, then process the message as nbclient does."""
        if msg.get("msg_type") == "comm_close":
            self.closed_widgets.add(msg.get("content", {}).get("comm_id", ""))
        return super().process_message(msg, cell, cell_index)


def _where(relative: str, nb: NotebookNode, index: int) -> str:
    """Names a cell for people: the notebook, its position (from 1) and its first line."""
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    if len(first) > 60:
        first = first[:57] + "..."
    return f"{relative}, cell {index + 1} of {len(nb.cells)} (`{first}`)"


def _kernel_manager(sockets: Path) -> AsyncKernelManager:
    """A manager for the ``python3`` kernel of this interpreter, whatever kernelspecs the user has installed.

    The kernel listens on Unix sockets named ``<sockets>/kernel-N`` (IPC
    transport), or on localhost TCP where that path would be too long for a socket.
    """
    specs = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    prefix = sockets / "kernel"
    transport = ({"transport": "ipc", "ip": str(prefix)}
                 if os.name == "posix" and len(str(prefix)) + 3 < _SOCKET_PATH_MAX else {})
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs, **transport)
