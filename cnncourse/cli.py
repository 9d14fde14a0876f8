"""The ``cnncourse`` command: a thin argparse front over functions of the library.

    cnncourse doctor                      what this machine offers the course
    cnncourse data fetch NAME... --root DIR   pre-fetch datasets for a shared mount
    cnncourse release [--check]           regenerate release/ from source/ (nbgrader)

Each sub-command imports its module only when it runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _doctor(args: argparse.Namespace) -> int:
    from cnncourse.doctor import doctor_report

    print(doctor_report(root=args.root))
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from cnncourse.data import fetch

    fetch(args.names, root=args.root)
    return 0


def _release(args: argparse.Namespace) -> int:
    from cnncourse.release import release

    return release(args.assignments, check=args.check, course_dir=args.course_dir)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``cnncourse`` command, one sub-parser per sub-command."""
    parser = argparse.ArgumentParser(prog="cnncourse", description="Helpers for the cnncourse course.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="report Python, torch, GPU and the datasets present")
    doctor.add_argument("--root", default=None, help="data root to inspect (default: $CNNCOURSE_DATA or the cache)")
    doctor.set_defaults(run=_doctor)

    data = commands.add_parser("data", help="manage datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_commands.add_parser("fetch", help="download datasets into a data root")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="dataset names, e.g. mnist cifar10")
    fetch.add_argument("--root", default=None, help="where to put them (default: $CNNCOURSE_DATA or the cache)")
    fetch.set_defaults(run=_data_fetch)

    release = commands.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every folder in source/")
    release.add_argument("--check", action="store_true", help="change nothing; exit 1 if release/ is out of date")
    release.add_argument("--course-dir", default=".", help="the nbgrader course directory (default: .)")
    release.set_defaults(run=_release)
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
