"""Benchmark 7: the wall time of every assignment and lecture notebook in the smoke budget.

Scope: run each notebook under ``source/*/`` and ``course/`` from top to bottom
with nbclient, in a fresh kernel with ``CNNCOURSE_BUDGET=smoke``, in a copy of
its folder (so nothing it writes lands in the repository), and time it from
the kernel's start to the last cell. Not a ratio: these are this machine's
times, once per notebook. The full budget runs on the course's GPU hub and is
not measured here.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bench.report import Table
from bench.settings import REPO, Settings

CELL_TIMEOUT_S = 900


def notebook_paths(repo: Path = REPO) -> list[Path]:
    """Every assignment notebook (``source/*/*.ipynb``) and lecture (``course/*.ipynb``), sorted.

    Example:
        >>> [p.relative_to(REPO).as_posix() for p in notebook_paths()][:1]
        ['source/01_conv_arithmetic/conv_arithmetic.ipynb']
    """
    return sorted(Path(repo).glob("source/*/*.ipynb")) + sorted(Path(repo).glob("course/*.ipynb"))


def execute(path: Path, scratch: Path, *, threads: int, timeout: int = CELL_TIMEOUT_S,
            budget: str = "smoke", allow_errors: bool = False) -> tuple[float, str | None]:
    """Run one notebook in a copy of its folder, in ``budget``; returns (seconds, None) or (seconds, the error).

    With ``allow_errors`` a cell that raises does not stop the run (what a student running every cell sees).

    Example:
        >>> execute(Path("course/01_convolution_arithmetic.ipynb"), Path("/tmp/nb"), threads=2)
        (41.2..., None)
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    folder = Path(scratch) / f"{path.parent.parent.name}_{path.parent.name}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebook = nbformat.read(folder / path.name, as_version=4)
    env = dict(os.environ, CNNCOURSE_BUDGET=budget, OMP_NUM_THREADS=str(threads), MPLBACKEND="Agg")
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(folder)}})
    started = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        return time.perf_counter() - started, f"{err.ename}: {str(err.evalue)[:120]}"
    except (CellTimeoutError, DeadKernelError) as err:
        return time.perf_counter() - started, f"{type(err).__name__}: {str(err)[:120]}"
    return time.perf_counter() - started, None


def run(settings: Settings, notebooks: list[Path] | None = None) -> Table:
    """Time every notebook (default: ``notebook_paths()``) once and return the table.

    Example:
        >>> run(Settings("reduced", 3, 2, SHARED_MNIST, Path("/tmp/bench"))).rows[0][0]
        'source/01_conv_arithmetic/conv_arithmetic.ipynb'
    """
    paths = notebook_paths() if notebooks is None else [Path(p) for p in notebooks]
    if not paths:
        raise FileNotFoundError(f"no notebooks found under {REPO}/source/*/ or {REPO}/course/")
    scratch = settings.work / "notebooks"
    rows, total, failed = [], 0.0, 0
    for path in paths:
        seconds, error = execute(path, scratch, threads=settings.threads)
        total += seconds
        failed += error is not None
        smoke = f"{seconds:.1f} s" if error is None else f"failed after {seconds:.1f} s ({error})"
        rows.append([_name(path), smoke, "not measured (no GPU here)"])
    rows.append(["**all notebooks**", f"**{total:.1f} s**" + (f" ({failed} failed)" if failed else ""), ""])
    return Table(
        key="notebooks",
        title="7. Notebooks: wall time in the smoke budget",
        setup=(f"Each notebook once, in a fresh kernel (start-up included) with CNNCOURSE_BUDGET=smoke and "
               f"OMP_NUM_THREADS={settings.threads}, executed by nbclient in a copy of its folder."),
        columns=["notebook", "smoke budget, this machine", "full budget, GPU"],
        rows=rows,
    )


def _name(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path.name
