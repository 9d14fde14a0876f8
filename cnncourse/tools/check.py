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
- outputs so large that the notebook is slow to hand in and to grade.

``compare_with_reference`` (the structural part) is also what ``cnncourse
grade`` uses for its notes. Exit status: 0 when nothing is wrong, 1 when
something is, 2 for bad usage.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbgrader import utils as nbgrader_utils

DEFAULT_MAX_OUTPUT_BYTES = 5_000_000
_COPY_LIMIT_BYTES = 500_000_000  # a notebook folder larger than this is not copied for a run
_SHOWN = 6  # problems of one kind shown before "... and N more"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a notebook, in words a student can act on.

    Attributes:
        kind: a short tag ("invalid_json", "missing_cell", "duplicated_cell",
            "unknown_cell", "edited_cell", "changed_metadata", "reordered",
            "failing_cell", "kernel_died", "large_output", "no_reference").
        message: the sentence shown in the report.
        grade_id: the nbgrader cell concerned, if any.
    """

    kind: str
    message: str
    grade_id: str | None = None

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------------------
# structure: compare with the release version


def read_notebook(path: str | Path) -> tuple[Any, list[Problem]]:
    """Parse a notebook file; ``(None, [problem])`` when it is not a readable notebook.

    Example:
        >>> read_notebook("/nonexistent.ipynb")[1][0].kind
        'missing_file'
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem("missing_file", f"{path} does not exist")]
    except (UnicodeDecodeError, IsADirectoryError) as err:
        return None, [Problem("invalid_json", f"{path.name} is not a text file ({err}); submit the .ipynb file itself")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, [Problem("invalid_json", f"{path.name} is not valid notebook JSON ({err.msg} at line "
                              f"{err.lineno}, column {err.colno}); it cannot be graded. Open it in JupyterLab: "
                              "if it does not open, download your last checkpoint or start again from the released "
                              "notebook")]
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, [Problem("invalid_json", f"{path.name} is JSON but not a notebook (no list of cells)")]
    try:
        nb = nbformat.from_dict(data)
        if nb.get("nbformat", 4) < 4:
            nb = nbformat.convert(nb, 4)
    except Exception as err:  # nbformat raises many kinds for odd input
        return None, [Problem("invalid_json", f"{path.name} is not a valid notebook: {err}")]
    for cell in nb.cells:
        if isinstance(cell.get("source"), list):
            cell.source = "".join(cell.source)
        cell.setdefault("metadata", nbformat.NotebookNode())
    return nb, []


def compare_with_reference(nb: Any, reference: Any) -> list[Problem]:
    """What differs, in graded cells, between a submitted notebook and its release version.

    Args:
        nb: the submitted notebook (``read_notebook``'s result).
        reference: the release (student) version of the same notebook.

    Returns:
        Problems of the kinds missing_cell, duplicated_cell, unknown_cell,
        edited_cell, changed_metadata and reordered.

    Example:
        >>> ref, _ = read_notebook("release/01_conv_arithmetic/conv_arithmetic.ipynb")  # doctest: +SKIP
        >>> compare_with_reference(ref, ref)  # doctest: +SKIP
        []
    """
    ref_cells = [c for c in reference.cells if _grade_id(c)]
    ref_by_id = {_grade_id(c): c for c in ref_cells}
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        if _grade_id(cell):
            positions.setdefault(_grade_id(cell), []).append(index)
    problems: list[Problem] = []
    for grade_id, ref in ref_by_id.items():
        found = positions.get(grade_id, [])
        role = _role(ref)
        if not found:
            consequence = {
                "test cell": "nbgrader puts the original back when grading",
                "answer cell": "its tests will fail",
                "written answer": "it gets no points",
            }.get(role, "it is put back only if graded")
            problems.append(Problem("missing_cell", f"the {role} {grade_id} was deleted ({consequence})", grade_id))
            continue
        if len(found) > 1:
            problems.append(Problem("duplicated_cell", f"the {role} {grade_id} appears {len(found)} times (cells "
                                    f"{', '.join(map(str, found))}); only the last copy is graded", grade_id))
        cell = nb.cells[found[-1]]
        changed = _changed_metadata(cell, ref)
        if changed:
            problems.append(Problem("changed_metadata", f"the nbgrader settings of the {role} {grade_id} were changed "
                                    f"({', '.join(changed)}); grading uses the release's", grade_id))
        elif _is_locked(ref) and nbgrader_utils.compute_checksum(cell) != _checksum(ref):
            what = "the original tests run when grading" if role == "test cell" else "the original is used when grading"
            problems.append(Problem("edited_cell", f"the read-only {role} {grade_id} was edited; {what}", grade_id))
    for grade_id, found in positions.items():
        if grade_id not in ref_by_id:
            problems.append(Problem("unknown_cell", f"cell {found[0]} carries grading metadata for {grade_id!r}, "
                                    "which the release does not have (copied from another notebook?); it is not "
                                    "graded", grade_id))
    problems += _order_problems([g for g in (_grade_id(c) for c in nb.cells) if g in ref_by_id],
                                [_grade_id(c) for c in ref_cells])
    return problems


def _order_problems(submitted: list[str], reference: list[str]) -> list[Problem]:
    """One problem per graded cell that now comes before a cell it followed in the release."""
    rank = {grade_id: i for i, grade_id in enumerate(reference)}
    seen_last: dict[str, int] = {}
    for index, grade_id in enumerate(submitted):
        seen_last[grade_id] = index
    order = sorted(seen_last, key=seen_last.get)
    moved = [(g, [h for h in order[i + 1:] if rank[h] < rank[g]]) for i, g in enumerate(order)]
    moved = [(g, later) for g, later in moved if later]
    if not moved:
        return []
    first, later = moved[0]
    others = [g for g, _ in moved[1:]]
    who = ", ".join([first, *others][:_SHOWN]) + (" ..." if len(moved) > _SHOWN else "")
    return [Problem("reordered", f"the cells are in a different order: {who} now "
                    f"{'come' if len(moved) > 1 else 'comes'} before {', '.join(later[:3])}; cells run top to bottom, "
                    "so a test that runs before its answer fails", first)]


def _grade_id(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not isinstance(meta, dict):
        return None
    if meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task"):
        return meta.get("grade_id")
    return None


def _role(cell: Any) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("grade") and meta.get("solution"):
        return "written answer"
    if meta.get("grade"):
        return "test cell"
    if meta.get("solution"):
        return "answer cell"
    return "read-only cell"


def _is_locked(cell: Any) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("locked"))


def _checksum(cell: Any) -> str:
    return cell.metadata.get("nbgrader", {}).get("checksum") or nbgrader_utils.compute_checksum(cell)


def _changed_metadata(cell: Any, ref: Any) -> list[str]:
    changed = []
    if cell.cell_type != ref.cell_type:
        changed.append(f"cell type {ref.cell_type} -> {cell.cell_type}")
    mine, theirs = cell.metadata.get("nbgrader", {}), ref.metadata.get("nbgrader", {})
    for key in ("grade", "solution", "locked"):
        if bool(mine.get(key)) != bool(theirs.get(key)):
            changed.append(f"{key} {bool(theirs.get(key))} -> {bool(mine.get(key))}")
    if theirs.get("grade") and _float(mine.get("points")) != _float(theirs.get("points")):
        changed.append(f"points {theirs.get('points')} -> {mine.get('points')}")
    return changed


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------
# outputs and Restart & Run All


def output_problems(nb: Any, *, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> list[Problem]:
    """A problem when the saved outputs of the notebook add up to more than ``max_output_bytes``.

    Example:
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

    Example:
        >>> run_problems("release/00_fixture/fixture.ipynb", timeout=60)  # doctest: +SKIP
        ([Problem(kind='failing_cell', ...), ...], 3.1)
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from cnncourse.tools.grading import sandbox as sandboxing

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
    with tempfile.TemporaryDirectory(prefix="cnncourse-check-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(path.parent, work, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        policy = sandboxing.make_policy(mode, run_dir=Path(tmp) / "run", home=Path(tmp) / "home",
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
            grade_id = _grade_id(cell)
            where = f"cell {index}" + (f" ({_role(cell)} {grade_id})" if grade_id else "")
            message = f"{output.get('ename')}: {output.get('evalue')}".strip()
            if len(message) > 300:
                message = message[:300] + " ..."
            hint = "; your answer is not right yet" if grade_id and _role(cell) == "test cell" else ""
            problems.append(Problem("failing_cell", f"{where} fails under Restart & Run All: {message}{hint}",
                                    grade_id))
            break
    return problems


# ---------------------------------------------------------------------------
# the command


def find_reference(path: str | Path, *, release: str | Path | None = None,
                   course_dir: str | Path | None = None) -> Path | None:
    """The release version to compare a notebook with, or None if there is none to find.

    Order: ``release`` (a notebook, or a folder holding one of the same name);
    else ``<course>/release/<assignment>/<name>``, where the course is
    ``course_dir`` or the nearest parent folder with ``nbgrader_config.py``,
    and the assignment is the notebook's folder name.

    Example:
        >>> find_reference("submitted/alice/01_conv_arithmetic/conv_arithmetic.ipynb")  # doctest: +SKIP
        PosixPath('/course/release/01_conv_arithmetic/conv_arithmetic.ipynb')
    """
    path = Path(path).resolve()
    if release is not None:
        release = Path(release)
        candidate = release / path.name if release.is_dir() else release
        if not candidate.is_file():
            raise FileNotFoundError(f"no release version of {path.name} at {candidate}; pass the released .ipynb "
                                    "or the folder that holds it")
        return candidate
    courses = ([Path(course_dir).resolve()] if course_dir
               else [p for p in path.parents if (p / "nbgrader_config.py").is_file()])
    for course in courses[:1]:
        candidate = course / "release" / path.parent.name / path.name
        if candidate.is_file() and candidate.resolve() != path:
            return candidate
    return None


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

    Example:
        >>> check_notebook("release/00_fixture/fixture.ipynb", run=False)  # doctest: +SKIP
        []
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
        problems += _self_consistency(nb)
    problems += output_problems(nb, max_output_bytes=max_output_bytes)
    if run:
        problems += run_problems(path, timeout=timeout, sandbox=sandbox)[0]
    return problems


def _self_consistency(nb: Any) -> list[Problem]:
    """Without a release version: read-only cells whose content no longer matches the checksum they carry."""
    problems = [Problem("no_reference", "no release version found to compare with, so deleted or moved cells cannot "
                        "be detected (pass --release PATH)")]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if _grade_id(cell) and meta.get("locked") and meta.get("checksum"):
            if nbgrader_utils.compute_checksum(cell) != meta["checksum"]:
                problems.append(Problem("edited_cell", f"the read-only {_role(cell)} {_grade_id(cell)} was edited; "
                                        "the original is used when grading", _grade_id(cell)))
    return problems


def notebooks_under(target: str | Path) -> list[Path]:
    """The notebook itself, or every ``.ipynb`` under a folder (checkpoints skipped), sorted.

    Raises:
        FileNotFoundError: ``target`` does not exist.

    Example:
        >>> notebooks_under("release/01_conv_arithmetic")  # doctest: +SKIP
        [PosixPath('release/01_conv_arithmetic/conv_arithmetic.ipynb')]
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

    Example:
        >>> check(["submitted/alice/01_conv_arithmetic"], run=False)  # doctest: +SKIP
        conv_arithmetic.ipynb: no problems found (compared with release/01_conv_arithmetic/conv_arithmetic.ipynb)
        0
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
    if not serious:
        return f"{label}: no problems found ({how})"
    lines = [f"{label}: {len(serious)} problem{'s' if len(serious) != 1 else ''} ({how})"]
    lines += [f"  - {p.message}" for p in problems]
    return "\n".join(lines)


def _short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
