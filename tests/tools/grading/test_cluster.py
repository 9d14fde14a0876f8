"""cnncourse grade on Dask, over loopback only: a LocalCluster, separate `dask worker` processes, a crash.

Every scheduler and worker listens on 127.0.0.1 and is started and stopped
here. A few corpus cases (not all: two cores) graded on a LocalCluster of two
worker processes get the same scores and notes as the local pool, and as
nbgrader's own sequential autograde where nbgrader alone is right; workers
that cannot see the course directory (a mount namespace with an empty tmpfs
over it) grade correctly; a worker that dies mid-job has its job graded
elsewhere, with one gradebook row per student. ``CNNCOURSE_CLUSTER_CORPUS=all``
runs the whole corpus through the LocalCluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.submissions import corpus
from cnncourse.tools.cli import build_parser
from cnncourse.tools.grading.cluster import LOCAL, connect, grade_on_cluster
from cnncourse.tools.grading.grade import file_hashes, grade
from cnncourse.tools.grading.job import run, versions
from pipeline_helpers import FIXTURE, FIXTURE_SOURCE, run_nbgrader
from test_job import grading_run
from test_grade import CELL_TIMEOUT, GRACE, NORMAL, auto_scores, make_course, submission_rows, submit

OUTPUT_LIMIT = 1_000_000
FEW = ("good", "untouched", "edited_test", "deleted_test", "kernel_crash")
SETTINGS = dict(workers=2, timeout=CELL_TIMEOUT, interrupt_grace=GRACE, max_output_bytes=OUTPUT_LIMIT, progress=False)


def cases() -> list[corpus.Case]:
    everything = os.environ.get("CNNCOURSE_CLUSTER_CORPUS") == "all"
    return [c for c in corpus.cases(FIXTURE) if everything or c.name in FEW]


def test_grading_without_a_cluster_never_imports_dask() -> None:
    code = ("import sys; import cnncourse.tools.cli, cnncourse.tools.grading.grade, cnncourse.tools.grading.job, "
            "cnncourse.tools.grading.cluster; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_cli_takes_a_cluster_or_a_local_cluster_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["grade", FIXTURE, "--cluster", "tls://10.0.0.5:8786"])
    assert args.cluster == "tls://10.0.0.5:8786" and not args.local_cluster
    assert build_parser().parse_args(["grade", FIXTURE, "--local-cluster"]).local_cluster
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", FIXTURE, "--cluster", "tcp://127.0.0.1:1", "--local-cluster"])
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with the fixture assignment and a few corpus submissions, nothing graded."""
    course = make_course(tmp_path_factory.mktemp("cluster") / "course", (FIXTURE, FIXTURE_SOURCE / FIXTURE))
    submit(course, FIXTURE, cases())
    return course


def copy_course(course: Path, target: Path) -> Path:
    shutil.copytree(course, target)
    return target


@pytest.mark.slow
def test_a_local_cluster_grades_as_the_local_pool_and_as_nbgrader(submitted: Path, tmp_path: Path) -> None:
    on_dask = copy_course(submitted, tmp_path / "dask")
    pooled = copy_course(submitted, tmp_path / "pool")
    report = grade(FIXTURE, course_dir=on_dask, cluster="local", **SETTINGS)
    local = grade(FIXTURE, course_dir=pooled, **SETTINGS)
    names = sorted(c.name for c in cases())
    assert sorted(submission_rows(on_dask, FIXTURE)) == names, "one gradebook row per student"
    assert auto_scores(on_dask, FIXTURE) == auto_scores(pooled, FIXTURE), \
        f"the cluster should give the pool's scores:\ncluster {auto_scores(on_dask, FIXTURE)}\n" \
        f"pool    {auto_scores(pooled, FIXTURE)}"
    notes = {r.student: r.notes for r in report.results}
    assert notes == {r.student: r.notes for r in local.results}, "the cluster should note what the pool notes"
    for case in cases():
        got = next(r for r in report.results if r.student == case.name)
        assert got.cells == case.expected(report.test_cells), f"{case.name}: {got.cells}, notes {got.notes}"
    assert report.sandbox == local.sandbox, f"workers here should sandbox as the pool does: {report.sandbox}"
    sequential = make_course(tmp_path / "sequential", (FIXTURE, submitted / "source" / FIXTURE))
    for student in NORMAL:
        shutil.copytree(submitted / "submitted" / student, sequential / "submitted" / student)
    run_nbgrader(sequential, "autograde", FIXTURE, "--force")
    ours = {s: v for s, v in auto_scores(on_dask, FIXTURE).items() if s in NORMAL}
    assert ours == auto_scores(sequential, FIXTURE), "the cluster should give nbgrader's own scores"
    again = grade(FIXTURE, course_dir=on_dask, cluster="local", **SETTINGS)
    assert {r.status for r in again.results} <= {"unchanged", "failed"}, "a rerun grades only what is left"


# ---------------------------------------------------------------------------
# separate `dask worker` processes that cannot see the course directory


