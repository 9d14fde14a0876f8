"""``cnncourse grade --cluster ADDRESS`` and ``--local-cluster``: the jobs of ``cnncourse.tools.grading.job`` on Dask.

Scope: the client side of grading on a Dask cluster (Dask's ``distributed``,
imported only here and only when a cluster is asked for). Each submission is
packed on the instructor's machine, graded by ``job.run`` on a worker, and
merged by this process alone, result by result, as they come back.

- **Throttled on the client.** At most as many jobs are in flight as the
  workers have threads, and workers should have one thread each (one job at
  a time, one GPU each, pinned by whoever starts them with
  ``CUDA_VISIBLE_DEVICES``). Dask's resource restrictions are not used: they
  do not queue on the scheduler (dask/distributed #6467, #9108), so a large
  cohort would sit in worker memory instead.
- **Faults.** A worker that dies mid-job has its job rerun elsewhere by the
  scheduler (``distributed.scheduler.allowed-failures``); the single writer
  merges each submission once, so the gradebook keeps one row per student.
  A job that keeps killing workers, or a worker that refuses a job (other
  versions, no sandbox) changes nothing in the gradebook and the manifest, so
  a later run grades it again; so does an interrupted client.
- **Security.** Whoever reaches a scheduler can run code on its workers.
  ``--local-cluster`` listens on 127.0.0.1 only; for a real cluster pass
  Dask's ``Security`` (TLS) or use a ``tls://`` address with Dask's TLS
  configuration (README, Grading on a cluster).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from cnncourse.tools.grading.job import Job, JobResult, apply, gradebook_template, pack, release, run
from cnncourse.tools.grading.submission import GradingRun, Outcome

LOCAL = "local"  # the ``cluster`` value that starts a LocalCluster on this machine
WORKER_WAIT = 60.0  # seconds to wait for the first worker of a cluster


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise RuntimeError("grading on a cluster needs Dask: pip install 'cnncourse[cluster]' (dask and distributed), "
                           "or grade without --cluster/--local-cluster") from None
    return distributed


def is_loopback(address: str) -> bool:
    """Whether a scheduler address is on this machine only (127.0.0.0/8, ::1, localhost, inproc).

    Example:
        >>> is_loopback("tcp://127.0.0.1:8786"), is_loopback("tls://10.0.0.5:8786")
        (True, False)
    """
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme == "inproc":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def connect(cluster: str, *, workers: int, security: Any = None) -> Iterator[Any]:
    """A Dask ``Client``: of a new ``LocalCluster`` (``cluster="local"``, ``workers`` processes of one thread each,
    on 127.0.0.1) or of the running scheduler at ``cluster``.

    Raises:
        RuntimeError: Dask is not installed, or the scheduler cannot be reached, or no worker comes.
    """
    distributed = _distributed()
    if cluster == LOCAL:
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None, security=security) as local, \
                distributed.Client(local, security=security) as client:
            yield client
        return
    try:
        client = distributed.Client(cluster, security=security, timeout=WORKER_WAIT)
    except (OSError, TimeoutError) as err:
        raise RuntimeError(f"cannot reach the Dask scheduler at {cluster!r} ({err}); start it first "
                           "(README, Grading on a cluster) or grade without --cluster") from None
    except (TypeError, ValueError) as err:  # e.g. a tls:// address without a TLS configuration
        raise RuntimeError(f"cannot connect to the Dask scheduler at {cluster!r}: {err} (a tls:// address needs "
                           "Dask's TLS settings, see README, Grading on a cluster)") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise RuntimeError(f"the Dask scheduler at {cluster} has no worker after {WORKER_WAIT:.0f} s; "
                               "start workers (`dask worker ADDRESS --nthreads 1`)") from None
        yield client


def grade_on_cluster(grading: GradingRun, todo: list[str], hashes: dict[str, dict[str, str]], manifest: Any, *,
                     cluster: str, security: Any = None,
                     task: Callable[[Job], JobResult] = run) -> tuple[dict[str, Outcome], set[str], list[str]]:
    """Grade ``todo`` on a Dask cluster; merge and record each result here as it comes back.

    Args:
        grading: the run; ``grading.options.mode`` is the sandbox asked of the workers ("auto" or a mode).
        todo: the students to grade.
        hashes: ``file_hashes`` of each submission.
        manifest: has ``record(outcome)`` (the grader's manifest), called after each merge.
        cluster: a scheduler address, or ``"local"`` for a ``LocalCluster`` of ``grading.options.workers``.
        security: Dask's ``distributed.Security`` (TLS), if any.
        task: what runs on the worker (``job.run``; tests wrap it).

    Returns:
        The outcomes by student, the sandbox modes the workers used, and warnings for the report.
    """
    from tqdm.auto import tqdm

    distributed = _distributed()
    warnings = []
    if cluster != LOCAL and not is_loopback(cluster) and not str(cluster).startswith("tls://"):
        warnings.append(f"the scheduler {cluster} is reached without TLS: whoever reaches it can run code on its "
                        "workers (README, Grading on a cluster)")
    template = gradebook_template(grading.course, grading.assignment)
    outcomes: dict[str, Outcome] = {}
    modes: set[str] = set()
    waiting = iter(todo)
    with connect(cluster, workers=grading.options.workers, security=security) as client, \
            tqdm(total=len(todo), desc=f"grading {grading.assignment} on {cluster}", unit="submission",
                 disable=not grading.progress, file=sys.stderr) as bar:
        threads = client.nthreads()
        if any(n > 1 for n in threads.values()):
            warnings.append("some Dask workers have more than one thread; start them with --nthreads 1 "
                            "(one job, one GPU at a time)")
        in_flight: dict[Any, Job] = {}
        done = distributed.as_completed()

        def submit_more() -> None:
            limit = max(1, sum(client.nthreads().values()))
            for student in waiting:
                job = pack(grading, student, hashes[student], template=template)
                key = f"cnncourse-grade-{grading.assignment}-{student}-{uuid.uuid4().hex[:8]}"
                future = client.submit(task, job, key=key, pure=False, retries=0)
                in_flight[future] = job
                done.add(future)
                if len(in_flight) >= limit:
                    return

        submit_more()
        for future in done:
            job = in_flight.pop(future)
            try:
                result = future.result()
            except Exception as err:  # KilledWorker after repeated deaths, or an error inside run
                result = JobResult(job.student, "refused", notes=[
                    f"the cluster could not grade it ({type(err).__name__}: {err}); nothing was recorded, "
                    "a later run grades it again"])
            outcome = apply(grading, job, result)
            if not result.refused:
                manifest.record(outcome)
                modes.add(result.mode)
            outcomes[job.student] = outcome
            bar.update(1)
            submit_more()
        try:  # stop the grading worker processes now rather than when Dask stops the workers
            client.run(release)
        except Exception:  # noqa: BLE001  (a worker that left meanwhile has nothing to stop)
            pass
    return outcomes, modes, warnings
