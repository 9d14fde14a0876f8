"""The nbgrader exchange round trip of a JupyterHub course, with ``cnncourse grade`` in the middle.

Scope: one round trip on assignment 1 (and assignment 7 released and fetched),
in a temporary folder laid out the way a hub mounts it: an exchange folder open to everyone (mode 1777), a system-wide
``nbgrader_config.py`` (the hub's ``/etc/jupyter``), the instructor's course
directory, and a home folder per student. The instructor generates and releases
the assignment; alice and bob fetch it; alice submits the instructor's answers,
bob a broken notebook; the instructor collects, grades with
``cnncourse grade --feedback`` and releases the feedback; both students fetch it.
The tests check the scores against nbgrader's gradebook, the feedback each
student fetched (their own score, no hidden test), that grading left
``submitted/`` as collected, and that nbgrader kept the exchange's permissions.
A second, smaller round trip takes a training assignment (tests/training_assignment.py)
through the exchange in the full budget: the runs/ a student saved travel with the
notebook, and grading loads them instead of training.

Every step is a subprocess (``python -m nbgrader ...``, ``python -m
cnncourse.tools.cli grade ...``) with ``CNNCOURSE_BUDGET=smoke``; the two students
run theirs at the same time. All students are the same unix user here; on a hub
each is their own. nbgrader takes the student id from the process's user id
(``nbgrader.utils.get_username``: ``pwd``, not ``$USER``), so the students pass
``--student`` instead, and each has their own home, Jupyter folders and exchange
cache, as on a hub.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnncourse.tools.grading.grade import file_hashes
from cnncourse.tools.release import nbgrader_environment
from bench.submissions import corpus
from pipeline_helpers import REPO, Assignment, cell_sources, html_text, make_course, read_grades, run_module
from pipeline_helpers import secret_lines
import training_assignment as training

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_conv_arithmetic"
NOTEBOOK = "conv_arithmetic.ipynb"
# The newest assignment goes through the exchange too (released and fetched; test_pipeline grades it).
NEWEST, NEWEST_NOTEBOOK = "07_efficient_cnns", "efficient_cnns.ipynb"
COURSE_ID = "cnncourse"  # CourseDirectory.course_id in the repository's nbgrader_config.py
GOOD, BROKEN = "alice", "bob"
EXCHANGE_MODE = 0o1777  # rwx for everyone (nbgrader's docs: chmod ugo+rw) plus the sticky bit
# What bob's notebook gets wrong, by nbgrader grade id, and the test cell that pays for it.
BOB_LOSES = {
    "test_tiles_exactly": "the tiles_exactly answer does not compile (a missing parenthesis)",
    "test_tiles_exactly_errors": "the same answer, in the cell that checks its ValueErrors",
    "test_receptive_field_errors": "receptive_field right on every count, but it raises ValueError only for a malformed layer, never for zeros (hidden tests)",
    "test_max_pool2d": "the max_pool2d answer cell was deleted",
    "test_max_pool2d_errors": "the same deleted cell, in the cell that checks its ValueErrors",
}
STEP_TIMEOUT = 300  # seconds for one command; grading both submissions takes about a minute on 2 busy cores


@dataclass(frozen=True)
class Person:
    """Someone on the hub: a name, a home folder, and the folder their commands run in."""

    name: str
    home: Path
    workdir: Path


@dataclass
class RoundTrip:
    """What the round trip left behind, for the tests to look at."""

    course: Path
    exchange: Path
    grade_output: str
    grades: dict[str, list[dict]]
    csv_rows: dict[str, dict[str, str]]
    submitted_before: dict[str, dict[str, str]]
    submitted_after: dict[str, dict[str, str]]
    feedback: dict[str, list[Path]]
    newest: dict[str, Path]


def hub_environment(person: Person, system_config: Path) -> dict[str, str]:
    """The environment a hub gives ``person``: their own home and Jupyter folders, the shared system config.

    ``JUPYTER_CONFIG_PATH`` stands in for ``/etc/jupyter``; ``JUPYTER_CONFIG_DIR``
    is an empty folder in the home, so no personal config of whoever runs the
    tests is read.
    """
    env = nbgrader_environment()
    env.pop("JUPYTER_NO_CONFIG", None)  # the hub's system-wide nbgrader_config.py must be read
    env.update({
        "HOME": str(person.home), "USER": person.name, "LOGNAME": person.name,
        "JUPYTER_CONFIG_DIR": str(person.home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(person.home / ".local" / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(person.home / ".local" / "share" / "jupyter" / "runtime"),
        "JUPYTER_CONFIG_PATH": str(system_config),
        "CNNCOURSE_BUDGET": "smoke",
    })
    return env


def run_as(person: Person, system_config: Path, *command: str) -> subprocess.CompletedProcess:
    """Run ``python -m COMMAND`` as ``person`` in their working folder; fail the test with its output if it fails."""
    return run_module(*command, cwd=person.workdir, env=hub_environment(person, system_config),
                      timeout=STEP_TIMEOUT, who=f"{person.name}'s ")


def run_each(people: list[Person], system_config: Path, *command: str) -> list[subprocess.CompletedProcess]:
    """``run_as`` for every one of ``people`` at the same time, as students on a hub do; each adds ``--student``."""
    with ThreadPoolExecutor(max_workers=len(people)) as pool:
        return list(pool.map(lambda person: run_as(person, system_config, *command, f"--student={person.name}"),
                             people))


def make_exchange(root: Path) -> Path:
    """The exchange folder as a hub admin creates it: writable by everyone, sticky (mode 1777)."""
    exchange = root / "srv" / "nbgrader" / "exchange"
    exchange.mkdir(parents=True)
    exchange.chmod(EXCHANGE_MODE)  # chmod, not mkdir's mode: the umask would take bits away
    return exchange


def write_system_config(folder: Path, exchange: Path) -> Path:
    """The hub's system-wide nbgrader_config.py (``/etc/jupyter/nbgrader_config.py`` on a real hub)."""
    folder.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n",
        encoding="utf-8")
    return folder


