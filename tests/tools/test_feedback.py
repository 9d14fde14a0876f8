"""cnncourse.tools.feedback: feedback shows test results and visible checks, never hidden-test code."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from traitlets.config.loader import PyFileConfigLoader

from cnncourse.tools.feedback import hide_hidden_tests

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
