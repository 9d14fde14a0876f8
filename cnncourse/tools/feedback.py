"""Feedback for students: graded notebooks with the hidden tests cut out.

``HideHiddenTests`` is an nbgrader preprocessor for ``generate_feedback``
(``nbgrader_config.py`` registers it as ``cnncourse.tools.feedback.HideHiddenTests``):
feedback shows each test's result and the student-visible part of each test
cell, but never the code between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``, not even as a source line quoted by a traceback or a
warning. ``hide_hidden_tests`` does the same to one notebook.

What a test cell shows is built from what the grader knows, never from what
the submission printed: pass or fail and the points (nbgrader's gradebook,
through ``GetGrades``), and the visible check's message when the visible part
failed (the verdict ``cnncourse.tools.grading.verdict`` stored in the cell's
metadata). Once the first test cell has run, the kernel has seen hidden code,
so no output of that cell or of any later cell is shown: a submission's hook
could have printed the hidden tests in any encoding. Outputs of cells before
the first test stay (with quoted hidden lines scrubbed, as a second line).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Unicode

from cnncourse.tools.grading.challenge import is_challenge
from cnncourse.tools.grading.verdict import METADATA_KEY as VERDICT_KEY

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
HIDDEN_PLACEHOLDER = "# (hidden tests run here; their code is not shown)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MIN_SECRET_CHARS = 6  # shorter hidden lines ("else:", ")") reveal nothing



def hide_hidden_tests(nb: NotebookNode, *, placeholder: str = HIDDEN_PLACEHOLDER) -> NotebookNode:
    """A copy of an executed notebook with every hidden-test region cut out, outputs included.

    Each region between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
    (markers included; an unclosed region runs to the end of the cell) becomes
    one ``placeholder`` line. Every output line that quotes a hidden line
    (traceback frames, warnings) is replaced by a note; the
    ``ErrorName: message`` line of a traceback always stays, so students still
    read the assertion's message. Test cells (nbgrader's autograded cells)
    show only the grader's verdict, later cells no output (module docstring).
    The notebook passed in is not modified.

    Example:
        >>> import nbformat
        >>> cell = nbformat.v4.new_code_cell("x = 1\\n### BEGIN HIDDEN TESTS\\nassert x == 1\\n### END HIDDEN TESTS")
        >>> hide_hidden_tests(nbformat.v4.new_notebook(cells=[cell])).cells[0].source
        'x = 1\\n# (hidden tests run here; their code is not shown)'
    """
    if not isinstance(nb, dict) or "cells" not in nb:
        raise TypeError(f"hide_hidden_tests expects a notebook (nbformat.NotebookNode), got {type(nb).__name__}")
    nb = nbformat.from_dict(copy.deepcopy(nb))
    hidden: set[str] = set()
    hidden_cells, originals = [], []
    for cell in nb.cells:
        originals.append(_joined(cell.get("source", "")))
        cell.source, lines = _cut_hidden(_joined(cell.get("source", "")), placeholder)
        hidden.update(lines)
        hidden_cells.append(bool(lines))
    visible = {line.strip() for cell in nb.cells for line in _joined(cell.get("source", "")).splitlines()}
    secrets = {line for line in hidden if len(line) >= _MIN_SECRET_CHARS and line not in visible}
    secrets.update({BEGIN_HIDDEN, END_HIDDEN})
    tests_ran = False
    for cell, had_hidden, original in zip(nb.cells, hidden_cells, originals):
        test = _is_test(cell)
        if test:
            cell.outputs = _verdict_outputs(cell, original, secrets)
        elif tests_ran and cell.get("outputs"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=LATER_OUTPUTS_NOTE)]
        tests_ran = tests_ran or test or had_hidden
        for output in cell.get("outputs", []):
            _scrub_output(output, secrets)
    return nb


LATER_OUTPUTS_NOTE = "(outputs of cells run after the first test cell are not shown in feedback)\n"


def _is_test(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _verdict_outputs(cell: NotebookNode, source: str, secrets: set[str]) -> list[NotebookNode]:
    """A test cell's outputs as the grader knows them: pass or fail, points, the visible check's message."""
    meta = cell.metadata.get("nbgrader", {})
    verdict = cell.metadata.get(VERDICT_KEY, {})
    score, points = meta.get("score"), meta.get("points")
    scaled = is_challenge(meta.get("grade_id"))  # scored on a scale: it passes when it ran, whatever its points
    ran = score is not None and not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    passed = verdict["passed"] if isinstance(verdict.get("passed"), bool) else \
        (ran if scaled else score is not None and points is not None and float(score) >= float(points) > 0)
    worth = f" ({float(score or 0):g} of {float(points):g} points)" if points is not None else ""
    if passed:
        text = f"Challenge scored{worth}.\n" if scaled else f"Test passed{worth}.\n"
        return [nbformat.v4.new_output("stream", name="stdout", text=text)]
    message = str(verdict["message"] if "passed" in verdict else _visible_error(cell, source))[:300]
    if not message or _scrub_text(message, secrets) != message:
        message = "a check failed; hidden checks do not show their code or message"
    return [nbformat.v4.new_output("error", ename="TestFailed", evalue=f"{message}{worth}",
                                   traceback=[f"TestFailed: {message}{worth}"])]


class HideHiddenTests(Preprocessor):
    """nbgrader preprocessor: feedback without hidden-test code (see ``hide_hidden_tests``).

    Register it in ``nbgrader_config.py`` between ``GetGrades`` and the HTML
    header preprocessor of ``GenerateFeedback.preprocessors``.

    In ``nbgrader_config.py``::

        c.GenerateFeedback.preprocessors = [
            "nbgrader.preprocessors.GetGrades",
            "cnncourse.tools.feedback.HideHiddenTests",
            "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    """

    enabled = Bool(True, help="Whether nbgrader runs this preprocessor").tag(config=True)
    placeholder = Unicode(HIDDEN_PLACEHOLDER, help="The line shown in place of each hidden-test region").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        """Return the notebook with hidden tests and their traces removed."""
        return hide_hidden_tests(nb, placeholder=self.placeholder), resources


_CELL_LINE = re.compile(r"(?:Cell In\s*\[\d*\]|Input In \[\d*\]|<ipython-input-[^>]*>), line (\d+)")


def _visible_error(cell: NotebookNode, source: str) -> str:
    """Without the grader's verdict (a notebook nbgrader alone graded): the error's ``Name: message`` when the
    traceback's last frame in the cell is a visible line, else ""."""
    lines = source.split("\n")
    hidden, inside = set(), False
    for number, line in enumerate(lines, start=1):
        if BEGIN_HIDDEN in line:
            inside = True
        if inside:
            hidden.add(number)
        if END_HIDDEN in line:
            inside = False
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            found = _CELL_LINE.findall(_ANSI.sub("", "\n".join(output.get("traceback", []))))
            if found and int(found[-1]) not in hidden:
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
            return ""
    return ""


def _cut_hidden(source: str, placeholder: str) -> tuple[str, list[str]]:
    """The source with hidden regions replaced by ``placeholder``, and the stripped hidden lines."""
    kept: list[str] = []
    hidden: list[str] = []
    inside = False
    for line in source.split("\n"):
        if not inside and BEGIN_HIDDEN in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(indent + placeholder)
        elif inside:
            if END_HIDDEN in line:
                inside = False
            elif line.strip():
                hidden.append(line.strip())
        else:
            kept.append(line)
    return "\n".join(kept), hidden


def _scrub_output(output: dict[str, Any], secrets: set[str]) -> None:
    if output.get("output_type") == "error":
        keep = f"{output.get('ename', '')}:"
        output["traceback"] = [_scrub_text(entry, secrets, keep=keep) for entry in output.get("traceback", [])]
    elif output.get("output_type") == "stream":
        output["text"] = _scrub_text(_joined(output.get("text", "")), secrets)
    elif output.get("output_type") in ("execute_result", "display_data"):
        data = output.get("data", {})
        if "text/plain" in data:
            data["text/plain"] = _scrub_text(_joined(data["text/plain"]), secrets)


def _scrub_text(text: str, secrets: set[str], *, keep: str = "") -> str:
    """``text`` with each line that quotes a secret replaced by a note (one note per run of such lines).

    Lines that start with ``keep`` (the ``ErrorName:`` line of a traceback) always stay.
    """
    lines = []
    for line in text.split("\n"):
        plain = _ANSI.sub("", line)
        if not (keep and plain.startswith(keep)) and any(secret in plain for secret in secrets):
            note = "      (hidden test code not shown)"
            if not lines or lines[-1] != note:
                lines.append(note)
        else:
            lines.append(line)
    return "\n".join(lines)


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text
