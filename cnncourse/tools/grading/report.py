"""The grading table: what ``cnncourse grade`` found, per student and per test cell.

Scope: two plain records, ``SubmissionResult`` (one student) and
``GradingReport`` (one run), and the text table printed at the end of a run:
scores, the share of the cohort that passed each test cell, the
leaderboard of each challenge cell (``cnncourse.tools.grading.challenge``),
and the submissions that need an instructor's attention, with the reason in words.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from cnncourse.tools.grading.challenge import Entry, is_challenge, leaderboard, leaderboard_table


@dataclass
class SubmissionResult:
    """What grading one student's submission gave.

    Attributes:
        student: the student id.
        status: "graded" (now), "unchanged" (graded before, same files and settings) or "failed".
        score: autograded plus manual points in the gradebook.
        max_score: the assignment's total points.
        cells: per autograded test cell (grade_id), the points it got.
        manual: how many answers still need grading by hand.
        notes: sentences for the "needs attention" part of the table.
        seconds: wall-clock time of the grading (0 for unchanged).
        facts: per challenge cell, what the verdict pass measured (accuracy, params, macs), for the leaderboard.
    """

    student: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, float] = field(default_factory=dict)
    manual: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    facts: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class GradingReport:
    """The outcome of ``grade``: one result per student, and how the run went.

    Attributes:
        assignment: the assignment graded.
        results: one ``SubmissionResult`` per selected student, sorted by id.
        test_cells: the autograded test cells, with their points, in notebook order.
        workers: how many submissions were graded at a time.
        sandbox: the sandbox mode used.
        seconds: wall-clock time of the whole run.
        warnings: notes about the run itself (isolation, permissions).

    Example:
        >>> report = GradingReport("00_fixture", [
        ...     SubmissionResult("alice", "graded", 100, 100, {"test_double": 40, "test_clip_sum": 60}),
        ...     SubmissionResult("mallory", "graded", 40, 100, {"test_double": 40, "test_clip_sum": 0},
        ...                      notes=["fixture.ipynb (test_clip_sum), tampering: math.isclose had been replaced"])],
        ...     test_cells={"test_double": 40, "test_clip_sum": 60}, workers=2, sandbox="full", seconds=8)
        >>> report.pass_rates()
        {'test_double': 1.0, 'test_clip_sum': 0.5}
        >>> [r.student for r in report.attention()]
        ['mallory']
        >>> print(report.table())
        00_fixture: 2 submissions, 2 graded now, 0 unchanged since the last run; 2 workers, 8 s; sandbox full
        <BLANKLINE>
        student          score  by hand  status
        alice          100/100        0  graded
        mallory         40/100        0  graded  (1 note)
        <BLANKLINE>
        test cell      points  passed by
        test_double        40    100%
        test_clip_sum      60     50%
        <BLANKLINE>
        needs attention (1):
          mallory: fixture.ipynb (test_clip_sum), tampering: math.isclose had been replaced
    """

    assignment: str
    results: list[SubmissionResult]
    test_cells: dict[str, float]
    workers: int
    sandbox: str
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def pass_rates(self) -> dict[str, float]:
        """Per test cell, the share of students that got all its points (see the class's example)."""
        if not self.results:
            return {cell: 0.0 for cell in self.test_cells}
        return {cell: sum(r.cells.get(cell, 0) >= points for r in self.results) / len(self.results)
                for cell, points in self.test_cells.items()}

    def leaderboards(self) -> dict[str, list[Entry]]:
        """Per challenge cell (``is_challenge``), the students ranked by its points, then by their facts.

        Example:
            >>> report = GradingReport("07", [SubmissionResult("ann", "graded", 70, 100, {"challenge_score": 10},
            ...                                                facts={"challenge_score": {"accuracy": 0.9}}),
            ...                               SubmissionResult("bo", "graded", 60, 100, {"challenge_score": 6.5})],
            ...                        test_cells={"test_x": 50, "challenge_score": 10}, workers=1, sandbox="off", seconds=1)
            >>> [(e.rank, e.student, e.points) for e in report.leaderboards()["challenge_score"]]
            [(1, 'ann', 10.0), (2, 'bo', 6.5)]
        """
        return {cell: leaderboard({r.student: r.cells.get(cell, 0.0) for r in self.results},
                                  {r.student: r.facts[cell] for r in self.results if r.facts.get(cell)}, points)
                for cell, points in self.test_cells.items() if is_challenge(cell)}

    def attention(self) -> list[SubmissionResult]:
        """The submissions with notes (failed, tampered, timed out, edited, ...) (see the class's example)."""
        return [r for r in self.results if r.notes or r.status == "failed"]

    def table(self) -> str:
        """The grading table: scores per student, pass rate per test cell, what needs attention (see the class's example)."""
        graded = sum(r.status == "graded" for r in self.results)
        unchanged = sum(r.status == "unchanged" for r in self.results)
        failed = sum(r.status == "failed" for r in self.results)
        head = (f"{self.assignment}: {len(self.results)} submission{'s' if len(self.results) != 1 else ''}, "
                f"{graded} graded now, {unchanged} unchanged since the last run"
                + (f", {failed} failed" if failed else "")
                + f"; {self.workers} worker{'s' if self.workers != 1 else ''}, {self.seconds:.0f} s; "
                f"sandbox {self.sandbox}")
        lines = [head, *(f"warning: {w}" for w in self.warnings), ""]
        width = max([len("student")] + [len(r.student) for r in self.results])
        lines.append(f"{'student':<{width}}  {'score':>13}  {'by hand':>7}  status")
        for r in self.results:
            score = f"{format_points(r.score)}/{format_points(r.max_score)}"
            flag = f"  ({len(r.notes)} note{'s' if len(r.notes) != 1 else ''})" if r.notes else ""
            lines.append(f"{r.student:<{width}}  {score:>13}  {r.manual:>7}  {r.status}{flag}")
        if self.test_cells:
            lines.append("")
            cell_width = max(len("test cell"), *(len(c) for c in self.test_cells))
            lines.append(f"{'test cell':<{cell_width}}  {'points':>6}  passed by")
            for cell, rate in self.pass_rates().items():
                lines.append(f"{cell:<{cell_width}}  {format_points(self.test_cells[cell]):>6}  {rate:6.0%}")
        for cell, entries in self.leaderboards().items():
            lines += ["", leaderboard_table(cell, entries)]
        attention = self.attention()
        lines.append("")
        lines.append("needs attention: none" if not attention else f"needs attention ({len(attention)}):")
        for r in attention:
            for i, note in enumerate(r.notes or ["grading failed"]):
                prefix = f"  {r.student}: " if i == 0 else " " * (len(r.student) + 4)
                lines.append(textwrap.fill(note, width=110, initial_indent=prefix,
                                           subsequent_indent=" " * (len(r.student) + 6)))
        return "\n".join(lines)


def format_points(value: float) -> str:
    """Points without a needless ".0".

    Example:
        >>> format_points(40.0), format_points(2.5)
        ('40', '2.5')
    """
    return f"{value:g}"
