"""Grading as a job that ships as bytes: pack -> run -> apply in this process, without Dask.

A temporary course with the fixture assignment; a few corpus submissions are
packed, run from the bytes alone (the worker side never reads the course
directory: the job is pickled, the course moved away, then run), and applied
by the single writer. Then the refusals: other versions, no sandbox.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench.submissions import corpus
from cnncourse.tools.grading.gradebook import course_settings
from cnncourse.tools.grading.grade import file_hashes
from cnncourse.tools.grading.job import (SLOT_VARIABLE, Job, JobResult, apply, gradebook_template, pack, run,
                                         versions)
from cnncourse.tools.grading.submission import GradingOptions, GradingRun
from pipeline_helpers import FIXTURE, FIXTURE_SOURCE
from test_grade import CELL_TIMEOUT, GRACE, auto_scores, make_course, submission_rows, submit

pytestmark = pytest.mark.slow

CASES = ("good", "untouched", "deleted_test")  # right, empty, and one the grader must restore


def grading_run(course: Path, mode: str = "auto", *, workers: int = 1) -> GradingRun:
    """The run ``cnncourse grade`` would make for the fixture assignment (release notebooks as references)."""
    options = GradingOptions(timeout=CELL_TIMEOUT, max_output_bytes=1_000_000, interrupt_grace=GRACE, mode=mode,
                             workers=workers, submission_timeout=300.0, uid_base=61000)
    references = {}
    import nbformat

    for path in (course / "release" / FIXTURE).glob("*.ipynb"):
        references[path.stem] = nbformat.read(path, as_version=4)
    return GradingRun(course_settings(course), FIXTURE, options, references, progress=False)


def packed(course: Path, student: str, mode: str = "auto") -> Job:
    grading = grading_run(course, mode)
    return pack(grading, student, file_hashes(grading.submitted(student)),
                template=gradebook_template(grading.course, FIXTURE))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = make_course(tmp_path_factory.mktemp("job") / "course", (FIXTURE, FIXTURE_SOURCE / FIXTURE))
    submit(course, FIXTURE, [c for c in corpus.cases(FIXTURE) if c.name in CASES])
    return course


def test_the_template_holds_this_assignment_and_no_student(course: Path, tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    path = tmp_path / "template.db"
    path.write_bytes(gradebook_template(course_settings(course), FIXTURE))
    with Gradebook(f"sqlite:///{path}") as gb:
        assert [a.name for a in gb.assignments] == [FIXTURE], "the template should hold this assignment only"
        assert not gb.students, f"the template must not carry students, found {[s.id for s in gb.students]}"
        assert [n.name for n in gb.find_assignment(FIXTURE).notebooks] == ["fixture"]


def test_pack_run_apply_grades_from_bytes_alone(course: Path, tmp_path: Path) -> None:
    jobs = [pickle.dumps(packed(course, name)) for name in CASES]
    hidden = tmp_path / "course-away"
    course.rename(hidden)  # the worker side has only the bytes: the course directory is not where it was
    try:
        results = [run(pickle.loads(data)) for data in jobs]
    finally:
        hidden.rename(course)
    grading = grading_run(course)
    for data, result in zip(jobs, results):
        result = pickle.loads(pickle.dumps(result))  # what comes back is plain values and bytes too
        assert result.status == "graded", f"{result.student} should be graded, got {result.status}: {result.notes}"
        assert any(name.endswith("fixture.ipynb") for name in result.autograded), sorted(result.autograded)
        assert result.log, "the job should bring nbgrader's log back"
        apply(grading, pickle.loads(data), result)
    scores = auto_scores(course, FIXTURE)
    test_points = {"test_double": 40.0, "test_clip_sum": 50.0}
    for case in corpus.cases(FIXTURE):
        if case.name in CASES:
            got = {cell: scores[case.name][cell][0] for cell in test_points}
            assert got == case.expected(test_points), f"{case.name}: expected {case.expected(test_points)}, got {got}"
    assert sorted(submission_rows(course, FIXTURE)) == sorted(CASES), "one gradebook row per student"
    for name in CASES:
        assert (course / "autograded" / name / FIXTURE / "fixture.ipynb").is_file(), f"autograded/{name} is missing"
    restored = next(r for r in results if r.student == "deleted_test")
    assert any("deleted" in note for note in restored.notes), \
        f"the structure notes should be made on the worker from the shipped release notebook: {restored.notes}"


def test_a_worker_with_other_versions_refuses_and_says_both(course: Path) -> None:
    job = packed(course, "good")
    theirs = {**job.versions, "nbgrader": "0.0.1"}
    result = run(replace(job, versions=theirs))
    assert result.refused, f"a job from other versions must be refused, got {result.status}"
    (note,) = result.notes
    assert f"nbgrader {versions()['nbgrader']} on the worker, 0.0.1 on the instructor's machine" in note, note
    before = auto_scores(course, FIXTURE).get("good")
    outcome = apply(grading_run(course), job, result)
    assert outcome.failed and auto_scores(course, FIXTURE).get("good") == before, "a refusal must change no grade"


def test_a_worker_without_a_sandbox_refuses_unless_the_instructor_insists(course: Path, tmp_path: Path) -> None:
    """A worker whose strongest sandbox is `off`: an unprivileged user namespace without `unshare` on PATH."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "--user", "true"]).returncode:
        pytest.skip("no unprivileged user namespaces here to play a worker without a sandbox")
    script = ("import pickle, sys\n"
              "from cnncourse.tools.grading.sandbox import available_modes\n"
              "from cnncourse.tools.grading.job import run\n"
              "assert available_modes() == ('off',), available_modes()\n"
              "print(run(pickle.load(open(sys.argv[1], 'rb'))).notes[0])\n")
    path = tmp_path / "job.pickle"
    path.write_bytes(pickle.dumps(packed(course, "good")))
    done = subprocess.run(["unshare", "--user", "env", "-i", "PATH=/nonexistent", f"HOME={tmp_path}",
                           sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused the job: its strongest sandbox is 'off'" in done.stdout and "--sandbox off" in done.stdout, \
        done.stdout


def test_the_instructors_own_runs_never_travel_with_a_job(course: Path) -> None:
    """Running a notebook in source/ saves the instructor's runs there; a job carries the submission's, never those."""
    runs = course / "source" / FIXTURE / "runs"
    runs.mkdir()
    try:
        (runs / "lenet.pt").write_bytes(b"the instructor's weights")
        job = packed(course, "good")
        assert not [name for name in job.source if name.startswith("runs/")], sorted(job.source)
    finally:
        shutil.rmtree(runs)


def test_a_job_never_runs_as_a_user_id_that_another_grading_run_holds(course: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's job and a local `cnncourse grade` on one machine: the job's kernel keeps out of the run's block.

    Sharing a user id would let one run's clean-up kill the other's kernel.
    """
    import json

    from cnncourse.tools.grading.sandbox import available_modes
    from cnncourse.tools.grading.uids import BLOCK, reserve_uids

    if "full" not in available_modes():
        pytest.skip("the full sandbox (own user ids) needs root here")
    monkeypatch.setenv(SLOT_VARIABLE, "0")  # slot 0: the first id of the first block, unless reserved
    job = packed(course, "good", mode="full")
    name = next(n for n in job.submission if n.endswith("fixture.ipynb"))
    nb = json.loads(job.submission[name])
    nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": "import os\nprint('kernel uid', os.getuid())"})
    job = replace(job, submission={**job.submission, name: json.dumps(nb).encode()})
    with reserve_uids(job.options.uid_base, BLOCK) as held:  # what a local grading run holds while it grades
        result = run(job)
    assert result.status == "graded", f"the job should be graded, got {result.status}: {result.notes}"
    autograded = json.loads(next(v for k, v in result.autograded.items() if k.endswith("fixture.ipynb")))
    printed = [line for cell in autograded["cells"] if cell["cell_type"] == "code" for out in cell.get("outputs", [])
               for line in "".join(out.get("text", "")).splitlines() if line.startswith("kernel uid")]
    assert printed, "the added cell should have printed the kernel's user id"
    uid = int(printed[0].split()[-1])
    assert not held <= uid < held + BLOCK, \
        f"the job's kernel ran as uid {uid}, inside the block {held}-{held + BLOCK - 1} another grading run holds"
