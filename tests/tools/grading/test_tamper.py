"""cnncourse.tools.grading.tamper: what a submission replaced is put back before each test, and said in words.

``install`` changes the process for good (an import watcher on ``sys.meta_path``,
records of every guarded function), so each guarded scenario runs in a fresh
interpreter, a second or so each (numpy, and IPython for the shell's hooks; no
torch, no kernel). The end-to-end grading of a submission that tampers is in
test_grade.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnncourse.tools.grading import tamper


def run_guarded(script: str) -> dict:
    """Run ``script`` in a fresh interpreter; it prints one JSON object on its last line."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the script failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


FUNCTIONS = r'''
import builtins, json, math, sys, textwrap
from cnncourse.tools.grading import tamper
tamper.install()
import numpy as np                      # imported after install: recorded by the import watcher
import cnncourse.settings as settings   # a student-library module (torch-free)
real_numpy, real_sqrt = sys.modules["numpy"], math.sqrt
math.isclose = lambda *a, **k: True
np.allclose = lambda *a, **k: True
builtins.len = lambda x: 0
settings.current_budget.__code__ = (lambda *a, **k: "cheat").__code__
del math.sqrt
sys.modules["numpy"] = type(sys)("numpy")
sys.settrace(lambda *a: None)
report = json.loads(tamper.restore_report())
after = {
    "isclose": math.isclose(1.0, 2.0), "allclose": bool(np.allclose([1.0], [2.0])), "len": len([1, 2, 3]),
    "numpy": sys.modules["numpy"] is real_numpy, "trace": sys.gettrace() is None,
    "budget_code": settings.current_budget.__code__.co_name, "sqrt": getattr(math, "sqrt", None) is real_sqrt,
}
math.isclose = textwrap.dedent             # a library's own code (as torchvision wrapping torch.manual_seed): accepted
accepted = tamper.restore()
print(json.dumps({"changes": report["changes"], "after": after, "again": tamper.restore(), "accepted": accepted,
                  "kept": math.isclose is textwrap.dedent}))
'''


@pytest.fixture(scope="module")
def functions() -> dict:
    """FUNCTIONS run once for the two tests below."""
    return run_guarded(FUNCTIONS)


def test_restore_puts_back_replaced_functions_and_reports_each_in_words(functions: dict) -> None:
    result = functions
    assert result["after"] == {"isclose": False, "allclose": False, "len": 3, "numpy": True, "trace": True,
                               "budget_code": "current_budget", "sqrt": True}, f"the originals should be back: {result}"
    joined = "\n".join(result["changes"])
    for words in ("math.isclose had been replaced; the original was put back",
                  "numpy.allclose had been replaced", "builtins.len had been replaced",
                  "the code of cnncourse.settings.current_budget had been changed", "math.sqrt had been deleted",
                  "sys.modules['numpy'] had been replaced", "a trace function (sys.settrace) had been installed"):
        assert words in joined, f"restore_report() should say {words!r}; it said:\n{joined}"
    assert result["again"] == [], f"a second restore() should find nothing changed, got {result['again']}"


def test_a_replacement_from_library_code_is_accepted_not_reported(functions: dict) -> None:
    result = functions
    assert result["accepted"] == [] and result["kept"], \
        f"a function replaced by standard-library code should be left as it is and not reported, got {result}"


SHELL = r'''
import json
from IPython.core.interactiveshell import InteractiveShell
from cnncourse.tools.grading import tamper
shell = InteractiveShell.instance()
tamper.install(shell=shell)
shell.set_custom_exc((AssertionError,), lambda *a, **k: None)   # would swallow a failing assert
shell.ast_transformers.append(object())
shell.events.register("pre_run_cell", lambda *a, **k: None)
shell.run_cell = lambda *a, **k: None
changes = tamper.restore()
print(json.dumps({"changes": changes, "custom_exc": list(map(str, shell.custom_exceptions)),
                  "ast": len(shell.ast_transformers), "run_cell_is_class": "run_cell" not in vars(shell),
                  "again": tamper.restore()}))
'''


def test_restore_undoes_hooks_on_the_ipython_shell() -> None:
    result = run_guarded(SHELL)
    assert result["custom_exc"] == [] and result["ast"] == 0 and result["run_cell_is_class"], \
        f"the shell's exception handler, AST transformers and methods should be reset: {result}"
    joined = "\n".join(result["changes"])
    for words in ("custom exception handler (set_custom_exc)", "shell.ast_transformers had been changed",
                  "'pre_run_cell' event callbacks had been changed", "the shell's method run_cell had been replaced"):
        assert words in joined, f"restore() should say {words!r}; it said:\n{joined}"
    assert result["again"] == [], f"a second restore() should find nothing changed, got {result['again']}"


def test_restore_without_install_says_what_to_call() -> None:
    with pytest.raises(RuntimeError, match=r"call cnncourse\.tools\.grading\.tamper\.install\(\) first"):
        tamper.restore()


MACHINERY = r'''
import json
from IPython.core.interactiveshell import InteractiveShell
from matplotlib_inline.backend_inline import flush_figures
from cnncourse.tools.grading import tamper
shell = InteractiveShell.instance()
tamper.install(shell=shell)
shell.events.register("post_execute", flush_figures)  # matplotlib's inline backend does this with the first figure
library = tamper.restore()
original_compile, original_events = shell.compile, shell.events
shell.compile = type(shell.compile)()  # e.g. a compiler that drops asserts
shell.events = type(shell.events)(shell, {})  # a new event registry
shell.input_transformer_manager.transform_cell = lambda cell: "pass\n"
changes = tamper.restore()
print(json.dumps({"library": library, "changes": changes, "compile": shell.compile is original_compile,
                  "events": shell.events is original_events,
                  "transform": "transform_cell" not in vars(shell.input_transformer_manager),
                  "flush_kept": flush_figures in original_events.callbacks["post_execute"]}))
'''


def test_restore_puts_back_the_shells_compiler_event_registry_and_transformers_but_not_library_hooks() -> None:
    result = run_guarded(MACHINERY)
    assert result["library"] == [] and result["flush_kept"], \
        f"a callback that matplotlib's inline backend registers is library code and stays: {result}"
    assert result["compile"] and result["events"] and result["transform"], \
        f"the compiler, the event registry and the transformer method should be put back: {result}"
    joined = "\n".join(result["changes"])
    for words in ("the shell's compile had been replaced", "the shell's events had been replaced",
                  "input_transformer_manager's method transform_cell had been replaced"):
        assert words in joined, f"restore() should say {words!r}; it said:\n{joined}"


PICKLING = r'''
import copy, io, json
import torch
from cnncourse.tools.grading import tamper
tamper.install(strict=True)
torch.save(torch.nn.Linear(2, 2).state_dict(), io.BytesIO())  # copyreg caches __slotnames__ on torch.Tensor
copy.deepcopy(torch.nn.Linear(2, 2))
print(json.dumps({"changes": tamper.restore(), "cached": "__slotnames__" in vars(torch.Tensor)}))
'''


def test_saving_or_copying_tensors_is_not_tampering() -> None:
    """torch.save and copy.deepcopy make copyreg cache torch.Tensor.__slotnames__: a cache, not a patch."""
    result = run_guarded(PICKLING)
    assert result["cached"] and result["changes"] == [], (
        f"saving a run (torch.save) or copying a model should leave nothing to report or undo, got {result}")
