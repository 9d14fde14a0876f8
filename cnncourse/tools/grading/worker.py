"""One grading worker: a process that runs nbgrader's autograde in-process, one submission after another.

Scope: the worker side of ``cnncourse grade``. Starting nbgrader costs
seconds of imports; a worker pays that once and then grades job after job
through ``nbgrader.apps.NbGraderAPI.autograde`` (the same ``Autograde``
converter that ``nbgrader autograde`` runs), each job in its own grading
folder with that folder's ``nbgrader_config.py``. ``WorkerProcess`` is the
grader's handle on one worker; ``main`` is the loop inside it.

Protocol: one JSON job per line on the worker's stdin
(``{"folder", "assignment", "student", "env"}``), one JSON reply per line on
a separate pipe (``{"status": "ok" | "failed", "error"}``); the worker's own
stdout and stderr (and its kernels') go to a log file, so nothing a
submission prints can corrupt the replies. A worker that takes longer than a
job's time limit is killed with its kernels and replaced.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from cnncourse.tools.release import nbgrader_environment


class WorkerProcess:
    """A running grading worker (see the module docstring).

    Example::

        worker = WorkerProcess(log=Path("/tmp/worker0.log"))
        job = {"folder": "/tmp/g/w1", "assignment": "01_x", "student": "alice", "env": {}}
        worker.grade(job, timeout=600)
        # {'status': 'ok', 'error': ''}
        worker.close()
    """

    def __init__(self, *, log: str | Path) -> None:
        self.log = Path(log)
        self.process: subprocess.Popen | None = None
        self.replies: Any = None
        self._start()

    def _start(self) -> None:
        read, write = os.pipe()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cnncourse.tools.grading.worker", "--reply-fd", str(write)],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, pass_fds=(write,),
                env=nbgrader_environment(), start_new_session=True)
        os.close(write)
        self.replies = os.fdopen(read, "r", encoding="utf-8")

    def grade(self, job: dict[str, Any], *, timeout: float) -> dict[str, Any] | None:
        """Send one job and wait for its reply; None if it took longer than ``timeout`` seconds or the worker died.

        A worker that did not answer is killed (with its kernels) and a fresh one started.
        """
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            self._restart()
            return None
        ready, _, _ = select.select([self.replies], [], [], timeout)
        line = self.replies.readline() if ready else ""
        if not line:
            self._restart()
            return None
        return json.loads(line)

    def _restart(self) -> None:
        self._kill()
        self._start()

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        if self.replies is not None:
            self.replies.close()

    def close(self) -> None:
        """Stop the worker (it finishes nothing more)."""
        if self.process is not None and self.process.stdin is not None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        self._kill()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Autograde one submission in its grading folder with nbgrader's API; the reply for the grader.

    Example::

        run_job({"folder": "/tmp/g/w1", "assignment": "01_x", "student": "alice", "env": {}})
        # {'status': 'ok', 'error': ''}
    """
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    folder = Path(job["folder"])
    saved = dict(os.environ)
    os.environ.update(job.get("env", {}))
    os.chdir(folder)
    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
        config.CourseDirectory.root = str(folder)
        config.NbGraderAPI.log_level = "INFO"
        api = NbGraderAPI(config=config)
        result = api.autograde(job["assignment"], job["student"], force=True, create=True)
        log = result.get("log", "") + result.get("error", "")
        (folder / "nbgrader.log").write_text(log, encoding="utf-8")
        return {"status": "ok" if result.get("success") else "failed", "error": _last_error(log)}
    except Exception:
        text = traceback.format_exc()
        (folder / "nbgrader.log").write_text(text, encoding="utf-8")
        return {"status": "failed", "error": _last_error(text)}
    finally:
        os.chdir("/")
        os.environ.clear()
        os.environ.update(saved)


def _last_error(text: str) -> str:
    """The most telling error line of an nbgrader log."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if any(word in line for word in ("Error:", "Exception:", "Error(")) and not line.startswith("File ") \
                and "NbGraderException" not in line:
            return line[-300:]
    return ""


def main(argv: list[str] | None = None) -> None:
    """The worker loop: read jobs from stdin, reply on ``--reply-fd``, until stdin closes."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        reply_fd = int(args[args.index("--reply-fd") + 1])
    except (ValueError, IndexError):
        raise SystemExit("usage: python -m cnncourse.tools.grading.worker --reply-fd FD (started by cnncourse grade)")
    replies = os.fdopen(reply_fd, "w", encoding="utf-8", buffering=1)
    import nbgrader.apps  # noqa: F401  (pay the import once, before the first job)

    for line in sys.stdin:
        if line.strip():
            replies.write(json.dumps(run_job(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
