"""Check a notebook before it is submitted, or a folder of submissions before grading.

Scope: ``cnncourse check NOTEBOOK|FOLDER``. A short report in plain words, per
notebook, of what would go wrong when it is graded:

- the file is not valid notebook JSON;
- graded cells deleted, duplicated, added or moved, compared with the release
  version (nbgrader's ``grade_id`` metadata and checksums);
- read-only cells edited: a changed test cell is replaced by the original when
  grading, so the change does not help;
- cells that fail under Restart & Run All (``run=True``; a failing test cell is
  an answer that is not right yet);
- outputs so large that the notebook is slow to hand in and to grade;
- saved training runs (``cnncourse.runs``, in ``runs/`` beside the notebook)
  that grading cannot use: named in a ``trained_or_loaded("name", ...)`` call
  but missing, trained in the smoke budget when checking under the full one,
  a weights file that is not the one its record was saved with, or a record
  that does not read. Whether a run fits the notebook's model is known only
  when the notebook runs (its classes are not available statically).

The structural part (reading, comparing with the release version) is
``cnncourse.tools.compare``, which ``cnncourse grade`` also uses for its notes. Exit status: 0 when nothing is wrong, 1 when
something is, 2 for bad usage.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cnncourse.tools.compare import (Problem, cell_grade_id, cell_role, compare_with_reference, find_reference, read_notebook,
                                     self_consistency)

DEFAULT_MAX_OUTPUT_BYTES = 5_000_000
_COPY_LIMIT_BYTES = 500_000_000  # a notebook folder larger than this is not copied for a run
_RUN_CALL = re.compile(r"""\btrained_or_loaded\(\s*(?:name\s*=\s*)?["']([^"'\n]+)["']""")
_RERUN = "restart the kernel and run the whole notebook"


# ---------------------------------------------------------------------------
# outputs and Restart & Run All


def output_problems(nb: Any, *, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> list[Problem]:
    """A problem when the saved outputs of the notebook add up to more than ``max_output_bytes``.

    Example:
        >>> import nbformat
        >>> output_problems(nbformat.v4.new_notebook())
        []
    """
    sizes = [(len(json.dumps(cell.get("outputs", []))), i)
             for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    total = sum(size for size, _ in sizes)
    if total <= max_output_bytes:
        return []
    largest = ", ".join(f"cell {i} ({size / 1e6:.1f} MB)" for size, i in sorted(sizes, reverse=True)[:3])
    return [Problem("large_output", f"the saved outputs take {total / 1e6:.1f} MB "
                    f"(limit {max_output_bytes / 1e6:.1f} MB), "
                    f"mostly {largest}; clear them (Edit > Clear Outputs of All Cells) and print less")]


def run_problems(path: str | Path, *, timeout: float = 600, sandbox: str = "off") -> tuple[list[Problem], float]:
    """Restart & Run All on a copy of the notebook's folder; a problem per failing cell, and the seconds taken.

    The notebook and its folder are never changed: the run happens in a
    temporary copy. ``sandbox`` (see ``cnncourse.tools.grading.sandbox``) isolates the
    kernel, for notebooks written by someone else.

    Example::

        run_problems("release/00_fixture/fixture.ipynb", timeout=60)
        # ([Problem(kind='failing_cell', ...), ...], 3.1)
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from cnncourse.tools.grading import sandbox as sandboxing
    from cnncourse.tools.grading.uids import clean_up_uid, reserve_uids

    path = Path(path).resolve()
    nb, problems = read_notebook(path)
    if nb is None:
        return problems, 0.0
    size = sum(p.stat().st_size for p in path.parent.rglob("*") if p.is_file())
    if size > _COPY_LIMIT_BYTES:
        return [Problem("not_run", f"not run: the folder {path.parent} holds {size / 1e9:.1f} GB; "
                        "move the notebook into a folder of its own")], 0.0
    mode = sandboxing.choose_mode(sandbox)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnncourse-check-") as tmp, ExitStack() as held:
        work = Path(tmp) / "work"
        shutil.copytree(path.parent, work, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        uid_base = (held.enter_context(reserve_uids(sandboxing.DEFAULT_UID_BASE, 1))  # ids no grading run holds
                    if sandboxing.own_user_ids(mode) else sandboxing.DEFAULT_UID_BASE)
        policy = sandboxing.make_policy(mode, run_dir=Path(tmp) / "run", home=Path(tmp) / "home", uid_base=uid_base,
                                        hide=[path.parent], env={"NBGRADER_EXECUTION": "validate"})
        sandboxing.prepare_folders(policy, traverse=[tmp])
        policy_file = policy.save(Path(tmp) / "policy.json")
        spec = sandboxing.write_kernel_spec(Path(tmp) / "share", policy_file)
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager(kernel_dirs=[str(spec.parent.parent)], ensure_native_kernel=False)
        extra = ({"transport": "ipc", "ip": str(Path(policy.run_dir) / "kernel")}
                 if sandboxing.uses_unix_sockets(mode) else {})
        km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs, **extra)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        client = NotebookClient(nb, km=km, timeout=int(timeout), allow_errors=True, interrupt_on_timeout=True,
                                error_on_timeout={"ename": "CellTimeoutError", "traceback": [],
                                                  "evalue": f"no result within {timeout:g} s"},
                                resources={"metadata": {"path": str(work)}})
        try:
            client.execute()
        except DeadKernelError:
            problems.append(Problem("kernel_died", "the kernel died while the notebook ran (os._exit, a crash or "
                                    "running out of memory); the cells after it never ran"))
        except Exception as err:  # a kernel that cannot start, or a timeout waiting for output
            problems.append(Problem("not_run", "the notebook could not be run to the end: "
                                    f"{type(err).__name__}: {err}"))
        finally:
            run_sync(_shut_down)(km)  # nbclient leaves a kernel it did not start running
            if policy.uid is not None:
                clean_up_uid(policy.uid)  # its processes, IPC objects and temporary files
    problems += _failing_cells(nb)
    return problems, time.perf_counter() - start


async def _shut_down(km: Any) -> None:
    """Stop the kernel: a shutdown request, then force after jupyter_client's wait."""
    if await km.is_alive():
        await km.shutdown_kernel(now=False)


def _failing_cells(nb: Any) -> list[Problem]:
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") != "error":
                continue
            gid = cell_grade_id(cell)
            where = f"cell {index}" + (f" ({cell_role(cell)} {gid})" if gid else "")
            name, value = str(output.get("ename") or "an error"), str(output.get("evalue") or "").strip()
            message = f"{name} ({value})" if value else name  # NotImplementedError has no text: no stray colon
            if len(message) > 300:
                message = message[:300] + " ...)"
            hint = ": your answer is not right yet" if gid and cell_role(cell) == "test cell" else ""
            problems.append(Problem("failing_cell", f"{where} raises {message} under Restart & Run All{hint}",
                                    gid))
            break
    return problems


# ---------------------------------------------------------------------------
# saved training runs


def run_names(nb: Any) -> list[str]:
    """The runs the notebook's code cells train or load: the names in ``trained_or_loaded("name", ...)`` calls.

    Example:
        >>> import nbformat
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        ...     'h = trained_or_loaded("lenet", lenet, lambda: fit())\\nm = trained_or_loaded(\\n    "mlp", mlp, f)')])
        >>> run_names(nb)
        ['lenet', 'mlp']
    """
    found = [name for cell in nb.cells if cell.cell_type == "code" for name in _RUN_CALL.findall(cell.source)]
    return list(dict.fromkeys(found))


def saved_run_problems(path: str | Path, nb: Any, *, budget: str | None = None) -> list[Problem]:
    """Problems with the saved training runs in ``runs/`` beside the notebook (see the module docstring).

    Args:
        path: the notebook; its runs are in ``runs/`` beside it.
        nb: the notebook, read.
        budget: the budget grading will use (default: ``CNNCOURSE_BUDGET``); a smoke run is a problem under "full".

    Example::

        saved_run_problems("lenet.ipynb", nb)
        # [Problem(kind='run_missing', message="no saved run 'lenet' (runs/lenet.pt): ...")]
    """
    from cnncourse.settings import RUNS_FOLDER, current_budget

    folder = Path(path).parent / RUNS_FOLDER
    names = run_names(nb)
    present = sorted({p.stem for p in folder.glob("*.json")} | {p.stem for p in folder.glob("*.pt")}) \
        if folder.is_dir() else []
    if not names and not present:
        return []
    from cnncourse.runs import RunError, inspect_run  # torch: only for notebooks that save runs

    budget = budget or current_budget()
    problems = []
    for name in list(dict.fromkeys([*names, *present])):
        shown = f"{RUNS_FOLDER}/{name}.pt"
        try:
            info = inspect_run(name, folder=folder)
        except ValueError as error:  # not a name a run can have
            problems.append(Problem("run_unloadable", f"saved run {name!r}: {error}"))
            continue
        except RunError as error:
            if error.reason == "missing" and name not in present:
                problems.append(Problem("run_missing", (
                    f"no saved run {name!r} ({shown}): the notebook trains it with trained_or_loaded, but grading "
                    f"does not train, it loads {shown} and {RUNS_FOLDER}/{name}.json; {_RERUN} (full budget), then "
                    f"submit the {RUNS_FOLDER}/ folder with the notebook")))
            elif error.reason == "missing":
                problems.append(Problem("run_missing", (
                    f"saved run {name!r} is incomplete: {error.path.name} is missing from {RUNS_FOLDER}/ (a run is "
                    f"two files, {name}.pt and {name}.json); {_RERUN} to save both again")))
            else:
                problems.append(Problem("run_unloadable", f"saved run {name!r}: {error}"))
            continue
        if info.budget == "smoke" and budget == "full":
            problems.append(Problem("run_smoke", (
                f"saved run {name!r} ({shown}) was trained in the smoke budget ({info.epochs} epochs), but grading "
                f"uses the full budget and its accuracy bar: unset CNNCOURSE_BUDGET, {_RERUN}, then submit the "
                f"{RUNS_FOLDER}/ folder")))
        if info.sha256 != info.saved_sha256:
            problems.append(Problem("run_modified", (
                f"saved run {name!r}: {shown} is not the weights file saved with {RUNS_FOLDER}/{name}.json (its "
                f"SHA-256 {info.sha256[:12]}... differs from the recorded {info.saved_sha256[:12]}...); the two "
                f"files must come from the same training run: {_RERUN} to save both again")))
    return problems


# ---------------------------------------------------------------------------
# the command


def check_notebook(path: str | Path, *, reference: str | Path | None = None, run: bool = True, timeout: float = 600,
                   max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, sandbox: str = "off") -> list[Problem]:
    """Every problem found in one notebook (see the module docstring).

    Args:
        path: the notebook.
        reference: its release version; None compares each read-only cell with the checksum it carries.
        run: also Restart & Run All (in a temporary copy).
        timeout: seconds per cell for the run.
        max_output_bytes: the most saved output the notebook may hold.
        sandbox: isolation for the run (``cnncourse.tools.grading.sandbox`` modes, or "auto").

    Example::

        check_notebook("release/00_fixture/fixture.ipynb", run=False)
        # []
    """
    nb, problems = read_notebook(path)
    if nb is None:
        return problems
    if reference is not None:
        ref, ref_problems = read_notebook(reference)
        if ref is None:
            raise ValueError(f"the release version {reference} cannot be read: {ref_problems[0]}")
        problems += compare_with_reference(nb, ref)
    else:
        problems += self_consistency(nb)
    problems += output_problems(nb, max_output_bytes=max_output_bytes)
    problems += saved_run_problems(path, nb)
    if run:
        problems += run_problems(path, timeout=timeout, sandbox=sandbox)[0]
    return problems


def notebooks_under(target: str | Path) -> list[Path]:
    """The notebook itself, or every ``.ipynb`` under a folder (checkpoints skipped), sorted.

    Raises:
        FileNotFoundError: ``target`` does not exist.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     Path(folder, ".ipynb_checkpoints").mkdir()
        ...     for name in ("b.ipynb", "a.ipynb", "notes.txt", ".ipynb_checkpoints/a-checkpoint.ipynb"):
        ...         _ = Path(folder, name).write_text("{}")
        ...     [p.name for p in notebooks_under(folder)]
        ['a.ipynb', 'b.ipynb']
    """
    target = Path(target)
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise FileNotFoundError(f"{target} does not exist: give a notebook (.ipynb) or a folder of notebooks")
    return sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def check(targets: Sequence[str | Path], *, release: str | Path | None = None, course_dir: str | Path | None = None,
          run: bool = True, timeout: float = 600, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
          sandbox: str = "off") -> int:
    """Check notebooks and folders of notebooks, print a short report, and return the exit status.

    Returns:
        0 when no notebook has a problem, 1 otherwise.

    Raises:
        FileNotFoundError: a target does not exist.
        ValueError: no notebook found under the targets.

    Example::

        check(["submitted/alice/01_conv_arithmetic"], run=False)
        # conv_arithmetic.ipynb: no problems found (compared with release/01_conv_arithmetic/conv_arithmetic.ipynb)
        # 0
    """
    if isinstance(targets, (str, Path)):
        raise TypeError(f"targets must be a list of paths, got the single path {targets!r}; write [{targets!r}]")
    notebooks = [nb for target in targets for nb in notebooks_under(target)]
    if not notebooks:
        raise ValueError(f"no notebooks (.ipynb) found under {', '.join(map(str, targets))}")
    failed = 0
    for path in notebooks:
        reference = find_reference(path, release=release, course_dir=course_dir)
        started = time.perf_counter()
        problems = check_notebook(path, reference=reference, run=run, timeout=timeout,
                                  max_output_bytes=max_output_bytes, sandbox=sandbox)
        seconds = time.perf_counter() - started
        serious = [p for p in problems if p.kind != "no_reference"]
        failed += bool(serious)
        print(_report(path, problems, reference=reference, ran=run, seconds=seconds))
    if len(notebooks) > 1:
        print(f"\n{len(notebooks) - failed} of {len(notebooks)} notebooks have no problems.")
    return 1 if failed else 0


def _report(path: Path, problems: list[Problem], *, reference: Path | None, ran: bool, seconds: float) -> str:
    label = _short(path)
    compared = f"compared with {_short(reference)}" if reference else "no release version to compare with"
    how = f"{compared}; ran every cell in {seconds:.0f} s" if ran else compared
    serious = [p for p in problems if p.kind != "no_reference"]
    # A missing release version is a note, not a problem: the same wording whether the notebook is right or not.
    notes = [f"  note: {p.message}" for p in problems if p.kind == "no_reference"]
    if not serious:
        return "\n".join([f"{label}: no problems found ({how})", *notes])
    lines = [f"{label}: {len(serious)} problem{'s' if len(serious) != 1 else ''} ({how})"]
    lines += [f"  - {p.message}" for p in serious]
    return "\n".join([*lines, *notes])


def _short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
