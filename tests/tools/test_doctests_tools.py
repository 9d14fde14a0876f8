"""The examples in the instructor tools' docstrings run, and say what they print (a few seconds, no kernel).

An example that needs a course, nbgrader runs or a kernel is written as a
plain code block (``Example::``) instead of a skipped doctest, so every ``>>>``
in these modules is run here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import cnncourse.tools

# Not run here yet: their owners keep examples that depend on the machine (doctor prints this machine's
# versions) or are skipped (site). Remove a name once its examples run.
NOT_YET = ("cnncourse.tools.doctor", "cnncourse.tools.site")


def tool_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(cnncourse.tools.__path__, "cnncourse.tools.")]
    return sorted(n for n in names if not any(n == skip or n.startswith(skip + ".") for skip in NOT_YET))


def test_the_module_list_finds_the_tools() -> None:
    names = tool_modules()
    for expected in ("cnncourse.tools.check", "cnncourse.tools.grading.sandbox", "cnncourse.tools.grading.report"):
        assert expected in names, f"{expected} should be among the modules whose examples run; found {names}"


@pytest.mark.parametrize("name", tool_modules())
def test_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # an example that wrote into the current folder would show here
    module = importlib.import_module(name)
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "doctest: +SKIP" not in source, \
        f"{name} skips a doctest: make the example run, or write it as a plain code block (Example::)"
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (details above)"
    assert result.attempted > 0 or ">>>" not in source, f"{name} has examples that doctest did not find"
    assert not any(tmp_path.iterdir()), f"the examples of {name} left files in the current folder"
