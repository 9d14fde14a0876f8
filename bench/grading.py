"""Benchmark 6: grading throughput, the bad-submission corpus, and memory.

Scope: the figures of the README's "For instructors" section. In throw-away
course directories it measures

- submissions graded per minute by ``cnncourse grade`` with N workers, against
  ``nbgrader autograde`` grading the same batch one submission after another
  (and checks that both give the same scores);
- peak memory: of the whole process tree (grader, workers, kernels), sampled
  from /proc every 0.2 s, and of the largest single process;
- the bad-submission corpus (bench/submissions/00_fixture.json),
  graded once: what each case gets and the grading table's note.

``run(settings)`` is benchmark 6 of ``python -m bench``: the same batch graded
by nbgrader's sequential autograde and by ``cnncourse grade`` with 1 and 2
workers, side by side, interleaved, the median of the repeats (a table and a
ratio in ``bench/results.md``). ``main`` below adds memory and the corpus.

Run it on a quiet machine; the load average is recorded before and after::

    .venv/bin/python -m bench.grading                                  # both assignments, 1 and 2 workers
    .venv/bin/python -m bench.grading --assignment 00_fixture --students 12 --workers 1 2 4
    .venv/bin/python -m bench.grading --out bench/grading.md

Nothing needs the network. Timings depend on the machine and its load; the
test suite never depends on them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.clock import Side, side_by_side
from bench.report import Ratio, Table, seconds_text
from bench.settings import REPO, Settings
from bench.submissions import corpus
from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.grade import grade
from cnncourse.tools.release import nbgrader_environment

SOURCES = {"00_fixture": REPO / "tests" / "fixtures" / "source",  # assignment -> the folder holding its source folder
           **{folder.name: REPO / "source" for folder in sorted((REPO / "source").iterdir()) if folder.is_dir()}}


@dataclass
class Run:
    """One timed grading of a batch."""

    label: str
    workers: int
    seconds: float
    submissions: int
    peak_total_mb: float
    peak_process_mb: float
    scores: dict[str, float]

    @property
    def per_minute(self) -> float:
        return 60 * self.submissions / self.seconds


class MemorySampler:
    """Peak resident memory of this process and all its descendants, sampled from /proc.

    Example:
        >>> with MemorySampler() as memory:  # doctest: +SKIP
        ...     subprocess.run(["sleep", "1"])
        >>> memory.peak_total_mb > 0  # doctest: +SKIP
        True
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_total = 0
        self.peak_process = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_total_mb(self) -> float:
        return self.peak_total / 2**20

    @property
    def peak_process_mb(self) -> float:
        return self.peak_process / 2**20

    def _loop(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            sizes = [rss * page for rss in _tree_rss(os.getpid())]
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_process = max([self.peak_process, *sizes])
            self._stop.wait(self.interval)


def _tree_rss(root: int) -> list[int]:
    """Resident pages of ``root`` and every descendant."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return [rss[pid] for pid in tree if pid in rss]


def make_course(root: Path, assignment: str, *, source: Path | None = None) -> Path:
    """A course directory with one assignment, generated and registered in a fresh gradebook.

    ``source`` is the folder holding the assignment's source folder (default: ``SOURCES[assignment]``).
    """
    root.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree((source or SOURCES[assignment]) / assignment, root / "source" / assignment)
    _nbgrader(root, "generate_assignment", assignment, "--force")
    return root


def _nbgrader(course: Path, *args: str) -> None:
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}", "--log-level=ERROR"]
    done = subprocess.run(command, cwd=course, env=nbgrader_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def notebook_name(assignment: str) -> str:
    """The file name of the assignment's notebook, e.g. ``resnet.ipynb``."""
    return next((SOURCES[assignment] / assignment).glob("*.ipynb")).name


def good_case(assignment: str) -> corpus.Case:
    """The corpus's ``good`` case, or, for an assignment without a corpus, every answer right."""
    if (corpus.HERE / f"{assignment}.json").is_file():
        return next(c for c in corpus.cases(assignment) if c.name == "good")
    return corpus.Case(assignment, "good", "every answer right", {"base": "solutions", "others": "full"})


def submit(course: Path, assignment: str, names: list[str], case: corpus.Case) -> None:
    notebook = next((course / "release" / assignment).glob("*.ipynb")).name
    release = json.loads((course / "release" / assignment / notebook).read_text(encoding="utf-8"))
    source = json.loads((course / "source" / assignment / notebook).read_text(encoding="utf-8"))
    data = corpus.build(case, release, source, course=course)
    for name in names:
        folder = course / "submitted" / name / assignment
        folder.mkdir(parents=True)
        (folder / notebook).write_bytes(data)


def scores(course: Path, assignment: str) -> dict[str, float]:
    """Each student's total auto score, from the gradebook."""
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute(
            "SELECT sa.student_id, SUM(COALESCE(g.auto_score, 0)) FROM grade g "
            "JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN assignment a ON sa.assignment_id = a.id WHERE a.name = ? GROUP BY sa.student_id", (assignment,))
        return dict(rows.fetchall())


def throughput(assignment: str, students: int, workers: list[int], work: Path) -> list[Run]:
    """nbgrader's sequential autograde, then cnncourse grade with each worker count, on the same batch."""
    good = good_case(assignment)
    names = [f"student{i:03d}" for i in range(students)]
    template = make_course(work / f"template-{assignment}", assignment)
    submit(template, assignment, names, good)
    runs = []
    course = work / f"{assignment}-nbgrader"
    shutil.copytree(template, course)
    with MemorySampler() as memory:
        started = time.perf_counter()
        _nbgrader(course, "autograde", assignment, "--force")
        seconds = time.perf_counter() - started
    runs.append(Run("nbgrader autograde (sequential)", 1, seconds, students, memory.peak_total_mb,
                    memory.peak_process_mb, scores(course, assignment)))
    for count in workers:
        course = work / f"{assignment}-grade-{count}"
        shutil.copytree(template, course)
        with MemorySampler() as memory:
            started = time.perf_counter()
            grade(assignment, course_dir=course, workers=count, progress=False)
            seconds = time.perf_counter() - started
        runs.append(Run(f"cnncourse grade, {count} worker{'s' if count > 1 else ''}", count, seconds, students,
                        memory.peak_total_mb, memory.peak_process_mb, scores(course, assignment)))
    return runs


# Benchmark 6 in the suite: which assignment, how many submissions, which worker counts.
SUITE_SIZES = {
    "full": {"assignment": "01_conv_arithmetic", "students": 8, "workers": [1, 2]},
    "reduced": {"assignment": "00_fixture", "students": 8, "workers": [1, 2]},
    "tiny": {"assignment": "00_fixture", "students": 1, "workers": [2]},
}
NBGRADER = "nbgrader autograde (sequential)"


def run(settings: Settings) -> Table:
    """Benchmark 6: submissions graded per minute, ``cnncourse grade`` against nbgrader's autograde.

    Every side grades a fresh copy of the same course (the same submissions,
    all the right answers); the wall clock includes starting the workers and
    writing the gradebook. Each side's scores are compared with nbgrader's.

    Example:
        >>> run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).key
        'grading'
    """
    size = settings.pick(SUITE_SIZES)
    assignment, students = size["assignment"], size["students"]
    os.environ.setdefault("CNNCOURSE_BUDGET", "smoke")
    template = make_course(settings.work / f"grading-{assignment}", assignment)
    submit(template, assignment, [f"student{i:03d}" for i in range(students)],
           good_case(assignment))
    copies = iter(range(10**6))
    got: dict[str, list[dict[str, float]]] = {}

    def side(name: str, workers: int | None) -> Side:
        def grade_a_copy() -> dict[str, float | None]:
            course = settings.work / f"grading-run-{next(copies)}"
            shutil.copytree(template, course)
            if workers is None:
                _nbgrader(course, "autograde", assignment, "--force")
            else:
                grade(assignment, course_dir=course, workers=workers, progress=False)
            got.setdefault(name, []).append(scores(course, assignment))
            shutil.rmtree(course, ignore_errors=True)
            return {}
        return Side(name, grade_a_copy)

    sides = [side(NBGRADER, None)] + [side(f"cnncourse grade, {n} worker{'s' * (n > 1)}", n) for n in size["workers"]]
    timings = side_by_side(sides, repeats=settings.repeats)
    reference = got[NBGRADER][0]
    base = timings[NBGRADER].median
    rows = [[name, seconds_text(t), f"{60 * students / t.median:.1f}", f"{base / t.median:.2f}×",
             "yes" if all(s == reference for s in got[name]) else "NO"] for name, t in timings.items()]
    best = min((name for name in timings if name != NBGRADER), key=lambda name: timings[name].median)
    return Table(
        key="grading",
        title="6. Grading: submissions per minute",
        setup=(f"{students} submissions of `{assignment}` (all the right answers, budget "
               f"{os.environ['CNNCOURSE_BUDGET']}), each side grading a fresh copy of the same course; "
               f"{settings.repeats} runs per side. Workers are sandboxed kernels (`{sandbox.available_modes()[0]}`)."),
        columns=["side", "wall clock", "submissions / minute", "vs nbgrader", "same scores as nbgrader"],
        rows=rows,
        ratios=[Ratio(f"{best} vs nbgrader's sequential autograde", base / timings[best].median)],
        notes=["Memory and the bad-submission corpus: `python -m bench.grading` (the README's instructor section)."],
    )


def corpus_outcomes(work: Path, workers: int) -> list[tuple[corpus.Case, dict[str, float], dict[str, float], str]]:
    """Grade the fixture corpus once: (case, expected points, points got, its notes) per case."""
    course = make_course(work / "corpus", "00_fixture")
    cases = corpus.cases("00_fixture")
    notebook = corpus.notebook_name("00_fixture")
    release = json.loads((course / "release" / "00_fixture" / notebook).read_text(encoding="utf-8"))
    source = json.loads((course / "source" / "00_fixture" / notebook).read_text(encoding="utf-8"))
    for case in cases:
        folder = course / "submitted" / case.name / "00_fixture"
        folder.mkdir(parents=True)
        (folder / notebook).write_bytes(corpus.build(case, release, source, course=course))
        for link, target in corpus.links(case, course=course).items():
            (folder / link).symlink_to(target)
    report = grade("00_fixture", course_dir=course, workers=workers, timeout=5, interrupt_grace=3,
                   max_output_bytes=1_000_000, progress=False)
    results = {r.student: r for r in report.results}
    return [(case, case.expected(report.test_cells), results[case.name].cells,
             " / ".join(re.sub(r"^\S+\.ipynb( \([^)]*\))?(, |: )", "", note) for note in results[case.name].notes))
            for case in cases]


def markdown(batches: dict[str, list[Run]], outcomes: list, *, load: tuple, started: str) -> str:
    cores = os.cpu_count()
    lines = [f"Measured {started} on {cores} CPU cores (load average {load[0]:.1f} before, "
             f"{os.getloadavg()[0]:.1f} after), sandbox `{sandbox.available_modes()[0]}`, "
             f"budget `{os.environ.get('CNNCOURSE_BUDGET', 'full')}`.", ""]
    for assignment, runs in batches.items():
        base = runs[0]
        same = all(run.scores == base.scores for run in runs)
        lines += [f"**{assignment}**, {base.submissions} submissions (all the right answers); "
                  f"scores identical to nbgrader's: {'yes' if same else 'NO'}.", "",
                  "| grader | wall time | submissions / minute | vs nbgrader | peak memory, all processes | "
                  "largest process |", "|---|---:|---:|---:|---:|---:|"]
        for run in runs:
            lines.append(f"| {run.label} | {run.seconds:.0f} s | {run.per_minute:.1f} | "
                         f"{run.per_minute / base.per_minute:.2f}× | {run.peak_total_mb:.0f} MB | "
                         f"{run.peak_process_mb:.0f} MB |")
        lines.append("")
    if outcomes:
        lines += ["| submission | what it does | points (test_double, test_clip_sum) | expected | note in the table |",
                  "|---|---|---|---|---|"]
        for case, expected, got, note in outcomes:
            shown = note.replace("|", "\\|")
            if len(shown) > 200:
                shown = shown[:197] + "..."
            lines.append(f"| `{case.name}` | {case.about} | {_points(got)} | {_points(expected)} | {shown} |")
    return "\n".join(lines) + "\n"


def _points(cells: dict[str, float]) -> str:
    return ", ".join(f"{v:g}" for v in cells.values())


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print the Markdown; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", nargs="+", default=["00_fixture", "01_conv_arithmetic"], choices=list(SOURCES))
    parser.add_argument("--students", type=int, default=8, help="submissions per batch (default 8)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    parser.add_argument("--no-corpus", action="store_true", help="skip the bad-submission corpus")
    parser.add_argument("--corpus-only", action="store_true", help="only the bad-submission corpus")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    os.environ.setdefault("CNNCOURSE_BUDGET", "smoke")
    load = os.getloadavg()
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory(prefix="cnncourse-bench-grading-") as tmp:
        work = Path(tmp)
        batches = {}
        for assignment in [] if args.corpus_only else args.assignment:
            print(f"[bench.grading] {assignment}: {args.students} submissions...", file=sys.stderr, flush=True)
            batches[assignment] = throughput(assignment, args.students, args.workers, work)
        outcomes = []
        if not args.no_corpus:
            print("[bench.grading] the bad-submission corpus...", file=sys.stderr, flush=True)
            outcomes = corpus_outcomes(work, max(args.workers))
    text = markdown(batches, outcomes, load=load, started=started)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
