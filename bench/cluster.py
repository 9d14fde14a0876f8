"""Grading on Dask: a LocalCluster against the local pool and nbgrader, and the cost of shipping a job as bytes.

Scope: the figures of the README's "Grading on a cluster". In throw-away
course directories (the fixture assignment, M submissions with the right
answers) it measures the wall clock of

- ``nbgrader autograde`` grading them one after another,
- ``cnncourse grade --workers 2`` (the local pool of 2 worker processes),
- ``cnncourse grade --local-cluster --workers 2`` (a Dask LocalCluster of 2
  worker processes on 127.0.0.1, started and stopped inside the timed call),

checks that all three give the same scores, and measures per job what the
cluster path adds: packing (reading the files), the job's size, a pickle
round trip, and the gradebook template (made once per run). Also the time to
start and stop an empty LocalCluster of 2 workers. Run it on a quiet machine::

    .venv/bin/python -m bench.cluster --students 8
    .venv/bin/python -m bench.cluster --students 4 --repeats 1 --out /tmp/cluster.md

Nothing needs the network; the test suite never depends on these timings.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.grading import make_course, scores, submit
from bench.submissions import corpus
from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.gradebook import course_settings
from cnncourse.tools.grading.grade import file_hashes, grade
from cnncourse.tools.grading.job import gradebook_template, pack
from cnncourse.tools.grading.submission import GradingOptions, GradingRun
from cnncourse.tools.release import nbgrader_environment

ASSIGNMENT = "00_fixture"


def _sequential(course: Path) -> None:
    command = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force",
               f"--CourseDirectory.root={course}", "--log-level=ERROR"]
    done = subprocess.run(command, cwd=course, env=nbgrader_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader autograde failed:\n{(done.stdout + done.stderr)[-3000:]}")


def sides(template: Path, work: Path, repeats: int) -> dict[str, tuple[list[float], list[dict[str, float]]]]:
    """Each side's wall clocks and scores, the sides interleaved (A B C, C B A, ...)."""
    runs = {"nbgrader autograde (sequential)": lambda c: _sequential(c),
            "cnncourse grade, local pool of 2": lambda c: grade(ASSIGNMENT, course_dir=c, workers=2, progress=False),
            "cnncourse grade, LocalCluster of 2": lambda c: grade(ASSIGNMENT, course_dir=c, workers=2,
                                                                  cluster="local", progress=False)}
    found: dict[str, tuple[list[float], list[dict[str, float]]]] = {name: ([], []) for name in runs}
    order = list(runs)
    copies = 0
    for repeat in range(repeats):
        for name in order if repeat % 2 == 0 else order[::-1]:
            copies += 1
            course = work / f"copy{copies}"
            shutil.copytree(template, course)
            started = time.perf_counter()
            runs[name](course)
            found[name][0].append(time.perf_counter() - started)
            found[name][1].append(scores(course, ASSIGNMENT))
            shutil.rmtree(course, ignore_errors=True)
    return found


def overhead(template: Path, students: list[str]) -> dict[str, float]:
    """Per job: seconds to pack, bytes carried, pickled bytes, seconds of a pickle round trip; the template's cost."""
    course = course_settings(template)
    options = GradingOptions(timeout=60, max_output_bytes=10_000_000, interrupt_grace=10.0, mode="auto", workers=2,
                             submission_timeout=600.0, uid_base=sandbox.DEFAULT_UID_BASE)
    import nbformat

    references = {p.stem: nbformat.read(p, as_version=4) for p in (template / "release" / ASSIGNMENT).glob("*.ipynb")}
    grading = GradingRun(course, ASSIGNMENT, options, references, progress=False)
    started = time.perf_counter()
    data = gradebook_template(course, ASSIGNMENT)
    template_seconds = time.perf_counter() - started
    packs, sizes, pickled, trips = [], [], [], []
    for student in students:
        started = time.perf_counter()
        job = pack(grading, student, file_hashes(grading.submitted(student)), template=data)
        packs.append(time.perf_counter() - started)
        started = time.perf_counter()
        raw = pickle.dumps(job)
        pickle.loads(raw)
        trips.append(time.perf_counter() - started)
        sizes.append(job.size)
        pickled.append(len(raw))
    return {"template_seconds": template_seconds, "template_bytes": len(data), "pack": statistics.median(packs),
            "size": statistics.median(sizes), "pickled": statistics.median(pickled),
            "round_trip": statistics.median(trips)}


def cluster_start(repeats: int) -> float:
    """Median seconds to start and stop an empty LocalCluster of 2 worker processes (with a client)."""
    from distributed import Client, LocalCluster

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as local, \
                Client(local) as client:
            client.wait_for_workers(2)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the Markdown; returns the exit status (1 when the scores differ)."""
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=8, help="submissions per batch (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side, interleaved (default 3)")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    os.environ.setdefault("CNNCOURSE_BUDGET", "smoke")
    load = os.getloadavg()
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    names = [f"student{i:03d}" for i in range(args.students)]
    with tempfile.TemporaryDirectory(prefix="cnncourse-bench-cluster-") as tmp:
        work = Path(tmp)
        template = make_course(work / "template", ASSIGNMENT)
        submit(template, ASSIGNMENT, names, next(c for c in corpus.cases(ASSIGNMENT) if c.name == "good"))
        found = sides(template, work, args.repeats)
        costs = overhead(template, names)
    start = cluster_start(args.repeats)
    reference = found["nbgrader autograde (sequential)"][1][0]
    base = statistics.median(found["nbgrader autograde (sequential)"][0])
    same = all(s == reference for _, got in found.values() for s in got)
    lines = [f"Measured {when} on {os.cpu_count()} CPU cores (load average {load[0]:.1f} before, "
             f"{os.getloadavg()[0]:.1f} after), sandbox `{sandbox.available_modes()[0]}`, "
             f"`{ASSIGNMENT}`, {args.students} submissions (the right answers), {args.repeats} runs per side "
             f"(median, range); scores identical on every side and run: {'yes' if same else 'NO'}.", "",
             "| grader | wall time | submissions / minute | vs nbgrader |", "|---|---:|---:|---:|"]
    for name, (times, _) in found.items():
        median = statistics.median(times)
        lines.append(f"| {name} | {median:.1f} s ({min(times):.1f}-{max(times):.1f}) | "
                     f"{60 * args.students / median:.1f} | {base / median:.2f}× |")
    lines += ["", f"Per job on the cluster path: packing {1000 * costs['pack']:.1f} ms, "
              f"{costs['size'] / 1024:.0f} KiB carried ({costs['pickled'] / 1024:.0f} KiB pickled), a pickle round "
              f"trip {1000 * costs['round_trip']:.2f} ms; the gradebook template "
              f"({costs['template_bytes'] / 1024:.0f} KiB) {1000 * costs['template_seconds']:.0f} ms once per run; "
              f"starting and stopping an empty LocalCluster of 2 workers {start:.1f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