def can_hide_folders() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs none /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def hidden_workers(tmp_path_factory: pytest.TempPathFactory):
    """A scheduler on 127.0.0.1 (in this process) and two `dask worker` processes that see an empty courses/ folder.

    Yields the courses/ folder (copy courses into it from this process) and the scheduler's address.
    """
    if not can_hide_folders():
        pytest.skip("hiding the course from workers needs root and `unshare --mount` (as the sandbox's full mode)")
    distributed = pytest.importorskip("distributed")
    tmp_path = tmp_path_factory.mktemp("workers")
    courses = tmp_path / "courses"
    courses.mkdir()
    (courses / "visible-to-the-instructor-only").write_text("")
    dask = Path(sys.executable).parent / "dask"
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as scheduler:
        workers = []
        try:
            for name in ("0", "1"):
                command = (f"mount -t tmpfs -o size=1m none {courses} && exec {dask} worker "
                           f"{scheduler.scheduler_address} --nthreads 1 --host 127.0.0.1 --no-dashboard "
                           f"--name {name} --local-directory {tmp_path / ('worker' + name)}")
                with open(tmp_path / f"worker{name}.log", "w") as log:
                    workers.append(subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                                     command], stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True))
            with distributed.Client(scheduler) as client:
                client.wait_for_workers(2, timeout=120)
                seen = client.run(lambda: sorted(os.listdir(courses)))
            assert all(listing == [] for listing in seen.values()), f"the workers should see an empty folder: {seen}"
            yield courses, scheduler.scheduler_address
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()


@pytest.mark.slow
def test_workers_that_cannot_see_the_course_grade_it(hidden_workers, submitted: Path) -> None:
    courses, address = hidden_workers
    course = copy_course(submitted, courses / "hidden")
    report = grade(FIXTURE, course_dir=course, cluster=address, **SETTINGS)
    assert sorted(submission_rows(course, FIXTURE)) == sorted(c.name for c in cases()), "one row per student"
    for case in cases():
        got = next(r for r in report.results if r.student == case.name)
        assert got.status == "graded" and got.cells == case.expected(report.test_cells), \
            f"{case.name}: {got.status}, {got.cells}, notes {got.notes}"
        assert (course / "autograded" / case.name / FIXTURE / "fixture.ipynb").is_file()


class Manifest:
    """What grade_on_cluster records into: the graded students, in order."""

    def __init__(self) -> None:
        self.recorded: list[str] = []

    def record(self, outcome) -> None:
        self.recorded.append(outcome.student)


@pytest.mark.slow
def test_a_worker_that_dies_mid_job_has_its_job_graded_elsewhere(hidden_workers, submitted: Path,
                                                                  tmp_path: Path) -> None:
    courses, address = hidden_workers
    course = copy_course(submitted, courses / "crash")
    marker = tmp_path / "crashed-once"

    def crash_once(job):  # pickled by value: the worker that gets the first job dies in the middle of it
        if not marker.exists():
            marker.write_text(job.student)
            os._exit(1)
        return run(job)

    students = ["good", "untouched"]
    grading = grading_run(course, workers=2)
    hashes = {s: file_hashes(grading.submitted(s)) for s in students}
    manifest = Manifest()
    outcomes, modes, _ = grade_on_cluster(grading, students, hashes, manifest, cluster=address, task=crash_once)
    assert marker.is_file(), "a worker should have died (the crash did not happen)"
    assert sorted(manifest.recorded) == students and not any(o.failed for o in outcomes.values()), \
        f"every job should be graded once despite the crash: {manifest.recorded}, " \
        f"{ {s: o.notes for s, o in outcomes.items()} }"
    assert sorted(submission_rows(course, FIXTURE)) == students, "exactly one gradebook row per student"
    scores = {s: sum(score for score, _ in cells.values() if score) for s, cells in auto_scores(course, FIXTURE).items()}
    assert scores == {"good": 90.0, "untouched": 0.0}, f"the crash should not change the scores, got {scores}"


@pytest.mark.slow
def test_a_local_cluster_speaks_tls_with_dask_security_objects(tmp_path: Path) -> None:
    """A self-signed certificate (openssl) as CA and as everyone's: scheduler, worker and client talk tls://."""
    distributed = pytest.importorskip("distributed")
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a certificate")
    def certificate(name: str) -> dict[str, str]:
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
        return {"cert": str(cert), "key": str(key)}

    def tls(pair: dict[str, str]):
        return distributed.Security(tls_ca_file=pair["cert"], tls_client_cert=pair["cert"],
                                    tls_client_key=pair["key"], tls_scheduler_cert=pair["cert"],
                                    tls_scheduler_key=pair["key"], tls_worker_cert=pair["cert"],
                                    tls_worker_key=pair["key"], require_encryption=True)

    ours, stranger = certificate("ours"), certificate("stranger")
    with connect(LOCAL, workers=1, security=tls(ours)) as client:
        assert client.scheduler.address.startswith("tls://127.0.0.1:"), client.scheduler.address
        assert client.submit(versions).result() == versions(), "a TLS worker should run jobs and answer"
        with pytest.raises(OSError):  # a client whose certificate the cluster's CA did not sign is not let in
            distributed.Client(client.scheduler.address, security=tls(stranger), timeout=5).close()
