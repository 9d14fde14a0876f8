"""Challenge cells: test cells scored on a scale (partial credit), and the cohort's leaderboard.

Scope: the one rule that makes a test cell a challenge cell (``is_challenge``:
an autograded test cell whose ``grade_id`` starts with ``challenge``), how its
points are read on each side of grading, and the leaderboard that ranks a
cohort by them (``leaderboard``, ``leaderboard_table``, ``write_leaderboard``).

A challenge test cell ends with an expression whose value is its points, a
plain ``int`` or ``float`` from 0 to the cell's points (for example 0 at or
below a floor accuracy, all at or above a ceiling, linear between), and may
bind ``challenge_facts`` (``FACTS_NAME``), a dict of plain numbers under the
keys of ``FACT_KEYS``, for the leaderboard.

- **nbgrader** scores a test cell by its first ``execute_result``: the number
  in its ``text/plain`` is the points (``nbgrader.utils.determine_grade``).
  nbgrader itself gives *full* points for a result that is not a number or is
  negative, and stops with a ``ValueError`` for one above the cell's points.
  ``SafeExecute`` keeps a challenge cell's result only when it is exactly one
  plain number within range (``points_from_text``) and no error came before
  it; otherwise the cell fails. Every other test cell loses its results.
- **The verdict pass** (``verdict_runner``) evaluates the cell's last
  expression itself, in the fresh interpreter, and accepts only a value whose
  type is exactly ``int`` or ``float`` within range (``points_from_value``):
  the number never passes through text that a submission could print or
  display, and an object of the submission's own class is refused.
- **The grade** is the lower of the two (``apply_verdicts``): a submission
  that makes the kernel report more than the fresh interpreter measured gets
  the fresh interpreter's points and a note; an honest one gets nbgrader's.

The facts (accuracy, parameters, multiply-adds) come from the verdict pass
only, as values of the test's own code there; they are as trustworthy as the
points (code written against the test's variables, run from inside the
student's model, could change both) and serve to order the leaderboard.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHALLENGE_PREFIX = "challenge"
FACTS_NAME = "challenge_facts"
FACT_KEYS = ("accuracy", "params", "macs")


def is_challenge(grade_id: object) -> bool:
    """Whether a test cell's ``grade_id`` makes it a challenge cell (scored on a scale): it starts with "challenge".

    Apply it to autograded test cells only (the answer cell ``challenge_model`` is no test cell).

    Example:
        >>> is_challenge("challenge_score"), is_challenge("test_challenge"), is_challenge(None)
        (True, False, False)
    """
    return isinstance(grade_id, str) and grade_id.startswith(CHALLENGE_PREFIX)


def points_from_value(value: object, max_points: float) -> float | None:
    """The points a challenge cell's last expression gave, or None when it is not a plain number in [0, max_points].

    Only values whose type is exactly ``int`` or ``float`` count (no ``bool``, no
    subclass, no NumPy or torch scalar): checking them runs no code of the submission.

    Example:
        >>> points_from_value(6.25, 10), points_from_value(True, 10), points_from_value(11, 10)
        (6.25, None, None)
    """
    if type(value) not in (int, float):
        return None
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= float(max_points):
        return None
    return number


def points_from_text(text: object, max_points: float) -> float | None:
    """The points of a challenge cell's ``execute_result`` text as nbgrader reads it, or None unless in [0, max_points].

    nbgrader gives full points for a text that is not a number (or a negative
    one); here such a text gives None, and the cell fails.

    Example:
        >>> points_from_text("6.25", 10), points_from_text("'full marks'", 10), points_from_text(["3", "4"], 10)
        (6.25, None, None)
    """
    if isinstance(text, list):
        if len(text) != 1:
            return None
        text = text[0]
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return points_from_value(number, max_points)


def facts_from_value(value: object) -> dict[str, float]:
    """The leaderboard facts in ``challenge_facts``: the keys of ``FACT_KEYS`` whose values are plain finite numbers.

    Example:
        >>> facts_from_value({"accuracy": 0.875, "params": 95_000, "macs": True, "other": 1})
        {'accuracy': 0.875, 'params': 95000.0}
        >>> facts_from_value("not a dict")
        {}
    """
    if type(value) is not dict:
        return {}
    facts = {}
    for key in FACT_KEYS:
        number = value.get(key)
        if type(number) in (int, float) and math.isfinite(number):
            facts[key] = float(number)
    return facts


@dataclass(frozen=True)
class Entry:
    """One student's place on a challenge's leaderboard.

    Attributes:
        rank: 1 for the best; equal points and facts share a rank.
        student: the student id.
        points: the challenge cell's points in the gradebook.
        max_points: the cell's points at most.
        facts: accuracy, params, macs where the verdict pass measured them (absent when the test failed).
    """

    rank: int
    student: str
    points: float
    max_points: float
    facts: dict[str, float] = field(default_factory=dict)


def leaderboard(scores: dict[str, float], facts: dict[str, dict[str, float]], max_points: float) -> list[Entry]:
    """Rank students by points, then accuracy (higher first), then multiply-adds and parameters (fewer first).

    Students without facts (their challenge test failed) come after those with,
    at equal points.

    Example:
        >>> board = leaderboard({"ann": 10, "bo": 10, "cy": 4.5, "di": 0},
        ...                     {"ann": {"accuracy": 0.9}, "bo": {"accuracy": 0.92}, "cy": {"accuracy": 0.7}}, 10)
        >>> [(e.rank, e.student) for e in board]
        [(1, 'bo'), (2, 'ann'), (3, 'cy'), (4, 'di')]
    """
    def key(student: str) -> tuple:
        known = facts.get(student, {})
        return (-scores[student], "accuracy" not in known, -known.get("accuracy", 0.0),
                known.get("macs", math.inf), known.get("params", math.inf))

    order = sorted(scores, key=lambda s: (key(s), s))
    entries: list[Entry] = []
    for position, student in enumerate(order, start=1):
        rank = entries[-1].rank if entries and key(entries[-1].student) == key(student) else position
        entries.append(Entry(rank, student, float(scores[student]), float(max_points), dict(facts.get(student, {}))))
    return entries


def leaderboard_table(cell: str, entries: list[Entry]) -> str:
    """The leaderboard of one challenge cell as text, for the grading table.

    Example:
        >>> print(leaderboard_table("challenge_score", [Entry(1, "bo", 10, 10, {"accuracy": 0.92, "params": 95000,
        ...                                                                    "macs": 12_500_000}), Entry(2, "di", 0, 10)]))
        leaderboard: challenge_score (by points, then accuracy, then fewer multiply-adds and parameters)
        rank  student  points  accuracy   params  MACs
           1  bo        10/10    92.00%   95,000  12.5M
           2  di         0/10         —        —  —
    """
    width = max([len("student")] + [len(e.student) for e in entries])
    lines = [f"leaderboard: {cell} (by points, then accuracy, then fewer multiply-adds and parameters)",
             f"rank  {'student':<{width}}  {'points':>6}  accuracy  {'params':>7}  MACs"]
    for e in entries:
        accuracy = f"{e.facts['accuracy']:.2%}" if "accuracy" in e.facts else "—"
        params = f"{e.facts['params']:,.0f}" if "params" in e.facts else "—"
        macs = f"{e.facts['macs'] / 1e6:.1f}M" if "macs" in e.facts else "—"
        points = f"{e.points:g}/{e.max_points:g}"
        lines.append(f"{e.rank:>4}  {e.student:<{width}}  {points:>6}  {accuracy:>8}  {params:>7}  {macs}")
    return "\n".join(lines)


def write_leaderboard(path: str | Path, boards: dict[str, list[Entry]], assignment: str) -> Path:
    """Write every challenge cell's leaderboard to one CSV: rank, student, points, facts (empty where unknown).

    Example::

        write_leaderboard("grades-07-leaderboard.csv", report.leaderboards(), "07_efficient_cnns")
    """
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["assignment", "cell", "rank", "student_id", "points", "max_points", *FACT_KEYS])
        for cell, entries in boards.items():
            for e in entries:
                writer.writerow([assignment, cell, e.rank, e.student, _number(e.points), _number(e.max_points),
                                 *(_number(e.facts[k]) if k in e.facts else "" for k in FACT_KEYS)])
    return path


def _number(value: float) -> str:
    """A number for the CSV: whole numbers without a decimal point, others as Python writes them (all digits)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def leaderboard_path(grades_csv: str | Path) -> Path:
    """Where the leaderboard goes beside a grades export: ``grades-07.csv`` -> ``grades-07-leaderboard.csv``.

    Example:
        >>> leaderboard_path("out/grades-07.csv").as_posix()
        'out/grades-07-leaderboard.csv'
    """
    grades_csv = Path(grades_csv)
    return grades_csv.with_name(f"{grades_csv.stem}-leaderboard{grades_csv.suffix or '.csv'}")


def read_facts(notebook: dict[str, Any], metadata_key: str) -> dict[str, dict[str, float]]:
    """The facts the grader stored in an autograded notebook (``metadata[metadata_key]["facts"]``), by challenge cell.

    Example:
        >>> read_facts({"cells": [{"metadata": {"nbgrader": {"grade_id": "challenge_score"},
        ...                                     "cnncourse": {"facts": {"accuracy": 0.5}}}}]}, "cnncourse")
        {'challenge_score': {'accuracy': 0.5}}
    """
    found = {}
    for cell in notebook.get("cells", []):
        meta = cell.get("metadata", {})
        grade_id = meta.get("nbgrader", {}).get("grade_id")
        if is_challenge(grade_id) and isinstance(meta.get(metadata_key), dict):
            stored = meta[metadata_key].get("facts")  # a NotebookNode when read with nbformat: a plain dict here
            found[grade_id] = facts_from_value(dict(stored) if isinstance(stored, dict) else stored)
    return found
