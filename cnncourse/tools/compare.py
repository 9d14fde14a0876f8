"""A submitted notebook compared with its release version: what a grader would trip over.

Scope: reading a notebook file (``read_notebook``: invalid JSON in words) and
comparing its graded cells with the release version (``compare_with_reference``:
cells deleted, duplicated, added, moved, or read-only cells edited, by nbgrader's
``grade_id`` metadata and checksums); ``find_reference`` finds that release
version. ``cnncourse check`` (``cnncourse.tools.check``) reports these problems
to students; ``cnncourse grade`` turns them into notes for the instructor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbgrader import utils as nbgrader_utils

_SHOWN = 6  # problems of one kind shown before "... and N more"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a notebook, in words a student can act on.

    Attributes:
        kind: a short tag ("invalid_json", "missing_cell", "duplicated_cell",
            "unknown_cell", "edited_cell", "changed_metadata", "reordered",
            "failing_cell", "kernel_died", "large_output", "no_reference", and for saved training runs
            "run_missing", "run_smoke", "run_modified", "run_unloadable").
        message: the sentence shown in the report.
        grade_id: the nbgrader cell concerned, if any.
    """

    kind: str
    message: str
    grade_id: str | None = None

    def __str__(self) -> str:
        return self.message


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
        >>> test = nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {
        ...     "grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "test_one"}})
        >>> reference = nbformat.v4.new_notebook(cells=[test])
        >>> compare_with_reference(reference, reference)
        []
        >>> twice = nbformat.v4.new_notebook(cells=[test, nbformat.v4.new_code_cell(test.source, metadata=test.metadata)])
        >>> [p.kind for p in compare_with_reference(twice, reference)]
        ['duplicated_cell']
        >>> print(compare_with_reference(nbformat.v4.new_notebook(), reference)[0])
        the test cell test_one was deleted (...)
    """
    ref_cells = [c for c in reference.cells if cell_grade_id(c)]
    ref_by_id = {cell_grade_id(c): c for c in ref_cells}
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        if cell_grade_id(cell):
            positions.setdefault(cell_grade_id(cell), []).append(index)
    problems: list[Problem] = []
    for grade_id, ref in ref_by_id.items():
        found = positions.get(grade_id, [])
        role = cell_role(ref)
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
    problems += _order_problems([g for g in (cell_grade_id(c) for c in nb.cells) if g in ref_by_id],
                                [cell_grade_id(c) for c in ref_cells])
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


def cell_grade_id(cell: Any) -> str | None:
    """The nbgrader ``grade_id`` of a graded, answer, read-only or task cell; None for other cells.

    Example:
        >>> cell_grade_id(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "a", "solution": True}}))
        'a'
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not isinstance(meta, dict):
        return None
    if meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task"):
        return meta.get("grade_id")
    return None


def cell_role(cell: Any) -> str:
    """What a graded cell is, in words: "test cell", "answer cell", "written answer" or "read-only cell".

    Example:
        >>> cell_role(nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "points": 1}}))
        'test cell'
    """
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


def find_reference(path: str | Path, *, release: str | Path | None = None,
                   course_dir: str | Path | None = None) -> Path | None:
    """The release version to compare a notebook with, or None if there is none to find.

    Order: ``release`` (a notebook, or a folder holding one of the same name);
    else ``<course>/release/<assignment>/<name>``, where the course is
    ``course_dir`` or the nearest parent folder with ``nbgrader_config.py``,
    and the assignment is the notebook's folder name.

    Example (in a course folder, for ``submitted/alice/01_conv_arithmetic/conv_arithmetic.ipynb``
    it is ``release/01_conv_arithmetic/conv_arithmetic.ipynb``)::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = Path(folder, "nbgrader_config.py").write_text("")
        ...     Path(folder, "release", "01_a").mkdir(parents=True)
        ...     _ = Path(folder, "release", "01_a", "a.ipynb").write_text("{}")
        ...     found = find_reference(Path(folder, "submitted", "alice", "01_a", "a.ipynb"))
        ...     found.relative_to(folder).as_posix()
        'release/01_a/a.ipynb'
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


def self_consistency(nb: Any) -> list[Problem]:
    """Without a release version: read-only cells whose content no longer matches the checksum they carry."""
    problems = [Problem("no_reference", "no release version found to compare with, so deleted or moved cells cannot "
                        "be detected (pass --release PATH)")]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell_grade_id(cell) and meta.get("locked") and meta.get("checksum"):
            if nbgrader_utils.compute_checksum(cell) != meta["checksum"]:
                problems.append(Problem("edited_cell", f"the read-only {cell_role(cell)} {cell_grade_id(cell)} was edited; "
                                        "the original is used when grading", cell_grade_id(cell)))
    return problems
