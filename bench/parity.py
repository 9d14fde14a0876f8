"""Parity: ``cnncourse grade`` gives honest submissions exactly the scores of ``nbgrader autograde``.

Scope: one command that checks, for every assignment (or those named), that
the grader's extra passes (the safe execution, the sandbox, the verdict pass in
a fresh interpreter) never change the score of an honest submission. In a
throw-away course directory per assignment, three students submit:

- ``honest``: the instructor's answers (the release notebook with the solution
  regions filled in), with the ``runs/`` its training cells saved when the
  notebook was run once beforehand, as a student hands them in;
- ``imperfect``: the same, but the last answer cell left as released (an
  honest submission that misses one task), with the same runs;
- ``untouched``: the release notebook as handed out (no runs).

nbgrader's own ``autograde`` grades one copy of the course, one submission
after another; ``cnncourse grade`` (default sandbox, verdict pass) grades
another copy. Every test cell's points must be equal. The budget is ``smoke``
(the student's run and both gradings)::

    .venv/bin/python -m bench.parity                          # every assignment in source/
    .venv/bin/python -m bench.parity 05_resnet 07_efficient_cnns --out /tmp/parity.md

Exit status 0 when every score agrees, 1 otherwise. Nothing needs the network.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.grading import SOURCES, _nbgrader, make_course, notebook_name
from bench.notebooks import execute
from bench.submissions import corpus
from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.grade import grade

VARIANTS = ("honest", "imperfect", "untouched")


@dataclass
class Parity:
    """One assignment's check: per student and test cell, nbgrader's points and cnncourse grade's."""

    assignment: str
    nbgrader: dict[str, dict[str, float]]
    cnncourse: dict[str, dict[str, float]]
    notes: dict[str, list[str]]
    seconds: dict[str, float]
    unanswered: str  # the answer cell the imperfect submission leaves as released

    def differences(self, student: str) -> list[str]:
        ours, theirs = self.cnncourse.get(student, {}), self.nbgrader.get(student, {})
        return [f"{cell}: nbgrader {theirs.get(cell)}, cnncourse {ours.get(cell)}"
                for cell in sorted(set(ours) | set(theirs)) if ours.get(cell) != theirs.get(cell)]

    @property
    def same(self) -> bool:
        return all(not self.differences(student) for student in VARIANTS)


def cell_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    """Per student, per autograded cell, the auto score in the gradebook (None counted as 0)."""
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute(
            "SELECT sa.student_id, bc.name, g.auto_score FROM grade g "
            "JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN assignment a ON sa.assignment_id = a.id "
            "JOIN grade_cells gc ON g.cell_id = gc.id JOIN base_cell bc ON gc.id = bc.id "
            "WHERE a.name = ? AND gc.cell_type = 'code'", (assignment,)).fetchall()
    scores: dict[str, dict[str, float]] = {}
    for student, cell, score in rows:
        scores.setdefault(student, {})[cell] = float(score or 0)
    return scores


