"""``python -m bench``: run the benchmark suite and write ``bench/results.md`` and ``bench/results.png``.

Scope: the command line. It pins the threads, gives every benchmark a scratch
folder (deleted at the end), runs the benchmarks asked for in order, keeps
going when one fails (its error goes into the results) and exits with 1 if
any failed. What every run needs (the real MNIST test digits, for the
benchmarks that train on them) is found first: when it is missing, the command
says so and stops before running or writing anything (exit status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import data_path, evaluation, grading, grading_cost, limit, notebooks, throughput, time_to_accuracy, transfer
from bench.clock import pin_threads
from bench.files import find_digits
from bench.report import Table, machine_lines, python_command, write_results
from bench.settings import REPO, SHARED_MNIST, SIZES, Settings

BENCHMARKS: dict[str, Callable[[Settings], Table]] = {
    "throughput": throughput.run,
    "limit": limit.run,
    "evaluation": evaluation.run,
    "data_path": data_path.run,
    "time_to_accuracy": time_to_accuracy.run,
    "fashion": time_to_accuracy.run_fashion,
    "transfer": transfer.run,
    "grading": grading.run,
    "notebooks": notebooks.run,
    "grading_cost": grading_cost.run,
}
OPT_IN = {"grading_cost"}  # run only when named: hours on a CPU at the full size
NEEDS_DIGITS = {"throughput", "limit", "data_path", "time_to_accuracy", "transfer"}  # train or read the real digits


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmarks, write the results; returns the exit status.

    Example:
        >>> main(["throughput", "--size", "reduced"])
        0
    """
    args = _parser().parse_args(argv)
    if args.repeats < 3 and args.size != "tiny":
        _parser().error(f"the suite reports the median of at least 3 runs; --repeats {args.repeats} is too few")
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        _parser().error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.benchmarks or [name for name in BENCHMARKS if name not in OPT_IN]
    try:  # before anything runs or is written: a missing folder is one message, not a traceback and a failed results.md
        needs = NEEDS_DIGITS | ({"grading_cost"} if args.size == "reduced" else set())  # assignment 2's MNIST
        digits = find_digits(args.digits) if set(names) & needs else Path(args.digits or SHARED_MNIST)
    except FileNotFoundError as err:
        print(f"python -m bench: {err}", file=sys.stderr)
        return 2
    print(f"[bench] real MNIST test digits from {digits}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    threads_before = pin_threads(args.threads)
    tables, failures = [], {}
    try:
        with tempfile.TemporaryDirectory(prefix="cnncourse-bench-") as work:
            settings = Settings(args.size, args.repeats, args.threads, digits, Path(work))
            for name in names:
                print(f"[bench] {name} ({args.size}, {args.repeats} runs per side)...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                try:
                    tables.append(BENCHMARKS[name](settings))
                except Exception as err:  # one failure must not lose the other results
                    traceback.print_exc()
                    failures[name] = f"{type(err).__name__}: {err}".replace("\n", " ")[:300]
                print(f"[bench] {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        pin_threads(threads_before)
    header = machine_lines(settings, load_before=load_before, command=python_command())
    markdown, picture = write_results(tables, Path(args.out), header, failures=failures)
    print(f"[bench] wrote {markdown} and {picture}", file=sys.stderr)
    return 1 if failures else 0


def _parser() -> argparse.ArgumentParser:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                        help=f"which to run (default: all but {', '.join(sorted(OPT_IN))}): {', '.join(BENCHMARKS)}")
    parser.add_argument("--size", choices=SIZES, default="full",
                        help="full (the published figures), reduced (minutes) or tiny (seconds; a smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side; the median is reported (>= 3)")
    parser.add_argument("--threads", type=int, default=cores, help=f"torch.set_num_threads for every run (default {cores})")
    parser.add_argument("--digits", default=None,
                        help="folder with the official t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                             "(default: the MNIST test set in the course's data folders, as cnncourse data fetch "
                             "mnist puts it, else ../shared/data/mnist)")
    parser.add_argument("--out", default=str(REPO / "bench"), help="where results.md and results.png go")
    return parser


if __name__ == "__main__":
    sys.exit(main())
