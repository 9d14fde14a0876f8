"""The examples in the docstrings of the student library run, and print what they say.

Only modules whose examples run offline, on a CPU, in a second are listed.
Left out, and why: ``runtime`` (its examples print this machine's device and
budget), ``standins`` (``announce`` prints once per process, so its example
depends on what ran before), ``batches``, ``train``, ``viz``, ``backbone``,
``pretrained`` and ``inspect`` (their examples need a data set on disk, trained
models, downloaded weights or a full-size VGG-16; the tests of those modules
check the same behaviour). The instructor tools are tested elsewhere.
"""

from __future__ import annotations

import doctest
import importlib
import os

import pytest

RUNNABLE = ("settings", "modes", "metrics", "readers", "downloads", "imagedataset", "datasets", "data", "preprocess")


@pytest.fixture
def saved_environment():
    """Some examples set CNNCOURSE_* variables to show a rule; every variable comes back afterwards."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@pytest.mark.parametrize("name", RUNNABLE)
def test_docstring_examples_run(name, saved_environment):
    module = importlib.import_module(f"cnncourse.{name}")
    for variable in ("CNNCOURSE_BUDGET", "CNNCOURSE_DATA", "CNNCOURSE_SYSTEM_DATA"):
        os.environ.pop(variable, None)  # the examples show the rules from a clean slate
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.attempted > 0, f"cnncourse.{name} has no runnable examples; take it out of RUNNABLE or add one"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in cnncourse.{name} failed (printed above)"
