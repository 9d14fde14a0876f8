"""cnncourse.tools.feedback: feedback shows test results and visible checks, never hidden-test code."""

from __future__ import annotations

import base64
import copy
import html
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from traitlets.config.loader import PyFileConfigLoader

from cnncourse.tools.feedback import LATER_OUTPUTS_NOTE, VERDICT_KEY, hide_hidden_tests

RED, RESET = "\x1b[0;31m", "\x1b[0m"


def graded_notebook() -> nbformat.NotebookNode:
    """An executed test cell whose hidden assertion failed, traced the way IPython prints it."""
    source = ('"""double doubles."""\nout = double(2)\nassert out == 4, f"got {out}"\n'
              "### BEGIN HIDDEN TESTS\nfor secret_value in [-3, 7]:\n"
              '    assert double(secret_value) == 2 * secret_value, f"double({secret_value}) is wrong"\n'
              "### END HIDDEN TESTS\nprint('done')")
    cell = nbformat.v4.new_code_cell(source, id="test")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=(
            "<ipython-input>:6: UserWarning: careful\n"
            '  assert double(secret_value) == 2 * secret_value, f"double({secret_value}) is wrong"\n')),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="double(-3) is wrong", traceback=[
            f"{RED}---------------------------------------------------------------------------{RESET}",
            f"{RED}AssertionError{RESET}                            Traceback (most recent call last)",
            f"Cell {RED}In[3], line 6{RESET}\n      3 assert out == 4, f\"got {{out}}\"\n"
            "      4 ### BEGIN HIDDEN TESTS\n      5 for secret_value in [-3, 7]:\n"
            f"{RED}----> 6{RESET}     {RED}assert{RESET} double(secret_value) == 2 * secret_value, "
            'f"double({secret_value}) is wrong"\n      7 ### END HIDDEN TESTS',
            f"{RED}AssertionError{RESET}: double(-3) is wrong",
        ]),
    ]
    return nbformat.v4.new_notebook(cells=[cell])


def test_hide_hidden_tests_cuts_the_region_and_every_quoted_line() -> None:
    nb = graded_notebook()
    original = copy.deepcopy(nb)
    shown = hide_hidden_tests(nb)
    assert nb == original, "hide_hidden_tests should not modify the notebook passed in"
    source = shown.cells[0].source
    assert source.endswith("# (hidden tests run here; their code is not shown)\nprint('done')"), \
        f"the hidden region should become one placeholder line, got:\n{source}"
    assert "secret_value" not in source and "HIDDEN TESTS" not in source, f"hidden code should be gone, got:\n{source}"
    stderr, error = shown.cells[0].outputs
    assert "secret_value" not in stderr.text and "UserWarning: careful" in stderr.text, \
        f"a warning should keep its message but lose the quoted hidden line, got {stderr.text!r}"
    frames = "\n".join(error.traceback)
    assert "secret_value" not in frames and "HIDDEN TESTS" not in frames, f"the traceback should lose hidden lines:\n{frames}"
    assert "assert out == 4" in frames, f"visible lines in the traceback should stay:\n{frames}"
    assert error.traceback[-1].endswith("AssertionError\x1b[0m: double(-3) is wrong"), \
        f"the error message line should stay as it was, got {error.traceback[-1]!r}"


def test_hide_hidden_tests_handles_unclosed_regions_and_indentation() -> None:
    cell = nbformat.v4.new_code_cell("def check():\n    x = 1\n    ### BEGIN HIDDEN TESTS\n    assert x == 1, 'x should be one'")
    shown = hide_hidden_tests(nbformat.v4.new_notebook(cells=[cell]), placeholder="# hidden")
    assert shown.cells[0].source == "def check():\n    x = 1\n    # hidden", \
        f"an unclosed region should hide the rest of the cell and keep the indentation, got {shown.cells[0].source!r}"
    with pytest.raises(TypeError, match="expects a notebook"):
        hide_hidden_tests("not a notebook")


def test_feedback_preprocessor_is_registered_in_nbgrader_config(repo: Path) -> None:
    config = PyFileConfigLoader("nbgrader_config.py", path=str(repo)).load_config()
    names = list(config.GenerateFeedback.preprocessors)
    assert names[:2] == ["nbgrader.preprocessors.GetGrades", "cnncourse.tools.feedback.HideHiddenTests"], \
        f"GenerateFeedback should run GetGrades, then HideHiddenTests; got {names}"
    assert config.CourseDirectory.root == str(repo), f"the course root should be the repository, got {config.CourseDirectory.root}"
    exporter = HTMLExporter()
    exporter.register_preprocessor(names[1], enabled=True)
    body, _ = exporter.from_notebook_node(graded_notebook())
    assert "secret_value" not in body, "the preprocessor, loaded by name as nbgrader does, should hide the hidden code"