def submissions(course: Path, assignment: str) -> tuple[dict[str, bytes], str]:
    """The three notebooks (bytes) and the grade_id of the answer cell the imperfect one leaves as released."""
    name = notebook_name(assignment)
    release = json.loads((course / "release" / assignment / name).read_text(encoding="utf-8"))
    source = json.loads((course / "source" / assignment / name).read_text(encoding="utf-8"))
    honest = corpus.solutions(release, source)
    answers = [cell for cell in honest["cells"] if cell["cell_type"] == "code"
               and cell.get("metadata", {}).get("nbgrader", {}).get("solution")]
    last = answers[-1]["metadata"]["nbgrader"]["grade_id"]
    imperfect = json.loads(json.dumps(honest))
    released = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c["source"] for c in release["cells"]}
    for cell in imperfect["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == last:
            cell["source"] = released[last]
    text = {key: (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
            for key, nb in (("honest", honest), ("imperfect", imperfect), ("untouched", release))}
    return text, last


def check(assignment: str, work: Path, *, workers: int = 1, timeout: int | None = None) -> Parity:
    """Grade the three submissions of ``assignment`` with both graders (see the module docstring)."""
    seconds: dict[str, float] = {}
    template = make_course(work / f"{assignment}-template", assignment)
    notebooks, unanswered = submissions(template, assignment)
    name = notebook_name(assignment)
    for student, data in notebooks.items():
        folder = template / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
    started = time.perf_counter()  # the honest student runs the notebook once: its training cells save runs/
    elapsed, error = execute(template / "submitted" / "honest" / assignment / name, work / "student-run",
                             threads=os.cpu_count() or 1)
    if error:
        raise RuntimeError(f"{assignment}: the honest notebook failed when the student ran it: {error}")
    seconds["student run (saves runs/)"] = time.perf_counter() - started
    ran = work / "student-run" / f"honest_{assignment}"  # where execute ran it
    if (ran / "runs").is_dir():
        for student in ("honest", "imperfect"):
            shutil.copytree(ran / "runs", template / "submitted" / student / assignment / "runs")
    sides = {}
    for side in ("nbgrader", "cnncourse"):
        course = work / f"{assignment}-{side}"
        shutil.copytree(template, course)
        started = time.perf_counter()
        if side == "nbgrader":
            _nbgrader(course, "autograde", assignment, "--force")
            notes = {}
        else:
            report = grade(assignment, course_dir=course, workers=workers, timeout=timeout, progress=False)
            notes = {r.student: list(r.notes) for r in report.results}
        seconds[side] = time.perf_counter() - started
        sides[side] = (cell_scores(course, assignment), notes)
    return Parity(assignment, sides["nbgrader"][0], sides["cnncourse"][0], sides["cnncourse"][1], seconds, unanswered)


def markdown(results: list[Parity], *, load: tuple[float, ...], started: str) -> str:
    lines = [f"Checked {started} on {os.cpu_count()} CPU cores (load average {load[0]:.1f} before, "
             f"{os.getloadavg()[0]:.1f} after), budget `{os.environ.get('CNNCOURSE_BUDGET', 'full')}`, "
             f"sandbox `{sandbox.available_modes()[0]}`, verdict pass on.", "",
             "| assignment | honest | imperfect (last task unanswered) | untouched | identical per test cell | "
             "nbgrader / cnncourse grade, seconds |", "|---|---:|---:|---:|---|---:|"]
    for result in results:
        cells = []
        for student in VARIANTS:
            theirs = sum(result.nbgrader.get(student, {}).values())
            ours = sum(result.cnncourse.get(student, {}).values())
            cells.append(f"{theirs:g}" if theirs == ours else f"{theirs:g} / {ours:g}")
        differences = [f"{s}: {d}" for s in VARIANTS for d in result.differences(s)]
        lines.append(f"| {result.assignment} | {' | '.join(cells)} | "
                     f"{'yes' if result.same else 'NO: ' + '; '.join(differences)} | "
                     f"{result.seconds['nbgrader']:.0f} / {result.seconds['cnncourse']:.0f} |")
    lines += ["", "Scores are the autograded points (nbgrader's; where cnncourse grade differs, nbgrader / cnncourse). "
              "Written answers are graded by hand and left out. The honest and the imperfect submissions hand in "
              "the same runs/, so the copy signal naming them (\"identical to\") is expected."]
    noted = [(r.assignment, s, n) for r in results for s in VARIANTS for n in r.notes.get(s, [])]
    if noted:
        lines += ["", "Notes of cnncourse grade:", ""] + [f"- {a}, {s}: {n}" for a, s, n in noted]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Check the assignments named (default: all), print the Markdown table; 0 when every score agrees."""
    parser = argparse.ArgumentParser(prog="python -m bench.parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help=f"which (default: every assignment in source/): {', '.join(SOURCES)}")
    parser.add_argument("--workers", type=int, default=1, help="cnncourse grade's workers (default 1)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: the course's)")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    unknown = [name for name in args.assignments if name not in SOURCES]
    if unknown:
        parser.error(f"unknown assignment(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    os.environ["CNNCOURSE_BUDGET"] = "smoke"  # the student's run (bench.notebooks.execute) is a smoke run too
    names = args.assignments or [name for name in SOURCES if name != "00_fixture"]
    load, started = os.getloadavg(), datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    results = []
    with tempfile.TemporaryDirectory(prefix="cnncourse-parity-") as tmp:
        for assignment in names:
            print(f"[bench.parity] {assignment}...", file=sys.stderr, flush=True)
            results.append(check(assignment, Path(tmp) / assignment, workers=args.workers, timeout=args.timeout))
            print(markdown(results[-1:], load=load, started=started).split("\n")[4], file=sys.stderr, flush=True)
    text = markdown(results, load=load, started=started)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0 if all(r.same for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
