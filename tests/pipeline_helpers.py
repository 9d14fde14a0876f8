"""Helpers shared by test_release.py and test_pipeline.py: assignments, secret lines, nbgrader runs.

The assignments under test are the fixture assignment in tests/fixtures/source/
plus every folder of the repository's source/, so the same checks guard the
pipeline itself and each real assignment.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnncourse.tools.release import nbgrader_environment

REPO = Path(__file__).resolve().parents[1]
FIXTURE_SOURCE = Path(__file__).resolve().parent / "fixtures" / "source"
FIXTURE = "00_fixture"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MIN_SECRET_CHARS = 6  # shorter lines ("pass", ")", "else:") give nothing away


@dataclass(frozen=True)
class Assignment:
    """One assignment under test: its folder name and the source/ folder that holds it."""

    name: str
    source_root: Path

    @property
    def folder(self) -> Path:
        return self.source_root / self.name

    @property
    def in_repo(self) -> bool:
        return self.source_root == REPO / "source"

    def notebooks(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def all_assignments() -> list[Assignment]:
    """The fixture assignment, then every assignment folder in the repository's source/."""
    found = [Assignment(FIXTURE, FIXTURE_SOURCE)]
    source = REPO / "source"
    if source.is_dir():
        found += [Assignment(p.name, source) for p in sorted(source.iterdir())
                  if p.is_dir() and not p.name.startswith((".", "_"))]
    return found


def assignment_params() -> list:
    """``all_assignments()`` as pytest parameters, with readable ids."""
    return [pytest.param(a, id=a.name) for a in all_assignments()]


def make_course(root: Path, assignment: Assignment) -> Path:
    """A course directory at ``root``: the assignment's source folder plus the repository's nbgrader_config.py."""
    shutil.copytree(assignment.folder, root / "source" / assignment.name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def run_nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course`` (a subprocess); fail the test with nbgrader's output if it fails."""
    env = nbgrader_environment()
    env.setdefault("CNNCOURSE_BUDGET", "smoke")
    return run_module("nbgrader", *args, f"--CourseDirectory.root={course}", cwd=course, env=env, timeout=timeout)


def run_module(module: str, *args: str, cwd: Path, env: dict[str, str], timeout: float,
               who: str = "") -> subprocess.CompletedProcess:
    """Run ``python -m MODULE ARGS`` in ``cwd``; fail the test with the end of its output if it fails.

    ``who`` (e.g. "alice's ") starts the failure message.
    """
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{who}`{module} {' '.join(args)}` should exit 0, got {done.returncode}; its output ends with:\n"
                    + "\n".join((done.stdout + done.stderr).splitlines()[-40:]))
    return done


def read_grades(course: Path, assignment: str, students: list[str]) -> dict[str, list[dict]]:
    """Every grade of each student's submission, as nbgrader's gradebook stores it (Grade.to_dict())."""
    script = (
        "import json, sys\n"
        "from nbgrader.api import Gradebook\n"
        "course, assignment, *students = sys.argv[1:]\n"
        "with Gradebook('sqlite:///' + course + '/gradebook.db') as gb:\n"
        "    notebooks = gb.find_assignment(assignment).notebooks\n"
        "    grades = {s: [g.to_dict() for nb in notebooks\n"
        "                  for g in gb.find_submission_notebook(nb.name, assignment, s).grades] for s in students}\n"
        "print(json.dumps(grades))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(course), assignment, *students],
                          env=nbgrader_environment(), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"reading the gradebook failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cell_sources(path: Path) -> list[dict]:
    """The cells of a notebook file as dicts with a joined ``source`` string."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return cells


def split_regions(source: str) -> dict[str, list[str]]:
    """The lines of a cell, sorted into "solution", "hidden" and "visible" (markers dropped)."""
    regions: dict[str, list[str]] = {"solution": [], "hidden": [], "visible": []}
    where = "visible"
    for line in source.split("\n"):
        if "BEGIN SOLUTION" in line:
            where = "solution"
        elif "BEGIN HIDDEN TESTS" in line:
            where = "hidden"
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            where = "visible"
        else:
            regions[where].append(line)
    return regions


def secret_lines(notebook: Path, kind: str) -> set[str]:
    """The stripped lines of every ``kind`` region ("solution" or "hidden") that give something away.

    A line gives something away if it has at least MIN_SECRET_CHARS characters
    and does not occur in the notebook outside such regions (a solution line that
    repeats the task's example, say, is no secret).
    """
    regions = [split_regions(cell["source"]) for cell in cell_sources(notebook)]
    others = [line for r in regions for k, lines in r.items() if k != kind for line in lines]
    candidates = {line.strip() for r in regions for line in r[kind]}
    return {line for line in candidates
            if len(line) >= MIN_SECRET_CHARS and not any(line in other for other in others)}


def html_text(page: str) -> str:
    """The text a reader sees in an HTML page: no <style>/<script> blocks, no tags, entities decoded."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))
