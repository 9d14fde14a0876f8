"""cnncourse.tools.grading.safe_execute's cell steps on small notebooks, without a kernel.

``DeduplicateCells`` grades only the last copy of a duplicated cell;
``RestoreCells`` puts a deleted test cell back after the nearest earlier graded
cell (with its hidden tests) and an edited read-only cell back as it was,
reading the originals from a real gradebook (conftest.py). SafeExecute, which
needs a kernel, is covered end to end by test_grade.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import DeduplicateIds, OverwriteCells

from cnncourse.tools.grading.safe_execute import DeduplicateCells, RestoreCells
from demo_assignment import ASSIGNMENT, NOTEBOOK, demo_notebook


def grade_ids(nb: nbformat.NotebookNode) -> list[str | None]:
    return [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]


def restore(nb: nbformat.NotebookNode, gradebook: Path, *, step: type = RestoreCells) -> nbformat.NotebookNode:
    resources = {"nbgrader": {"assignment": ASSIGNMENT, "notebook": NOTEBOOK, "db_url": f"sqlite:///{gradebook}"}}
    restored, _ = step(add_missing_cells=True).preprocess(nb, resources)
    return restored


def test_deduplicate_keeps_the_last_copy_graded_and_leaves_no_empty_metadata() -> None:
    nb = demo_notebook()
    early = copy.deepcopy(nb.cells[2])
    early.source = "assert True  # the student's own copy"
    nb.cells.insert(1, early)
    ours, _ = DeduplicateCells().preprocess(copy.deepcopy(nb), {})
    assert grade_ids(ours) == [None if i == 1 else g for i, g in enumerate(grade_ids(nb))], \
        f"only the earlier copy of test_double should lose its grading metadata, got {grade_ids(ours)}"
    assert "nbgrader" not in ours.cells[1].metadata, \
        "the dropped copy should carry no nbgrader metadata at all (nbgrader's own step leaves an empty dict)"
    theirs, _ = DeduplicateIds().preprocess(copy.deepcopy(nb), {})
    assert theirs.cells[1].metadata.get("nbgrader") == {}, \
        "nbgrader's DeduplicateIds leaves an empty dict (the reason for DeduplicateCells); did nbgrader change?"


def test_a_deleted_test_cell_comes_back_after_the_nearest_earlier_graded_cell(gradebook: Path) -> None:
    nb = demo_notebook()
    del nb.cells[2]  # test_double
    nb.cells.append(nbformat.v4.new_code_cell("print('my own cell')"))
    restored = restore(nb, gradebook)
    assert grade_ids(restored) == ["intro", "answer_double", "test_double", "test_negative", None], \
        f"test_double should be put back right after answer_double, got {grade_ids(restored)}"
    back = restored.cells[2]
    assert "assert double(2) == 4" in back.source and back["metadata"]["nbgrader"]["points"] == 40.0, \
        f"the original test and its points should come back, got {back.source!r}, {back['metadata']}"


def test_a_test_cell_deleted_after_a_read_only_text_cell_is_still_restored(gradebook: Path) -> None:
    nb = demo_notebook()
    del nb.cells[1:3]  # the answer and test_double: the nearest earlier cell left is the read-only intro
    restored = restore(copy.deepcopy(nb), gradebook)
    assert grade_ids(restored) == ["intro", "test_double", "test_negative"], \
        f"test_double should come back after the intro, got {grade_ids(restored)}"
    with pytest.raises(KeyError):  # the reason for RestoreCells; if this stops failing, nbgrader fixed it
        restore(nb, gradebook, step=OverwriteCells)


def test_an_edited_read_only_cell_gets_its_original_source_back(gradebook: Path) -> None:
    nb = demo_notebook()
    nb.cells[3].source = "assert True  # made to pass"
    nb.cells[1].source = "def double(x):\n    return x + x"
    restored = restore(nb, gradebook)
    assert restored.cells[3].source == demo_notebook().cells[3].source, \
        f"the edited test cell should be replaced by the original, got {restored.cells[3].source!r}"
    assert restored.cells[1].source == "def double(x):\n    return x + x", "the answer cell is the student's to edit"



def _result(text: str) -> dict:
    return {"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {}, "execution_count": 1}


ERROR = {"output_type": "error", "ename": "AssertionError", "evalue": "wrong", "traceback": []}
PRINTED = {"output_type": "stream", "name": "stdout", "text": "loss 0.3\n"}


@pytest.mark.parametrize(("outputs", "noted"), [
    ([PRINTED, _result("TrainingCheck(steps=30, ...)")], False),  # a test's own last expression: nbgrader gives full
    ([], False),
    ([ERROR, _result("'full marks'")], False),  # the error comes first: 0 either way
    ([_result("'full marks'"), ERROR], True),  # a result ahead of the failure: nbgrader would give full marks
    ([_result("3.5")], True),  # a number: nbgrader would give 3.5 of 10 as partial credit
], ids=["report_object", "nothing", "error_first", "result_first", "number"])
def test_a_result_in_a_test_cell_is_noted_only_where_it_would_change_nbgraders_score(outputs: list, noted: bool) -> None:
    from cnncourse.tools.grading.safe_execute import result_changes_score

    cell = nbformat.from_dict({"cell_type": "code", "source": "", "execution_count": 1, "outputs": outputs,
                               "metadata": {"nbgrader": {"grade": True, "solution": False, "points": 10,
                                                         "grade_id": "t", "locked": True, "schema_version": 3}}})
    kept = [o for o in cell.outputs if o.output_type != "execute_result"]
    assert result_changes_score(cell, kept) is noted, f"outputs {[o['output_type'] for o in outputs]}"