def graded_test_cell(source: str, *, points: float, score: float, verdict: dict | None) -> nbformat.NotebookNode:
    """A graded test cell as GetGrades leaves it: nbgrader metadata with score and points, the grader's verdict."""
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "t", "points": points, "score": score}})
    if verdict is not None:
        cell.metadata[VERDICT_KEY] = verdict
    return cell


def test_test_cells_show_only_the_verdict_and_later_cells_no_output() -> None:
    hidden_source = graded_notebook().cells[0].source
    leaked = base64.b64encode(hidden_source.encode()).decode()
    leaks = [nbformat.v4.new_output("stream", name="stdout", text=leaked + "\n" + hidden_source),
             nbformat.v4.new_output("display_data", data={"text/html": f"<pre>{html.escape(hidden_source)}</pre>",
                                                          "text/plain": "<HTML>"})]
    early = nbformat.v4.new_code_cell("print('before any test')")
    early.outputs = [nbformat.v4.new_output("stream", name="stdout", text="before any test\n")]
    passed = graded_test_cell(hidden_source, points=40, score=40, verdict={"passed": True, "message": ""})
    failed = graded_test_cell(hidden_source, points=60, score=0,
                       verdict={"passed": False, "message": "AssertionError: got 5, expected 4"})
    hidden_fail = graded_test_cell(hidden_source, points=10, score=0,
                            verdict={"passed": False, "message": ""})  # the verdict pass keeps hidden messages out
    old = graded_test_cell(hidden_source, points=10, score=10, verdict=None)  # graded before verdicts existed
    late = nbformat.v4.new_code_cell("print(In[-2])")
    for cell in (passed, failed, hidden_fail, old, late):
        cell.outputs = copy.deepcopy(leaks)
    shown = hide_hidden_tests(nbformat.v4.new_notebook(cells=[early, passed, failed, hidden_fail, old, late]))
    body, _ = HTMLExporter().from_notebook_node(shown)
    for secret in ("secret_value", leaked[:24], leaked[-24:], html.escape("secret_value")):
        assert secret not in body, f"feedback shows the hidden tests (as {secret!r})"
    texts = [[o.get("text") or o.get("evalue") for o in cell.outputs] for cell in shown.cells]
    assert texts[0] == ["before any test\n"], "outputs before the first test cannot hold hidden code and stay"
    assert texts[1] == ["Test passed (40 of 40 points).\n"], texts[1]
    assert texts[2] == ["AssertionError: got 5, expected 4 (0 of 60 points)"], texts[2]
    assert "hidden checks do not show" in texts[3][0] and "(0 of 10 points)" in texts[3][0], texts[3]
    assert texts[4] == ["Test passed (10 of 10 points).\n"], "without a verdict, the gradebook's score decides"
    assert texts[5] == [LATER_OUTPUTS_NOTE], "a cell run after a test may print what the kernel saw: not shown"


def test_without_a_verdict_only_an_error_raised_on_a_visible_line_shows_its_message() -> None:
    source = graded_notebook().cells[0].source  # line 3 visible, line 6 hidden
    hidden_fail = graded_test_cell(source, points=10, score=0, verdict=None)
    hidden_fail.outputs = copy.deepcopy(graded_notebook().cells[0].outputs)  # raised on line 6
    visible_fail = graded_test_cell(source, points=10, score=0, verdict=None)
    visible_fail.outputs = [nbformat.v4.new_output("error", ename="NotImplementedError", evalue="", traceback=[
        f"Cell {RED}In[3], line 2{RESET}\n----> 2 out = double(2)", f"{RED}NotImplementedError{RESET}: "])]
    shown = hide_hidden_tests(nbformat.v4.new_notebook(cells=[visible_fail, hidden_fail]))
    assert shown.cells[0].outputs[0].evalue.startswith("NotImplementedError: "), shown.cells[0].outputs
    assert "double(-3) is wrong" not in str(shown.cells[1].outputs), "a hidden check's message stays hidden"
