"""cnncourse.tools.grading.verdict: the tests again, in a fresh plain-Python interpreter, and both passes must agree.

The runner is started as in grading (``python -P -m cnncourse.tools.grading.kernel
verdict``) in sandbox mode "off" (fast, no root needed; the sandboxed modes
are covered end to end by test_grade.py). Jobs are built from the demo
assignment's real gradebook (conftest.py).
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.verdict import METADATA_KEY, Verdicts, apply_verdicts, build_job, parse_reports, run_job
from demo_assignment import ASSIGNMENT, NOTEBOOK, demo_notebook

TEST = ('"""double doubles."""\nout = double(2)\nassert out == 4, f"double(2) should be 4, got {out}"\n'
        '### BEGIN HIDDEN TESTS\nassert double(7) == 14, "secret seven"\n### END HIDDEN TESTS\n')


def run(tmp_path: Path, cells: list[dict], *, timeout: float = 2) -> Verdicts:
    """Run ``cells`` (answers as "code", tests as "test") through the real runner, sandbox mode off."""
    policy = sandbox.make_policy("off", run_dir=tmp_path / "run", home=tmp_path / "home")
    sandbox.prepare_folders(policy)
    work = tmp_path / "verdict" / "work"
    work.mkdir(parents=True)
    job = {"timeout": timeout, "cells": [{"grade_id": None, **cell} for cell in cells]}
    return run_job(job, policy.save(tmp_path / "sandbox.json"), work, limit=60)


def answer(source: str) -> dict:
    return {"kind": "code", "source": source}


def check(name: str, source: str = TEST) -> dict:
    return {"kind": "test", "grade_id": name, "source": source}


def test_the_fresh_interpreter_decides_by_exceptions_whatever_the_submission_does_to_the_notebook_machinery(
        tmp_path: Path) -> None:
    verdicts = run(tmp_path, [
        answer("import math\ndef double(x):\n    return 4 if x == 2 else 0"),
        check("lazy"),  # passes the visible check only
        answer("get_ipython().compile = None\nget_ipython().events.register('post_run_cell', print)"),
        check("after_ipython_hooks"),  # IPython's hooks do not exist here: the cell fails, double stays lazy
        answer("def double(x):\n    while True:\n        pass"),
        check("endless"),
        answer("def double(x):\n    math.isclose = lambda *a, **k: True\n    return 2 * x"),
        check("patches_during_test"),
        answer("import sys\ndef double(x):\n    sys.exit(0)"),
        check("exits"),
        answer("%matplotlib inline\ndef double(x):\n    return x + x"),  # a magic: a syntax error in plain Python
        answer("def double(x):\n    return x + x"),
        check("right"),
    ])
    assert verdicts.started and verdicts.finished and not verdicts.problem, verdicts
    passed = {name: report["passed"] for name, report in verdicts.tests.items()}
    assert passed == {"lazy": False, "after_ipython_hooks": False, "endless": False, "patches_during_test": False,
                      "exits": False, "right": True}, verdicts.tests
    assert verdicts.tests["lazy"]["where"] == "hidden" and verdicts.tests["lazy"]["message"] == \
        "AssertionError: secret seven", "a hidden check's failure should be marked hidden (feedback never shows it)"
    assert verdicts.tests["endless"]["message"].startswith("CellTimeout"), verdicts.tests["endless"]
    assert "math.isclose had been replaced" in " ".join(verdicts.tests["patches_during_test"]["during"])


def test_a_replacement_that_claims_to_be_library_code_is_still_put_back(tmp_path: Path) -> None:
    forged = ("import math, os, types\n"
              "def always(*args, **kwargs):\n    return True\n"
              "math.isclose = types.FunctionType(always.__code__.replace(co_filename=os.__file__), vars(os))\n"
              "def double(x):\n    return 99 if x == 0 else 2 * x\n")
    zero_check = '"""zero."""\nimport math\nassert math.isclose(double(0), 0), "double(0) should be 0"\n'
    verdicts = run(tmp_path, [answer(forged), check("zero", zero_check)])
    assert verdicts.tests["zero"]["passed"] is False, \
        f"the strict guard should put math.isclose back before the test, whatever its code claims: {verdicts.tests}"


def test_reports_need_the_nonce_and_a_test_reported_twice_fails() -> None:
    lines = ['{"nonce": "n", "ready": true}', '{"nonce": "guess", "test": "a", "passed": true}',
             '{"nonce": "n", "test": "a", "passed": true}', '{"nonce": "n", "test": "a", "passed": true}',
             'not json', '{"nonce": "n", "test": "b", "passed": "yes"}', '{"nonce": "n", "done": true}']
    verdicts = parse_reports("\n".join(lines), "n")
    assert verdicts.started and verdicts.finished
    assert verdicts.forged == ["a"] and verdicts.tests["a"]["passed"] is False, \
        f"a test reported twice can only be a forgery and must fail: {verdicts}"
    assert verdicts.tests["b"]["passed"] is False, "only a JSON true counts as passed"


def graded_demo() -> nbformat.NotebookNode:
    nb = demo_notebook()
    nb.cells[2].metadata[METADATA_KEY] = {"passed": True, "message": "planted by the submission"}
    return nb


def test_a_test_counts_only_where_both_passes_passed_it() -> None:
    nb = graded_demo()
    grades = {"test_double": (40.0, False), "test_negative": (60.0, False), "answer_double": (None, True)}
    verdicts = Verdicts(started=True, finished=True, tests={
        "test_double": {"passed": False, "message": "AssertionError: expected 4", "where": "visible", "during": []},
        "test_negative": {"passed": True, "message": "", "where": "", "during": []}})
    notes = apply_verdicts(nb, NOTEBOOK, grades, verdicts)
    assert grades["test_double"] == (0.0, False) and grades["test_negative"] == (60.0, False), grades
    assert len(notes) == 1 and "the kernel reported test_double as passed, the fresh interpreter failed it" in notes[0]
    assert nb.cells[2].outputs[-1].ename == "VerdictMismatch", "the autograded notebook should say why it counts 0"
    assert nb.cells[2].metadata[METADATA_KEY] == {"passed": False, "message": "AssertionError: expected 4"}, \
        "the grader's verdict replaces whatever the submission put in the metadata"
    assert nb.cells[3].metadata[METADATA_KEY] == {"passed": True, "message": ""}


def test_a_runner_that_never_started_fails_closed() -> None:
    nb = graded_demo()
    grades = {"test_double": (40.0, False), "test_negative": (0.0, False)}
    notes = apply_verdicts(nb, NOTEBOOK, grades, Verdicts(problem="it stopped early (exit status 1)"))
    assert grades == {"test_double": (0.0, False), "test_negative": (0.0, False)}, grades
    assert len(notes) == 1 and "did not start" in notes[0] and "report this as a bug" in notes[0], notes


def test_the_job_takes_test_code_from_the_gradebook_never_from_the_submission(gradebook: Path) -> None:
    nb = demo_notebook()
    nb.cells[2].source = "pass  # the student's version of test_double"
    nb.cells[1].source = "%time x = 1\ndef double(x):\n    return 0"
    job = build_job(copy.deepcopy(nb), gradebook, ASSIGNMENT, NOTEBOOK, timeout=5)
    kinds = [(cell["kind"], cell["grade_id"]) for cell in job["cells"]]
    assert kinds == [("code", None), ("test", "test_double"), ("test", "test_negative")], kinds
    assert job["cells"][1]["source"].strip() == demo_notebook().cells[2].source, \
        f"test_double's code should come from the gradebook, got {job['cells'][1]['source']!r}"
    assert "get_ipython().run_line_magic('time'" in job["cells"][0]["source"], \
        "magics should be turned into get_ipython() calls, as a kernel would"


@pytest.mark.parametrize("bad", [["verdict"], []])
def test_the_runner_refuses_to_start_without_a_job(bad: list[str]) -> None:
    from cnncourse.tools.grading import verdict_runner

    with pytest.raises(SystemExit, match="usage: python -P -m cnncourse.tools.grading.kernel verdict"):
        verdict_runner.main(bad)


def test_lazy_wrappers_are_imported_before_the_guard_records():
    """torch._dynamo wraps torch.manual_seed when first imported (by torchvision, an optimiser): the runner imports
    it before the strict guard records, so an honest test that trains is not failed as tampering."""
    import subprocess
    import sys

    from cnncourse.tools.grading.verdict_runner import LAZY_WRAPPERS

    script = ("import importlib, sys, torch\n"
              "before = torch.manual_seed\n"
              f"for name in {list(LAZY_WRAPPERS['torch'])!r}: importlib.import_module(name)\n"
              "recorded = torch.manual_seed\n"
              "import torchvision\n"
              "net = torch.nn.Linear(2, 2); opt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
              "net(torch.zeros(1, 2)).sum().backward(); opt.step()\n"
              "print(before is recorded, torch.manual_seed is recorded)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    wrapped_by_import, unchanged_after = done.stdout.split()
    assert unchanged_after == "True", "torch.manual_seed changed after the runner's preload: add the module to LAZY_WRAPPERS"
    assert wrapped_by_import == "False", "torch._dynamo no longer wraps torch.manual_seed: LAZY_WRAPPERS may be dropped"
