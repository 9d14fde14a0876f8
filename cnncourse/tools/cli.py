"""The ``cnncourse`` command: a thin argparse front over functions of the library.

    cnncourse doctor                      what this machine offers the course
    cnncourse data fetch NAME... --root DIR   pre-fetch datasets for a shared mount
    cnncourse release [--check]           regenerate release/ from source/ (nbgrader)
    cnncourse grade ASSIGNMENT [--workers N] [--student ID...]   autograde every submission, sandboxed
    cnncourse check NOTEBOOK|FOLDER...    what would go wrong when a notebook is graded
    cnncourse site [--out DIR] [--budget smoke|full] [--timeout S]   the lectures as a static HTML site

Each sub-command imports its module only when it runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence

from cnncourse.settings import BUDGETS  # torch-free: --help stays instant


def _doctor(args: argparse.Namespace) -> int:
    from cnncourse.tools.doctor import doctor_lines

    for line in doctor_lines(root=args.root):  # each line as soon as it is known: torch and the data take seconds
        print(line, flush=True)
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from cnncourse.tools.fetch import fetch

    fetch(args.names, root=args.root)
    return 0


def _release(args: argparse.Namespace) -> int:
    from cnncourse.tools.release import release

    return release(args.assignments, check=args.check, course_dir=args.course_dir)


def _grade(args: argparse.Namespace) -> int:
    from cnncourse.tools.grading.grade import export_grades, generate_feedback, grade

    report = grade(args.assignment, course_dir=args.course_dir, workers=args.workers, students=args.student or None,
                   timeout=args.timeout, max_output_bytes=args.max_output_bytes, sandbox=args.sandbox,
                   force=args.force, progress=not args.no_progress,
                   cluster=args.cluster or ("local" if args.local_cluster else None))
    print(report.table())
    if args.export:
        print(f"grades written to {export_grades(args.assignment, args.export, course_dir=args.course_dir)}")
        boards = report.leaderboards()
        if boards:
            from cnncourse.tools.grading.challenge import leaderboard_path, write_leaderboard

            path = write_leaderboard(leaderboard_path(args.export), boards, args.assignment)
            print(f"leaderboard written to {path}")
    if args.feedback:
        return generate_feedback(args.assignment, course_dir=args.course_dir)
    return 0


def _check(args: argparse.Namespace) -> int:
    from cnncourse.tools.check import check

    return check(args.targets, release=args.release, course_dir=args.course_dir, run=not args.no_run,
                 timeout=args.timeout, max_output_bytes=args.max_output_bytes, sandbox=args.sandbox)


def _site(args: argparse.Namespace) -> int:
    from cnncourse.tools.site import build

    site = build(args.out, course_dir=args.course_dir, budget=args.budget, timeout=args.timeout, jobs=args.jobs,
                 keep_going=args.keep_going, progress=True)
    if site.failures:
        print(f"cnncourse site: {len(site.failures)} lecture cell(s) raised; their pages show the error:",
              file=sys.stderr)
        for failure in site.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs, examples); every option's default shown unless its help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:  # the hook argparse's own formatters override
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


_DESCRIPTIONS = {
    "doctor": """What this machine offers the course: Python, torch and torchvision, the GPU (or why none), the
budget, the data root and the system data folders, which data sets and pretrained weights are present and
where, and the command that fetches what is missing. Prints each line as it is found (torch and the data take
seconds). Paste it into a help request.""",
    "data": "Manage the course's data sets and pretrained weights (one action: fetch).",
    "fetch": """Download data sets (both splits) or pretrained weights into one data folder ahead of time, e.g. a
hub's shared mount, then point CNNCOURSE_DATA at it. Needs the network and a folder you can write to.

example: cnncourse data fetch mnist cifar10 resnet18 --root /srv/cnncourse-data""",
    "release": """Regenerate the student notebooks release/<assignment>/ from source/<assignment>/ with nbgrader's
generate_assignment, in a throw-away copy of the course (no gradebook or log lands here), byte-stable from run
to run. --check changes nothing and says, file by file, what is out of date (exit status 1). Run it in the
course directory (the repository root) or pass --course-dir. Each assignment takes seconds.""",
    "grade": """Autograde every submission in submitted/<student>/ASSIGNMENT/ with nbgrader's own autograde, N at a
time, each kernel in the strongest sandbox this machine allows (run as root for the full one), and print a
table of scores and of the submissions that need attention. A second run grades only what is new or changed.
Needs the assignment in gradebook.db: nbgrader generate_assignment ASSIGNMENT --force, once.""",
    "check": """What would go wrong when a notebook is graded: graded cells deleted, duplicated, added, moved or
edited (against release/<assignment>/ when the notebook sits in a course directory, --release otherwise, else
the checksums the notebook carries), cells that fail under Restart & Run All (run in a temporary copy),
saved outputs that are too large, and saved training runs (runs/) that grading cannot use: missing, trained in
the smoke budget, changed after saving, damaged. Exit status 0 when nothing is wrong, 1 otherwise.""",
    "site": """Execute every lecture in course/ (smoke budget unless --budget full) and write a static HTML site:
index.html, one page per lecture, one per student notebook in release/. A failing cell stops the build and
leaves the previous site as it was, unless --keep-going.""",
}

# Paragraphs reflowed to the usual terminal width once; RawDescriptionHelpFormatter keeps the paragraph breaks.
_DESCRIPTIONS = {name: "\n\n".join(textwrap.fill(" ".join(part.split()), width=78) for part in text.split("\n\n"))
                 for name, text in _DESCRIPTIONS.items()}


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``cnncourse`` command, one sub-parser per sub-command."""
    parser = argparse.ArgumentParser(prog="cnncourse", formatter_class=_HelpFormatter,
                                     description="The instructor and student tools of the cnncourse course.",
                                     epilog="`cnncourse COMMAND --help` describes each command and its options.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="report Python, torch, GPU and the datasets present",
                                 description=_DESCRIPTIONS["doctor"], formatter_class=_HelpFormatter)
    doctor.add_argument("--root", default=None, help="data root to inspect (default: $CNNCOURSE_DATA or the cache)")
    doctor.set_defaults(run=_doctor)

    data = commands.add_parser("data", help="manage datasets", description=_DESCRIPTIONS["data"],
                               formatter_class=_HelpFormatter)
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_commands.add_parser("fetch", help="download datasets into a data root",
                                     description=_DESCRIPTIONS["fetch"], formatter_class=_HelpFormatter)
    fetch.add_argument("names", nargs="+", metavar="NAME", help="data sets or weights, e.g. mnist cifar10 resnet18")
    fetch.add_argument("--root", default=None, help="where to put them (default: $CNNCOURSE_DATA or the cache)")
    fetch.set_defaults(run=_data_fetch)

    release = commands.add_parser("release", help="regenerate release/ from source/ with nbgrader",
                                  description=_DESCRIPTIONS["release"], formatter_class=_HelpFormatter)
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every folder in source/")
    release.add_argument("--check", action="store_true", help="change nothing; exit 1 if release/ is out of date")
    release.add_argument("--course-dir", default=".", help="the nbgrader course directory (default: .)")
    release.set_defaults(run=_release)

    grade = commands.add_parser("grade", help="autograde every submission with nbgrader, N at a time, sandboxed",
                                description=_DESCRIPTIONS["grade"], formatter_class=_HelpFormatter)
    grade.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment's folder name in source/")
    grade.add_argument("--workers", type=int, default=None,
                       help="submissions at a time (default: one per GPU, else one per core)")
    grade.add_argument("--student", nargs="+", metavar="ID", help="grade only these students")
    grade.add_argument("--timeout", type=int, default=None,
                       help="seconds per cell (default: the course's Execute.timeout)")
    grade.add_argument("--max-output-bytes", type=int, default=10_000_000, help="most output one cell may print")
    grade.add_argument("--sandbox", default="auto", help="auto, full, namespaces, user or off (see README)")
    grade.add_argument("--force", action="store_true", help="regrade submissions that did not change")
    grade.add_argument("--export", metavar="CSV", help="also write the grades to this CSV file (and, for an "
                       "assignment with challenge cells, their leaderboard to CSV's name + '-leaderboard')")
    grade.add_argument("--feedback", action="store_true", help="also run nbgrader generate_feedback")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument("--course-dir", default=".", help="the nbgrader course directory (default: .)")
    on_dask = grade.add_mutually_exclusive_group()  # README, Grading on a cluster
    on_dask.add_argument("--cluster", metavar="ADDRESS", default=None,
                         help="grade on the running Dask scheduler at ADDRESS (tcp:// or tls://; needs cnncourse[cluster])")
    on_dask.add_argument("--local-cluster", action="store_true",
                         help="grade on a Dask LocalCluster of --workers processes on 127.0.0.1")
    grade.set_defaults(run=_grade)

    check = commands.add_parser("check", help="check notebooks before submitting, or a folder of submissions",
                                description=_DESCRIPTIONS["check"], formatter_class=_HelpFormatter)
    check.add_argument("targets", nargs="+", metavar="NOTEBOOK", help="notebooks, or folders of notebooks")
    check.add_argument("--release", default=None, help="the released notebook (or its folder) to compare with")
    check.add_argument("--course-dir", default=None, help="find release/ here (default: the nearest nbgrader course)")
    check.add_argument("--no-run", action="store_true", help="do not run the notebooks (structure and size only)")
    check.add_argument("--timeout", type=float, default=600, help="seconds per cell when running (default 600)")
    check.add_argument("--max-output-bytes", type=int, default=5_000_000, help="most saved output a notebook may hold")
    check.add_argument("--sandbox", default="off",
                       help="isolate the run: auto, full, namespaces, user or off (default)")
    check.set_defaults(run=_check)

    site = commands.add_parser("site", help="build the lectures and student notebooks into a static HTML site",
                               description=_DESCRIPTIONS["site"], formatter_class=_HelpFormatter)
    site.add_argument("--out", default="_site", metavar="DIR", help="the site folder (default: _site)")
    site.add_argument("--budget", choices=BUDGETS, default="smoke",
                      help="the lectures' training budget (default: smoke, minutes on a CPU)")
    site.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per cell (default 600)")
    site.add_argument("--jobs", type=int, default=2, metavar="N", help="lectures executed at a time (default 2)")
    site.add_argument("--keep-going", action="store_true",
                      help="when a lecture cell raises, show the error on its page and go on (exit status 1)")
    site.add_argument("--course-dir", default=".", help="the course root, holding course/ and release/ (default: .)")
    site.set_defaults(run=_site)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnncourse`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, PermissionError, RuntimeError) as err:
        # Library errors are written for people: show the message, not a traceback.
        print(f"cnncourse {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
