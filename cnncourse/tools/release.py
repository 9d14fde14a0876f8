"""Generating the student notebooks: release/ from source/ with nbgrader, byte-stable.

``release`` regenerates ``release/<assignment>/`` from ``source/<assignment>/``
with nbgrader's own ``generate_assignment``, run in a throw-away copy of the
course directory (so no gradebook, log or grading state lands in the
repository), then normalises every notebook so that the output is byte-stable
from run to run. ``release(..., check=True)`` changes nothing and reports, in
words, which files are missing, extra or out of date.

Feedback for students (hidden tests cut out) is ``cnncourse.tools.feedback``.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from cnncourse.settings import RUNS_FOLDER

# Entries of source/<assignment>/ (and release/) that are never part of a release: editor and Python
# leftovers, and the training runs a notebook saved beside itself (RUNS_FOLDER).
_IGNORED = (".ipynb_checkpoints", "__pycache__", "*.pyc", ".DS_Store", ".nbgrader.log", RUNS_FOLDER)
# Metadata that records a session (timings, view state), not the content.
_VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "trusted")
_VOLATILE_NOTEBOOK_METADATA = ("widgets", "celltoolbar")
_DIFF_LINES = 14  # unified-diff lines shown per out-of-date file


# ---------------------------------------------------------------------------
# release / check


def known_assignments(course_dir: str | Path = ".") -> list[str]:
    """The assignment folders in ``<course_dir>/source/``, sorted by name.

    Example::

        known_assignments(".")
        # ['01_conv_arithmetic']
    """
    source = Path(course_dir) / "source"
    if not source.is_dir():
        raise FileNotFoundError(
            f"{source} does not exist: course_dir must be the course root, the folder that holds source/ "
            "and nbgrader_config.py (run from the repository root or pass --course-dir)"
        )
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not _is_ignored(p.name))


def normalise_notebook(text: str, *, cell_ids: Sequence[str | None] | None = None) -> str:
    """Rewrite a notebook's JSON so that equal content always gives equal bytes.

    Outputs and execution counts are cleared, session metadata (cell timings,
    widget state) dropped, keys sorted, sources stored as lists of lines, and
    the JSON laid out the way Jupyter writes it (indent 1) with a trailing
    newline. ``cell_ids``, when given, replaces the cell ids position by
    position (``None`` entries and missing ids become ``cell-<index>``), so a
    source without ids still yields stable ids.

    Example:
        >>> text = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
        >>> normalise_notebook(text).endswith("}\\n")
        True
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise_notebook expects the notebook's JSON text as str, got {type(text).__name__}")
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not a notebook: the text is not valid JSON ({err})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a notebook: the JSON has no 'cells' list (is this an .ipynb file?)")
    if cell_ids is not None and len(cell_ids) != len(nb["cells"]):
        raise ValueError(f"cell_ids has {len(cell_ids)} entries but the notebook has {len(nb['cells'])} cells")

    with_ids = (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5)
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.setdefault("metadata", {})
        for key in _VOLATILE_CELL_METADATA:
            metadata.pop(key, None)
        cell["source"] = _split_lines(cell.get("source", ""))
        if with_ids:
            wanted = cell_ids[index] if cell_ids is not None else cell.get("id")
            cell["id"] = wanted or f"cell-{index}"
    for key in _VOLATILE_NOTEBOOK_METADATA:
        nb.setdefault("metadata", {}).pop(key, None)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def student_files(assignment: str, *, course_dir: str | Path = ".") -> dict[str, bytes]:
    """Generate the student version of one assignment without touching the course directory.

    Runs ``nbgrader generate_assignment`` in a temporary copy of
    ``source/<assignment>/`` (with the course's ``nbgrader_config.py``, user
    and system Jupyter config ignored) and returns every released file, keyed
    by its path relative to ``release/<assignment>/``. Notebooks come back
    normalised (see ``normalise_notebook``); other files verbatim.

    Example::

        files = student_files("01_conv_arithmetic", course_dir=".")
        sorted(files)
        # ['conv_arithmetic.ipynb']
    """
    course = Path(course_dir).resolve()
    _check_names([assignment], course)
    with tempfile.TemporaryDirectory(prefix="cnncourse-release-") as tmp:
        work = Path(tmp)
        shutil.copytree(course / "source" / assignment, work / "source" / assignment,
                        ignore=shutil.ignore_patterns(*_IGNORED))
        if (course / "nbgrader_config.py").is_file():
            shutil.copy2(course / "nbgrader_config.py", work / "nbgrader_config.py")
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--no-db",
                   f"--CourseDirectory.root={work}", "--log-level=WARN"]
        done = subprocess.run(command, cwd=work, env=nbgrader_environment(), capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
            raise RuntimeError(
                f"nbgrader generate_assignment {assignment} failed (exit {done.returncode}); fix "
                f"source/{assignment}/ (cell metadata, solution or hidden-test markers) and retry. "
                f"nbgrader said:\n{tail}"
            )
        released = work / "release" / assignment
        files: dict[str, bytes] = {}
        for path in _files_under(released):
            relative = path.relative_to(released).as_posix()
            data = path.read_bytes()
            if path.suffix == ".ipynb":
                source_text = (work / "source" / assignment / relative).read_text(encoding="utf-8")
                text = normalise_notebook(data.decode("utf-8"), cell_ids=_matching_ids(source_text, data))
                data = text.encode("utf-8")
            files[relative] = data
        return files


def nbgrader_environment() -> dict[str, str]:
    """Environment variables for running nbgrader's apps in a subprocess, isolated from personal config.

    The running interpreter's ``bin/`` goes first on ``PATH`` (nbgrader calls
    the ``alembic`` executable, which lives beside it in a virtual
    environment), and ``JUPYTER_NO_CONFIG`` keeps a personal
    ``~/.jupyter/nbgrader_config.py`` from changing what is generated; the
    course's own ``nbgrader_config.py`` is still read.

    Example:
        >>> "JUPYTER_NO_CONFIG" in nbgrader_environment()
        True
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "JUPYTER_NO_CONFIG": "1"}


def release(assignments: Sequence[str] = (), *, check: bool = False, course_dir: str | Path = ".") -> int:
    """Regenerate ``release/<assignment>/`` from ``source/<assignment>/``, or check that it is current.

    Args:
        assignments: folder names in ``source/``; empty means all of them (and
            then folders in ``release/`` without a source count as extra).
        check: change nothing; print what is missing, extra or out of date.
        course_dir: the course root (holds ``source/``, ``release/`` and
            ``nbgrader_config.py``).

    Returns:
        The exit status: 0 when written, or in sync under ``check``; 1 when
        ``check`` finds ``release/`` out of date.

    Example::

        release(["01_conv_arithmetic"], check=True, course_dir=".")
        # release/ is in sync with source/ (1 assignment checked).
        # 0
    """
    if isinstance(assignments, str):
        raise TypeError(f"assignments must be a list of names, got the string {assignments!r}; write [{assignments!r}]")
    course = Path(course_dir).resolve()
    known = known_assignments(course)
    names = list(assignments) or known
    _check_names(names, course)
    release_root = course / "release"

    changes: list[_Change] = []
    doing = "Checking release/ against" if check else "Regenerating release/ from"
    print(f"{doing} source/ with nbgrader, one assignment at a time (each takes seconds):", flush=True)
    for name in names:
        print(f"  {name} ...", end=" ", flush=True)  # nbgrader is slow to start: say what it is working on
        started = time.perf_counter()
        found = _sync(student_files(name, course_dir=course), release_root / name,
                      label=f"release/{name}", write=not check)
        verdict = "in sync" if not found else f"{len(found)} file(s) {'out of date' if check else 'changed'}"
        print(f"{verdict} ({time.perf_counter() - started:.0f} s)", flush=True)
        changes += found
    if not assignments and release_root.is_dir():
        for orphan in sorted(p for p in release_root.iterdir() if not _is_ignored(p.name) and p.name not in known):
            changes.append(_Change(f"release/{orphan.name}", "orphan", ""))
            if not check and orphan.is_dir():
                shutil.rmtree(orphan)
            elif not check:
                orphan.unlink()

    count = f"{len(names)} assignment{'s' if len(names) != 1 else ''}"
    if not check:
        print(f"Regenerated release/ from source/ ({count}): {len(changes)} file(s) changed.")
        for change in changes:
            print(f"  {change.path}: {_WRITTEN[change.kind]}")
        return 0
    if not changes:
        print(f"release/ is in sync with source/ ({count} checked).")
        return 0
    print(f"release/ is out of date with source/ ({len(changes)} problem(s)); "
          "run `cnncourse release` to regenerate it:")
    for change in changes:
        print(f"  {change.path}: {_CHECKED[change.kind]}")
        if change.detail:
            print(_indent(change.detail, "      "))
    return 1


class _Change(NamedTuple):
    path: str  # as shown to people, e.g. release/01_x/x.ipynb
    kind: str  # "missing" | "extra" | "differs" | "orphan"
    detail: str  # a few lines of diff, for "differs"


_CHECKED = {
    "missing": "missing; the generated student version has it but release/ does not",
    "extra": "extra; nothing in source/ generates it (left over from an older release?)",
    "differs": "differs from a fresh generation from source/ (edited by hand, or source/ changed since)",
    "orphan": "extra; there is no matching folder in source/",
}
_WRITTEN = {"missing": "written (new)", "extra": "removed", "differs": "rewritten", "orphan": "removed"}


def _sync(expected: dict[str, bytes], folder: Path, *, label: str, write: bool) -> list[_Change]:
    """Compare (and, if ``write``, update) one release folder with its generated files."""
    present = {p.relative_to(folder).as_posix(): p for p in _files_under(folder)} if folder.is_dir() else {}
    changes: list[_Change] = []
    for relative in sorted(set(expected) | set(present)):
        where = f"{label}/{relative}"
        if relative not in present:
            changes.append(_Change(where, "missing", ""))
        elif relative not in expected:
            changes.append(_Change(where, "extra", ""))
        elif present[relative].read_bytes() != expected[relative]:
            detail = _describe_difference(present[relative].read_bytes(), expected[relative], where)
            changes.append(_Change(where, "differs", detail))
    if write:
        for relative, data in expected.items():
            if relative not in present or present[relative].read_bytes() != data:
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                (folder / relative).write_bytes(data)
        for relative in set(present) - set(expected):
            present[relative].unlink()
        for directory in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
            if not any(directory.iterdir()):
                directory.rmdir()
    return changes


def _describe_difference(committed: bytes, generated: bytes, where: str) -> str:
    """A few lines of unified diff between the committed and the generated file."""
    try:
        old_text, new_text = committed.decode("utf-8"), generated.decode("utf-8")
    except UnicodeDecodeError:
        return "binary content differs"
    note = ""
    if where.endswith(".ipynb"):
        old_cells, new_cells = _cell_view(old_text), _cell_view(new_text)
        if old_cells != new_cells:
            changed = [new for old, new in zip(old_cells, new_cells) if old != new]
            if len(old_cells) != len(new_cells):
                note = f"{len(old_cells)} cells committed, {len(new_cells)} generated\n"
            elif changed:
                note = "cells that differ: " + ", ".join(cell.split("\n", 1)[0] for cell in changed) + "\n"
            old_text, new_text = "\n".join(old_cells), "\n".join(new_cells)
        else:
            note = "cell sources are the same; metadata, outputs or JSON layout differ:\n"
    diff = list(difflib.unified_diff(old_text.splitlines(), new_text.splitlines(),
                                     fromfile=f"{where} (committed)", tofile=f"{where} (from source/)", lineterm="", n=1))
    shown = diff[:_DIFF_LINES]
    if len(diff) > _DIFF_LINES:
        shown.append(f"... ({len(diff) - _DIFF_LINES} more diff lines)")
    return note + "\n".join(shown)


def _cell_view(text: str) -> list[str]:
    """A notebook as plain text, one entry per cell: a header line, then the cell's source."""
    try:
        cells = json.loads(text)["cells"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return [text]
    parts = []
    for index, cell in enumerate(cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        header = f"[cell {index}: {cell.get('cell_type')}{', ' + grade_id if grade_id else ''}]"
        parts.append(header + "\n" + "".join(_split_lines(cell.get("source", ""))))
    return parts


def _matching_ids(source_text: str, generated: bytes) -> list[str | None] | None:
    """The source notebook's cell ids, if it has as many cells as the generated one."""
    try:
        source_cells = json.loads(source_text)["cells"]
        generated_cells = json.loads(generated)["cells"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    if len(source_cells) != len(generated_cells):
        return None
    return [cell.get("id") for cell in source_cells]


def _check_names(names: Sequence[str], course: Path) -> None:
    known = known_assignments(course)
    unknown = [name for name in names if name not in known]
    if unknown:
        listing = ", ".join(known) if known else "none: source/ is empty"
        raise ValueError(f"unknown assignment {', '.join(map(repr, unknown))}: the folders in source/ are {listing}")


def _files_under(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(_is_ignored(part) for part in parts):
            files.append(path)
    return files


def _is_ignored(name: str) -> bool:
    return name.startswith(".") or any(Path(name).match(pattern) for pattern in _IGNORED)


def _split_lines(source: str | list[str]) -> list[str]:
    text = "".join(source) if isinstance(source, list) else source
    return text.splitlines(keepends=True)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