def answered(fetched: dict, source: dict) -> dict:
    """The fetched notebook with every answer cell holding the instructor's solution (markers removed)."""
    return corpus.solutions(fetched, source)


def broken(fetched: dict, source: dict) -> dict:
    """The instructor's answers with the three mistakes of BOB_LOSES: a syntax error, a wrong answer, a deleted cell."""
    nb = answered(fetched, source)
    by_id = {cell["metadata"].get("nbgrader", {}).get("grade_id"): cell for cell in nb["cells"]}
    by_id["tiles_exactly"]["source"] = (
        "def tiles_exactly(n, kernel_size, stride=1, padding=0):\n"
        "    return (n + 2 * padding - kernel_size % stride == 0\n")
    by_id["receptive_field"]["source"] = (
        "def receptive_field(layers):\n"
        "    field, jump = 1, 1\n"
        "    for kernel_size, stride, dilation in layers:\n"
        "        field += dilation * (kernel_size - 1) * jump\n"
        "        jump *= stride\n"
        "    return field\n")
    nb["cells"].remove(by_id["max_pool2d"])
    return nb


def fill_in(folder: Path, make: Callable[[dict, dict], dict]) -> None:
    """Replace the fetched notebook in ``folder`` with ``make(fetched, source)``, under the same file name."""
    path = folder / NOTEBOOK
    fetched = json.loads(path.read_text(encoding="utf-8"))
    source = json.loads((REPO / "source" / ASSIGNMENT / NOTEBOOK).read_text(encoding="utf-8"))
    path.write_text(json.dumps(make(fetched, source), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    """The whole round trip, once: release, fetch, submit, collect, grade, feedback out and back."""
    hub = tmp_path_factory.mktemp("hub")
    exchange = make_exchange(hub)
    system_config = write_system_config(hub / "etc" / "jupyter", exchange)
    course = make_course(hub / "instructor" / "course", Assignment(ASSIGNMENT, REPO / "source"))
    shutil.copytree(REPO / "source" / NEWEST, course / "source" / NEWEST)
    instructor = Person("instructor", hub / "instructor", course)
    students = {name: Person(name, hub / "home" / name, hub / "home" / name) for name in (GOOD, BROKEN)}
    for person in (instructor, *students.values()):
        (person.home / ".jupyter").mkdir(parents=True, exist_ok=True)

    run_as(instructor, system_config, "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    run_as(instructor, system_config, "nbgrader", "release_assignment", ASSIGNMENT)
    run_each(list(students.values()), system_config, "nbgrader", "fetch_assignment", ASSIGNMENT)
    run_as(instructor, system_config, "nbgrader", "generate_assignment", NEWEST, "--force")
    run_as(instructor, system_config, "nbgrader", "release_assignment", NEWEST)
    run_each(list(students.values()), system_config, "nbgrader", "fetch_assignment", NEWEST)
    fill_in(students[GOOD].workdir / ASSIGNMENT, answered)
    fill_in(students[BROKEN].workdir / ASSIGNMENT, broken)
    run_each(list(students.values()), system_config, "nbgrader", "submit", ASSIGNMENT)

    run_as(instructor, system_config, "nbgrader", "collect", ASSIGNMENT)
    before = {name: file_hashes(course / "submitted" / name) for name in students}
    grades_csv = hub / "instructor" / "grades.csv"
    graded = run_as(instructor, system_config, "cnncourse.tools.cli", "grade", ASSIGNMENT, "--no-progress",
                    "--export", str(grades_csv), "--feedback")
    after = {name: file_hashes(course / "submitted" / name) for name in students}
    run_as(instructor, system_config, "nbgrader", "release_feedback", ASSIGNMENT)

    run_each(list(students.values()), system_config, "nbgrader", "fetch_feedback", ASSIGNMENT)
    feedback = {name: sorted((person.workdir / ASSIGNMENT / "feedback").glob(f"*/{Path(NOTEBOOK).stem}.html"))
                for name, person in students.items()}
    with open(grades_csv, newline="", encoding="utf-8") as f:
        csv_rows = {row["student_id"]: row for row in csv.DictReader(f)}
    return RoundTrip(course=course, exchange=exchange, grade_output=graded.stdout,
                     grades=read_grades(course, ASSIGNMENT, list(students)), csv_rows=csv_rows,
                     submitted_before=before, submitted_after=after, feedback=feedback,
                     newest={name: person.workdir / NEWEST / NEWEST_NOTEBOOK for name, person in students.items()})


def auto_points(grades: list[dict]) -> dict[str, tuple[float, float]]:
    """(score, max) of every autograded test cell, by grade id."""
    return {g["name"]: (g["auto_score"], g["max_score"]) for g in grades if g["cell_type"] == "code"}


def total(grades: list[dict]) -> float:
    """A submission's score as nbgrader counts it: manual score where given, else the automatic one."""
    return sum((g["manual_score"] if g["manual_score"] is not None else g["auto_score"] or 0) for g in grades)


# ---------------------------------------------------------------------------
# scores


def test_the_instructor_collects_one_submission_per_student(round_trip: RoundTrip) -> None:
    found = sorted(p.name for p in (round_trip.course / "submitted").iterdir())
    assert found == [GOOD, BROKEN], f"nbgrader collect should give submitted/{GOOD} and submitted/{BROKEN}, got {found}"
    for name in found:
        files = sorted(round_trip.submitted_before[name])
        assert f"{ASSIGNMENT}/{NOTEBOOK}" in files and f"{ASSIGNMENT}/timestamp.txt" in files, \
            f"{name}'s collected submission should hold the notebook and nbgrader's timestamp, has {files}"


def test_the_instructors_answers_get_every_automatic_point(round_trip: RoundTrip) -> None:
    grades = round_trip.grades[GOOD]
    points = auto_points(grades)
    assert len(points) == 27, f"assignment 1 has 27 autograded test cells, the gradebook lists {sorted(points)}"
    lost = {cell: got for cell, got in points.items() if got[0] != got[1]}
    assert not lost, f"{GOOD} submitted the instructor's answers and should pass every test; (score, max) lost: {lost}"
    by_hand = {g["name"]: g["max_score"] for g in grades if g["cell_type"] == "markdown"}
    assert all(g["needs_manual_grade"] for g in grades if g["name"] in by_hand), \
        f"{GOOD}'s written answers {sorted(by_hand)} changed from the release and should wait for grading by hand"
    maximum = sum(g["max_score"] for g in grades)
    automatic = sum(most for _, most in points.values())
    assert total(grades) == automatic == maximum - sum(by_hand.values()), \
        (f"{GOOD} should have every automatic point ({automatic} of {maximum}; the other "
         f"{maximum - automatic} are written answers graded by hand), got {total(grades)}")


def test_the_broken_notebook_loses_exactly_the_broken_tasks(round_trip: RoundTrip) -> None:
    points = auto_points(round_trip.grades[BROKEN])
    expected = {cell: (0.0 if cell in BOB_LOSES else most) for cell, (_, most) in points.items()}
    got = {cell: score for cell, (score, _) in points.items()}
    assert got == expected, (f"{BROKEN} should lose {sorted(BOB_LOSES)} ({'; '.join(BOB_LOSES.values())}) and keep "
                             f"the rest:\nexpected {expected}\ngot      {got}")
    good = total(round_trip.grades[GOOD])
    lost = sum(most for cell, (_, most) in points.items() if cell in BOB_LOSES)
    assert total(round_trip.grades[BROKEN]) == good - lost == 80, \
        f"{BROKEN} should score {GOOD}'s {good} less {lost} = 80, got {total(round_trip.grades[BROKEN])}"


def test_the_grading_table_and_the_csv_agree_with_the_gradebook(round_trip: RoundTrip) -> None:
    for name in (GOOD, BROKEN):
        row = round_trip.csv_rows.get(name)
        assert row is not None, \
            f"cnncourse grade --export should write a row for {name}, rows: {sorted(round_trip.csv_rows)}"
        score, maximum = total(round_trip.grades[name]), sum(g["max_score"] for g in round_trip.grades[name])
        assert (float(row["score"]), float(row["max_score"])) == (score, maximum), \
            f"{name}'s CSV row says {row['score']}/{row['max_score']}, the gradebook {score}/{maximum}"
        assert re.search(rf"^{name}\s+{score:g}/{maximum:g}\b", round_trip.grade_output, re.M), \
            f"the grading table should show {name} at {score:g}/{maximum:g}; it was:\n{round_trip.grade_output}"
    assert "max_pool2d was deleted" in round_trip.grade_output, \
        f"the table should note {BROKEN}'s deleted answer cell; it was:\n{round_trip.grade_output}"


def test_grading_leaves_the_collected_submissions_as_they_were(round_trip: RoundTrip) -> None:
    before, after = round_trip.submitted_before, round_trip.submitted_after
    changed = {name: sorted(set(before[name].items()) ^ set(after[name].items()))
               for name in before if before[name] != after[name]}
    assert all(before.values()), f"each student's submitted/ folder should hold files before grading: {before}"
    assert not changed, f"cnncourse grade must not change submitted/; these files changed (path, sha256): {changed}"


# ---------------------------------------------------------------------------
# feedback


def test_each_student_fetches_their_own_feedback(round_trip: RoundTrip) -> None:
    for name in (GOOD, BROKEN):
        pages = round_trip.feedback[name]
        assert len(pages) == 1, (f"nbgrader fetch_feedback should give {name} one feedback page in "
                                 f"{ASSIGNMENT}/feedback/<timestamp>/, found {[str(p) for p in pages]}")
        text = html_text(pages[0].read_text(encoding="utf-8"))
        shown = re.search(r"\(Score: ([\d.]+) / ([\d.]+)\)", text)
        score, maximum = total(round_trip.grades[name]), sum(g["max_score"] for g in round_trip.grades[name])
        assert shown and (float(shown[1]), float(shown[2])) == (score, maximum), \
            f"{name}'s feedback should show their own score {score}/{maximum}, shows {shown[0] if shown else 'none'}"


def test_fetched_feedback_never_shows_hidden_tests(round_trip: RoundTrip) -> None:
    secrets = secret_lines(REPO / "source" / ASSIGNMENT / NOTEBOOK, "hidden")
    autograded = "\n".join(cell["source"] for cell in
                           cell_sources(round_trip.course / "autograded" / BROKEN / ASSIGNMENT / NOTEBOOK))
    missing = sorted(line for line in secrets if line not in autograded)
    assert secrets and not missing, \
        (f"every hidden test line ({len(secrets)}) should be in {BROKEN}'s autograded notebook, so that hiding them "
         f"in the feedback means something; missing: {missing[:5]}")
    for name in (GOOD, BROKEN):
        text = html_text(round_trip.feedback[name][0].read_text(encoding="utf-8"))
        leaked = sorted(line for line in secrets if line in text)
        assert not leaked, f"{name}'s fetched feedback shows hidden test code: {leaked}"
    failed = html_text(round_trip.feedback[BROKEN][0].read_text(encoding="utf-8"))
    assert "should raise ValueError, but it returned" not in failed and \
        "hidden checks do not show their code or message" in failed, \
        (f"{BROKEN}'s feedback should say that a hidden check of receptive_field failed, without its message "
         f"(output of hidden code); it shows:\n{failed[-3000:]}")


# ---------------------------------------------------------------------------
# the exchange


def test_nbgrader_keeps_the_exchange_open_and_sticky(round_trip: RoundTrip) -> None:
    mode = stat.S_IMODE(round_trip.exchange.stat().st_mode)
    assert mode == EXCHANGE_MODE, f"the exchange should still be {EXCHANGE_MODE:o} after the round trip, is {mode:o}"
    inbound = round_trip.exchange / COURSE_ID / "inbound"
    mode = stat.S_IMODE(inbound.stat().st_mode)
    assert mode & 0o777 == 0o733, \
        f"nbgrader makes {inbound} writable but not listable by students (733), it is {mode:o}"


def test_students_fetch_the_newest_assignment_as_released(round_trip: RoundTrip) -> None:
    """Assignment 7 goes through the exchange like the others: each student gets the release version, no answers."""
    released = [cell["source"] for cell in cell_sources(REPO / "release" / NEWEST / NEWEST_NOTEBOOK)]
    secrets = secret_lines(REPO / "source" / NEWEST / NEWEST_NOTEBOOK, "hidden") | \
        secret_lines(REPO / "source" / NEWEST / NEWEST_NOTEBOOK, "solution")
    for name, path in round_trip.newest.items():
        assert path.is_file(), f"{name} should have fetched {NEWEST}/{NEWEST_NOTEBOOK}, there is no {path}"
        fetched = [cell["source"] for cell in cell_sources(path)]
        assert fetched == released, f"{name}'s fetched {NEWEST} differs from release/{NEWEST} (cells differ)"
        leaked = sorted(line for line in secrets if any(line in source for source in fetched))
        assert not leaked, f"{name}'s fetched {NEWEST} shows solution or hidden-test lines: {leaked[:3]}"


# ---------------------------------------------------------------------------
# a training assignment: saved runs travel through the exchange and are graded without training again


def test_saved_runs_travel_through_the_exchange_and_grading_never_trains_again(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Train once, grade in seconds, on the hub: alice and bob fetch a training assignment and run it in the
    full budget; alice submits her runs/ with the notebook, bob deleted his. ``cnncourse grade`` (full budget)
    gives alice every point and takes exactly the accuracy test's points from bob, saying what to run."""
    hub = tmp_path_factory.mktemp("hub-runs")
    exchange = make_exchange(hub)
    system_config = write_system_config(hub / "etc" / "jupyter", exchange)
    course = hub / "instructor" / "course"
    source = training.write_source(course)
    shutil.copy2(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    instructor = Person("instructor", hub / "instructor", course)
    students = {name: Person(name, hub / "home" / name, hub / "home" / name) for name in (GOOD, BROKEN)}
    for person in (instructor, *students.values()):
        (person.home / ".jupyter").mkdir(parents=True, exist_ok=True)
    name = training.ASSIGNMENT
    run_as(instructor, system_config, "nbgrader", "generate_assignment", name, "--force")
    run_as(instructor, system_config, "nbgrader", "release_assignment", name)
    run_each(list(students.values()), system_config, "nbgrader", "fetch_assignment", name)
    instructor_answers = json.loads(source.read_text(encoding="utf-8"))
    for person in students.values():
        fetched = person.workdir / name / training.NOTEBOOK
        fetched.write_text(json.dumps(answered(json.loads(fetched.read_text(encoding="utf-8")), instructor_answers)),
                           encoding="utf-8")
        training.run_notebook(fetched, "full")  # the student trains in the full budget, which saves runs/mlp.*
        assert (fetched.parent / "runs" / f"{training.RUN}.pt").is_file(), f"{person.name}'s run was not saved"
    shutil.rmtree(students[BROKEN].workdir / name / "runs")  # bob deletes his runs before submitting
    run_each(list(students.values()), system_config, "nbgrader", "submit", name)
    run_as(instructor, system_config, "nbgrader", "collect", name)
    collected = sorted(p.name for p in (course / "submitted" / GOOD / name / "runs").iterdir())
    assert collected == [f"{training.RUN}.json", f"{training.RUN}.pt"], f"alice's collected runs/: {collected}"

    env = {**hub_environment(instructor, system_config), "CNNCOURSE_BUDGET": "full", "CNNCOURSE_DEVICE": "cpu"}
    graded = run_module("cnncourse.tools.cli", "grade", name, "--no-progress", cwd=course, env=env,
                        timeout=STEP_TIMEOUT, who="the instructor's ")
    points = {student: auto_points(rows) for student, rows in read_grades(course, name, list(students)).items()}
    assert {gid: got for gid, (got, _) in points[GOOD].items()} == training.POINTS, (
        f"alice submitted her full-budget run: expected {training.POINTS}, got {points[GOOD]}\n{graded.stdout}")
    assert {gid: got for gid, (got, _) in points[BROKEN].items()} == {**training.POINTS, training.ACCURACY_TEST: 0}, (
        f"bob deleted his run: he should lose exactly {training.ACCURACY_TEST}, got {points[BROKEN]}\n{graded.stdout}")
    autograded = (course / "autograded" / BROKEN / name / training.NOTEBOOK).read_text(encoding="utf-8")
    assert "no saved run 'mlp'" in autograded and "submit the runs/ folder" in autograded, (
        "bob's accuracy test should fail saying the run is missing and what to submit")

