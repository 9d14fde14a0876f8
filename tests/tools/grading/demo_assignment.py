"""A small assignment as nbgrader records it (no kernel): the released notebook and its gradebook entries."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader import utils

ASSIGNMENT = "01_demo"
NOTEBOOK = "demo"


def demo_notebook() -> nbformat.NotebookNode:
    """The released notebook: a read-only intro, an answer cell and two autograded test cells (40 + 60 points)."""
    def cell(kind: str, source: str, **nbgrader: object) -> nbformat.NotebookNode:
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        made = new(source, metadata={"nbgrader": {"schema_version": 3, "grade": False, "solution": False,
                                                  "locked": False, "task": False, **nbgrader}})
        made.metadata.nbgrader["checksum"] = utils.compute_checksum(made)
        return made

    return nbformat.v4.new_notebook(cells=[
        cell("markdown", "# Doubling", grade_id="intro", locked=True),
        cell("code", "def double(x):\n    return 2 * x", grade_id="answer_double", solution=True),
        cell("code", '"""double doubles."""\nassert double(2) == 4, "expected 4"', grade_id="test_double",
             grade=True, locked=True, points=40.0),
        cell("code", '"""double of a negative."""\nassert double(-3) == -6, "expected -6"', grade_id="test_negative",
             grade=True, locked=True, points=60.0),
    ])


def record_assignment(db: Path) -> None:
    """Record ``demo_notebook`` in the gradebook ``db`` as ``nbgrader generate_assignment`` would."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook(NOTEBOOK, ASSIGNMENT)
        for cell in demo_notebook().cells:
            meta = cell.metadata.nbgrader
            gb.add_source_cell(meta["grade_id"], NOTEBOOK, ASSIGNMENT, cell_type=cell.cell_type,
                               locked=meta["locked"], source=cell.source, checksum=meta["checksum"])
            if meta["solution"]:
                gb.add_solution_cell(meta["grade_id"], NOTEBOOK, ASSIGNMENT)
            if meta["grade"]:
                gb.add_grade_cell(meta["grade_id"], NOTEBOOK, ASSIGNMENT, max_score=meta["points"],
                                  cell_type=cell.cell_type)
