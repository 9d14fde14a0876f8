"""Sandbox user ids: one private range per grading run, and what their kernels leave behind.

Scope: the host side of the sandbox's user ids (``full`` and ``user`` modes of
``cnncourse.tools.grading.sandbox``). ``reserve_uids`` gives each grading run a
block of user ids no other run on the machine holds (a lock file per block,
held for the run's lifetime, ``flock``: released even if the run crashes), so
two runs never share a user id and never touch each other's processes.
``clean_up_uid`` removes what a sandbox user left on the host after grading:
its processes, its System V IPC objects and its files in world-writable
folders (``/tmp``, ``/dev/shm``, ``/run/lock``, ...).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BLOCK = 256  # user ids per reserved block; a run grades with at most this many workers
BLOCKS = 64  # blocks tried above the base before giving up
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue")


def lock_folder() -> Path:
    """Where the per-block lock files live: ``/run/cnncourse-uids`` for root, else the system temporary folder.

    Example:
        >>> lock_folder().name
        'cnncourse-uids'
    """
    base = Path("/run") if os.geteuid() == 0 and Path("/run").is_dir() else Path(tempfile.gettempdir())
    return base / "cnncourse-uids"


@contextmanager
def reserve_uids(base: int, count: int) -> Iterator[int]:
    """Hold a block of ``count`` sandbox user ids no other grading run holds; yield its first id.

    Blocks start at ``base``, ``base + BLOCK``, ...; a block is taken when its
    lock file can be locked and no process runs as any of its ids.

    Raises:
        ValueError: ``count`` is larger than a block.
        RuntimeError: every block is held by other runs.

    Example:
        >>> with reserve_uids(61000, 2) as first, reserve_uids(61000, 2) as second:
        ...     first != second
        True
    """
    if not 1 <= count <= BLOCK:
        raise ValueError(f"a grading run may use 1 to {BLOCK} sandbox user ids, asked for {count}")
    folder = lock_folder()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    busy = _uids_in_use()
    for k in range(BLOCKS):
        start = base + k * BLOCK
        fd = os.open(folder / f"{start}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EACCES):
                continue
            raise
        if busy & set(range(start, start + BLOCK)):  # a run of another tool, or a stale kernel: leave it alone
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield start
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"no free block of sandbox user ids from {base} to {base + BLOCKS * BLOCK - 1}: "
                       f"other grading runs hold them all (see {folder}); wait for them or pass another uid base")


def _uids_in_use() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.add(_real_uid(entry))
            except (OSError, ValueError, StopIteration):
                continue
    return found


def _real_uid(proc_entry: Path) -> int:
    """The real uid from status: /proc/PID itself belongs to root once a process changed its uid."""
    line = next(t for t in (proc_entry / "status").read_text().splitlines() if t.startswith("Uid:"))
    return int(line.split()[1])


def kill_leftovers(uid: int) -> int:
    """Kill every process still running as the sandbox user ``uid``; return how many.

    Never touches processes of other users; refuses uid 0 and the grader's own. The grader calls
    it after each notebook in ``user`` mode (``SafeExecute.sandbox_uid``), e.g. ``kill_leftovers(61000)``.

    Example:
        >>> kill_leftovers(os.getuid())
        Traceback (most recent call last):
        ...
        ValueError: refusing to kill the processes of uid ... that is not a sandbox user
    """
    _refuse_own(uid, "kill the processes of")
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if _real_uid(entry) == uid:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError, StopIteration):
            continue
    return killed


def _refuse_own(uid: int, what: str) -> None:
    if uid == 0 or uid == os.getuid():
        raise ValueError(f"refusing to {what} uid {uid}: that is not a sandbox user")


def remove_ipc(uid: int) -> list[str]:
    """Remove the System V shared memory, semaphores and message queues owned by ``uid``; describe each.

    Example:
        >>> remove_ipc(2_000_000_000)
        []
    """
    _refuse_own(uid, "remove the IPC objects of")
    removed = []
    for kind, flag in (("shm", "-m"), ("sem", "-s"), ("msg", "-q")):
        table = Path("/proc/sysvipc") / kind
        try:
            lines = table.read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        for line in lines[1:]:
            fields = dict(zip(header, line.split()))
            if int(fields.get("uid", -1)) != uid and int(fields.get("cuid", -1)) != uid:
                continue
            ident = fields.get("shmid") or fields.get("semid") or fields.get("msqid")
            ipcrm = shutil.which("ipcrm")
            if ipcrm and ident and subprocess.run([ipcrm, flag, ident], capture_output=True).returncode == 0:
                removed.append(f"System V {kind} {ident}" + (f" ({int(fields['size']):,} bytes)"
                                                              if "size" in fields else ""))
    return removed


def remove_files(uid: int, folders: tuple[str, ...] = WORLD_WRITABLE) -> list[str]:
    """Remove what ``uid`` owns in world-writable ``folders`` (and in world-writable folders below); list the paths.

    Links are never followed: a path is removed itself, never what it points to.

    Example:
        >>> remove_files(2_000_000_000, ("/nonexistent",))
        []
    """
    _refuse_own(uid, "remove the files of")
    removed: list[str] = []
    pending = [Path(f) for f in sorted({os.path.realpath(f) for f in folders})]  # /var/lock is often /run/lock
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == uid:
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    Path(entry.path).unlink(missing_ok=True)
                removed.append(entry.path)
            elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
                pending.append(Path(entry.path))
    return removed


def clean_up_uid(uid: int) -> list[str]:
    """Kill ``uid``'s processes, then remove its IPC objects and its files in world-writable folders; describe those.

    Processes are killed without a word: a kernel that is still exiting cannot
    be told apart from one left running on purpose.

    Example:
        >>> clean_up_uid(2_000_000_000)
        []
    """
    kill_leftovers(uid)
    return remove_ipc(uid) + remove_files(uid)
