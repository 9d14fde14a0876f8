"""Challenge cells: partial credit that both passes must agree on, and the cohort's leaderboard.

Fast tests of ``cnncourse.tools.grading.challenge`` and of its use in the
kernel pass (``SafeExecute._challenge_score``, on cells without a kernel), the
verdict pass (the real runner, sandbox mode off, as in test_verdict.py) and the
grading table. The end-to-end run through nbgrader's autograde is
test_challenge_grade.py.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils

from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.challenge import (Entry, facts_from_value, is_challenge, leaderboard, leaderboard_path,
                                               leaderboard_table, points_from_text, points_from_value, read_facts,
                                               write_leaderboard)
from cnncourse.tools.grading.report import GradingReport, SubmissionResult
from cnncourse.tools.grading.safe_execute import SafeExecute
from cnncourse.tools.grading.verdict import METADATA_KEY, Verdicts, apply_verdicts, parse_reports, run_job
from cnncourse.tools.grading.verdict_runner import compile_cell

CHALLENGE = ('"""challenge: a score on a scale."""\nvalue = float(quality())\npoints = round(10 * value, 2)\n'
             'challenge_facts = {"accuracy": value, "params": 1_000, "macs": 2_000_000}\n'
             '### BEGIN HIDDEN TESTS\nassert 0 <= value <= 1, "quality is a fraction"\n### END HIDDEN TESTS\npoints')


# ---------------------------------------------------------------------------
# the rule, and reading points


def test_one_rule_makes_a_challenge_cell_its_grade_id_starts_with_challenge() -> None:
    assert [is_challenge(g) for g in ("challenge_score", "challenge", "challenge2", "test_challenge", "Challenge_x",
                                      "", None, 3)] == [True, True, True, False, False, False, False, False]


@pytest.mark.parametrize("value, expected", [
    (0, 0.0), (10, 10.0), (6.25, 6.25), (10.0001, None), (-0.5, None), (math.nan, None), (math.inf, None),
    (True, None), ("7", None), (None, None), ([5], None)])
def test_points_from_a_value_only_a_plain_number_within_the_cells_points(value: object, expected: float | None) -> None:
    assert points_from_value(value, 10) == expected


def test_points_from_a_value_refuse_subclasses_and_foreign_scalars() -> None:
    import numpy as np
    import torch

    class Sneaky(float):
        def __repr__(self) -> str:
            return "10"

    for value in (Sneaky(1.0), np.float64(5.0), torch.tensor(5.0)):
        assert points_from_value(value, 10) is None, f"{type(value).__name__} should not count as points"


@pytest.mark.parametrize("text, expected", [
    ("6.25", 6.25), (" 10 ", 10.0), (["4"], 4.0), ("'full marks'", None), ("np.float64(5.0)", None),
    ("-1", None), ("11", None), ("nan", None), (["3", "4"], None), ("1" * 100, None), (None, None)])
def test_points_from_text_where_nbgrader_would_give_full_marks_give_none(text: object, expected: float | None) -> None:
    assert points_from_text(text, 10) == expected


def test_facts_keep_only_plain_numbers_under_known_keys() -> None:
    assert facts_from_value({"accuracy": 0.9, "params": 100, "macs": math.nan, "extra": 1}) == \
        {"accuracy": 0.9, "params": 100.0}
    assert facts_from_value({"accuracy": True}) == {} and facts_from_value([("accuracy", 0.9)]) == {}


# ---------------------------------------------------------------------------
# the kernel pass: what nbgrader is left to read


def executed(*outputs: dict, points: float = 10) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(CHALLENGE, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "challenge_score", "points": points,
        "schema_version": 3}})
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def result(text: str) -> dict:
    return {"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {}, "execution_count": 1}


STDOUT = {"output_type": "stream", "name": "stdout", "text": "10\n"}
ERROR = {"output_type": "error", "ename": "AssertionError", "evalue": "no", "traceback": []}


@pytest.mark.parametrize("outputs, score, event", [
    ([STDOUT, result("6.5")], 6.5, False),  # an honest cell: its one result is the score
    ([result("6.5"), STDOUT], 6.5, False),  # the result goes last, after anything printed
    ([STDOUT], 0, True),  # printing a number is not a result; no result fails (nbgrader alone: full marks)
    ([result("'full marks'")], 0, True),  # nbgrader alone: full marks for text that is not a number
    ([result("10"), result("6.5")], 0, True),  # a result published before the test's own one
    ([result("25")], 0, True),  # above the cell's points (nbgrader alone stops with a ValueError)
    ([result("6.5"), ERROR], 0, False),  # a failing check: the result goes, the error scores 0
])
def test_the_kernel_pass_leaves_nbgrader_one_number_or_a_failure(outputs: list[dict], score: float,
                                                                 event: bool) -> None:
    cell = executed(*outputs)
    step = SafeExecute()
    step._events = []
    step._test_outputs_only(cell, 7, "challenge_score")
    step._challenge_score(cell, 7, "challenge_score")
    assert utils.determine_grade(cell)[0] == score, f"nbgrader should read {score} from {cell.outputs}"
    kinds = [o["output_type"] for o in cell.outputs]
    assert "execute_result" not in kinds[:-1], f"a kept result must come last (nbgrader stops at it): {kinds}"
    assert bool(step._events) == event, step._events


def test_other_test_cells_still_lose_their_results() -> None:
    cell = executed(result("40"))
    cell.metadata.nbgrader["grade_id"] = "test_double"
    step = SafeExecute()
    step._events = []
    step._test_outputs_only(cell, 3, "test_double")
    assert cell.outputs == [] and step._events[0]["kind"] == "test_result"


# ---------------------------------------------------------------------------
# the verdict pass: the runner evaluates the last expression itself


def run(tmp_path: Path, cells: list[dict]) -> Verdicts:
    policy = sandbox.make_policy("off", run_dir=tmp_path / "run", home=tmp_path / "home")
    sandbox.prepare_folders(policy)
    work = tmp_path / "verdict" / "work"
    work.mkdir(parents=True)
    job = {"timeout": 10, "cells": [{"grade_id": None, **cell} for cell in cells]}
    return run_job(job, policy.save(tmp_path / "sandbox.json"), work, limit=60)


def answer(source: str) -> dict:
    return {"kind": "code", "source": source}


def challenge(name: str, source: str = CHALLENGE) -> dict:
    return {"kind": "test", "grade_id": name, "source": source, "points": 10.0, "scaled": True}


def test_the_runner_reads_the_points_from_the_last_expression_never_from_output(tmp_path: Path) -> None:
    verdicts = run(tmp_path, [
        answer("def quality():\n    return 0.65"),
        challenge("challenge_honest"),
        challenge("challenge_stale_facts", "7"),
        answer("print(10)\ndef quality():\n    print('10')\n    return 0.3"),
        challenge("challenge_prints"),
        answer("def quality():\n    return 1.5"),
        challenge("challenge_fails_hidden"),
        answer("def quality():\n    return 0.5"),
        challenge("challenge_string", CHALLENGE.replace("TESTS\npoints", "TESTS\nstr(points)")),
        challenge("challenge_subclass", "class F(float):\n    pass\nF(3.0)"),
        challenge("challenge_statement", CHALLENGE.replace("TESTS\npoints", "TESTS\nscore = points")),
        challenge("challenge_too_many", "11"),
        challenge("challenge_no_facts", "challenge_facts = 'junk'\n4"),
        {"kind": "test", "grade_id": "test_plain", "source": "assert quality() == 0.5\n5", "points": 5.0,
         "scaled": False},
    ])
    assert verdicts.started and verdicts.finished, verdicts
    tests = verdicts.tests
    assert tests["challenge_honest"]["passed"] and tests["challenge_honest"]["score"] == 6.5, tests["challenge_honest"]
    assert tests["challenge_honest"]["facts"] == {"accuracy": 0.65, "params": 1000.0, "macs": 2_000_000.0}
    assert tests["challenge_prints"]["score"] == 3.0, "what a submission prints never becomes the score"
    assert not tests["challenge_fails_hidden"]["passed"] and "score" not in tests["challenge_fails_hidden"]
    for name in ("challenge_string", "challenge_subclass", "challenge_statement", "challenge_too_many"):
        assert not tests[name]["passed"] and tests[name]["where"] == "grader", (name, tests[name])
        assert "should end with its points" in tests[name]["message"], tests[name]
    assert tests["challenge_no_facts"]["score"] == 4.0 and tests["challenge_no_facts"]["facts"] == {}
    assert tests["challenge_stale_facts"]["facts"] == {}, "facts bound by an earlier cell must not count"
    assert tests["test_plain"]["passed"] and "score" not in tests["test_plain"], "ordinary tests pass or fail"


def test_a_challenge_cell_compiles_its_last_expression_apart_even_after_a_hidden_region() -> None:
    cell = compile_cell(challenge("challenge_x"))
    assert [(kind, mode) for kind, _, mode in cell["parts"]] == \
        [("visible", "exec"), ("hidden", "exec"), ("visible", "eval")], cell["parts"]
    inside = compile_cell(challenge("challenge_y", "if True:\n### BEGIN HIDDEN TESTS\n    x = 2\n"
                                                   "### END HIDDEN TESTS\n    pass\nx * 2"))
    assert [(kind, mode) for kind, _, mode in inside["parts"]] == [("hidden", "exec"), ("hidden", "eval")]


def test_reports_keep_a_score_only_when_it_is_a_number() -> None:
    lines = ['{"nonce": "n", "test": "challenge_a", "passed": true, "score": 6.5, "facts": {"accuracy": 0.8}}',
             '{"nonce": "n", "test": "challenge_b", "passed": true, "score": "10"}',
             '{"nonce": "n", "test": "challenge_c", "passed": true, "score": -1}']
    tests = parse_reports("\n".join(lines), "n").tests
    assert tests["challenge_a"]["score"] == 6.5 and tests["challenge_a"]["facts"] == {"accuracy": 0.8}
    assert "score" not in tests["challenge_b"] and "score" not in tests["challenge_c"]


def graded_notebook(*outputs: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[executed(*outputs)])
    nb.cells[0].metadata[METADATA_KEY] = {"passed": True, "facts": {"accuracy": 1.0}}  # the submission's
    return nb


def verdict(score: float | None, passed: bool = True) -> Verdicts:
    report = {"passed": passed, "message": "" if passed else "AssertionError: no", "where": "" if passed else "hidden",
              "during": []}
    if score is not None:
        report.update(score=score, facts={"accuracy": 0.7})
    return Verdicts(started=True, finished=True, tests={"challenge_score": report})


@pytest.mark.parametrize("kernel, fresh, expected, noted", [
    (6.5, 6.5, 6.5, False),  # honest: nbgrader's score
    (10.0, 6.5, 6.5, True),  # the kernel claims more than the fresh interpreter measured: the lower, and a note
    (3.0, 6.5, 3.0, False),  # nbgrader's lower score stands, as a failure does
    (0.0, 0.0, 0.0, False),  # at or below the floor: 0 points, the test ran
])
def test_a_challenge_cell_gets_the_lower_of_the_two_scores(kernel: float, fresh: float, expected: float,
                                                           noted: bool) -> None:
    nb = graded_notebook(result(f"{kernel:g}"))
    grades = {"challenge_score": (kernel, False)}
    notes = apply_verdicts(nb, "nb", grades, verdict(fresh))
    assert grades["challenge_score"] == (expected, False), grades
    assert bool(notes) == noted and (not noted or "the lower counts" in notes[0]), notes
    assert nb.cells[0].metadata[METADATA_KEY] == {"passed": True, "message": "", "score": expected,
                                                  "facts": {"accuracy": 0.7}}


@pytest.mark.parametrize("fresh, passed", [(None, True), (None, False)])
def test_a_challenge_cell_the_runner_could_not_score_counts_zero(fresh: float | None, passed: bool) -> None:
    nb = graded_notebook(result("8"))
    grades = {"challenge_score": (8.0, False)}
    notes = apply_verdicts(nb, "nb", grades, verdict(fresh, passed))
    assert grades["challenge_score"] == (0.0, False) and "the fresh interpreter failed it" in notes[0], (grades, notes)
    assert nb.cells[0].outputs[-1]["ename"] == "VerdictMismatch"
    assert nb.cells[0].metadata[METADATA_KEY]["passed"] is False and "facts" not in nb.cells[0].metadata[METADATA_KEY]


def test_a_kernel_failure_keeps_zero_and_no_facts() -> None:
    nb = graded_notebook(ERROR)
    grades = {"challenge_score": (0.0, False)}
    apply_verdicts(nb, "nb", grades, verdict(6.5))
    assert grades["challenge_score"] == (0.0, False)
    assert nb.cells[0].metadata[METADATA_KEY] == {"passed": False, "message": "", "score": 0.0, "facts": {}}


# ---------------------------------------------------------------------------
# the leaderboard


def test_the_leaderboard_ranks_by_points_then_accuracy_then_cost_and_shares_ranks_on_ties() -> None:
    scores = {"ann": 10, "bo": 10, "cy": 10, "di": 7.5, "ed": 0, "fay": 7.5}
    facts = {"ann": {"accuracy": 0.91, "macs": 2e7, "params": 1e5}, "bo": {"accuracy": 0.91, "macs": 1e7, "params": 2e5},
             "cy": {"accuracy": 0.93}, "di": {"accuracy": 0.78}, "fay": {"accuracy": 0.78}}
    board = leaderboard(scores, facts, 10)
    assert [(e.rank, e.student) for e in board] == \
        [(1, "cy"), (2, "bo"), (3, "ann"), (4, "di"), (4, "fay"), (6, "ed")], board
    assert board[-1].facts == {} and board[0].max_points == 10


def test_the_report_shows_a_leaderboard_only_for_challenge_cells() -> None:
    results = [SubmissionResult("ann", "graded", 97.5, 100, {"test_a": 90, "challenge_score": 7.5},
                                facts={"challenge_score": {"accuracy": 0.8, "params": 150_000, "macs": 25_000_000}}),
               SubmissionResult("bo", "graded", 100, 100, {"test_a": 90, "challenge_score": 10},
                                facts={"challenge_score": {"accuracy": 0.9, "params": 190_000, "macs": 29_000_000}}),
               SubmissionResult("cy", "failed", 0, 100, {})]
    report = GradingReport("07", results, test_cells={"test_a": 90, "challenge_score": 10}, workers=1, sandbox="off",
                           seconds=3)
    assert list(report.leaderboards()) == ["challenge_score"]
    table = report.table()
    board = table.split("leaderboard: challenge_score")[1]
    rows = [line.split() for line in board.splitlines()[2:5]]
    assert [row[:3] for row in rows] == [["1", "bo", "10/10"], ["2", "ann", "7.5/10"], ["3", "cy", "0/10"]], board
    assert "90.00%" in board and "190,000" in board and "29.0M" in board
    plain = GradingReport("07", results, test_cells={"test_a": 90}, workers=1, sandbox="off", seconds=3)
    assert "leaderboard" not in plain.table() and plain.leaderboards() == {}


def test_the_leaderboard_csv_sits_beside_the_grades_export(tmp_path: Path) -> None:
    path = write_leaderboard(leaderboard_path(tmp_path / "grades-07.csv"), {"challenge_score": [
        Entry(1, "bo", 10, 10, {"accuracy": 0.9, "params": 190_000, "macs": 29_000_000}), Entry(2, "cy", 0, 10)]},
        "07_efficient_cnns")
    assert path == tmp_path / "grades-07-leaderboard.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [
        {"assignment": "07_efficient_cnns", "cell": "challenge_score", "rank": "1", "student_id": "bo", "points": "10",
         "max_points": "10", "accuracy": "0.9", "params": "190000", "macs": "29000000"},
        {"assignment": "07_efficient_cnns", "cell": "challenge_score", "rank": "2", "student_id": "cy", "points": "0",
         "max_points": "10", "accuracy": "", "params": "", "macs": ""}], rows
    assert leaderboard_table("challenge_score", []).count("\n") == 1


def test_facts_are_read_only_from_challenge_cells_of_the_grader() -> None:
    nb = {"cells": [{"metadata": {"nbgrader": {"grade_id": "challenge_score"}, METADATA_KEY: {"facts": {"params": 5}}}},
                    {"metadata": {"nbgrader": {"grade_id": "test_a"}, METADATA_KEY: {"facts": {"params": 9}}}},
                    {"metadata": {"nbgrader": {"grade_id": "challenge_model"}}}]}
    assert read_facts(nb, METADATA_KEY) == {"challenge_score": {"params": 5.0}}
    assert read_facts(nbformat.from_dict(nb), METADATA_KEY) == {"challenge_score": {"params": 5.0}}, \
        "a notebook read with nbformat holds NotebookNodes, not dicts"
