"""Sandbox user ids: a private block per grading run, and cleaning up what a sandbox user left on the host."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cnncourse.tools.grading.uids import BLOCK, clean_up_uid, remove_files, reserve_uids

HOLD = """
import sys, time
from cnncourse.tools.grading.uids import reserve_uids
with reserve_uids(int(sys.argv[1]), 2) as first:
    print(first, flush=True)
    sys.stdin.readline()
"""


def test_two_runs_never_share_user_ids(tmp_path: Path) -> None:
    base = 3_000_000 + os.getpid() % 1000 * BLOCK * 4  # far from the ids real runs use
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(base)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        theirs = int(other.stdout.readline())
        with reserve_uids(base, 2) as ours, reserve_uids(base, 2) as third:
            assert len({theirs, ours, third}) == 3, f"three runs got overlapping blocks: {theirs}, {ours}, {third}"
            assert all((a - base) % BLOCK == 0 for a in (theirs, ours, third)), "blocks start on block boundaries"
    finally:
        other.communicate("\n", timeout=30)
    with reserve_uids(base, 2) as again:
        assert again == base, f"a block released by a finished run should be taken again, got {again}"
    with pytest.raises(ValueError, match=f"1 to {BLOCK} sandbox user ids"):
        with reserve_uids(base, BLOCK + 1):
            pass


LEAVE = """
import ctypes, os, sys
os.setresgid(int(sys.argv[1]), int(sys.argv[1]), int(sys.argv[1]))
os.setresuid(int(sys.argv[1]), int(sys.argv[1]), int(sys.argv[1]))
print(ctypes.CDLL(None).shmget(0, 1 << 20, 0o1600))  # IPC_PRIVATE, IPC_CREAT
open(sys.argv[2] + "/left.txt", "w").write("x")
os.mkdir(sys.argv[2] + "/open")
os.chmod(sys.argv[2] + "/open", 0o1777)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_what_a_sandbox_user_leaves_on_the_host_is_removed(tmp_path: Path) -> None:
    uid = 3_900_000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as folder:  # pytest's own folders are closed to other users
        _leave_and_clean_up(uid, Path(folder), tmp_path)


def _leave_and_clean_up(uid: int, folder: Path, tmp_path: Path) -> None:
    folder.chmod(0o755)
    shared = folder / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    done = subprocess.run([sys.executable, "-c", LEAVE, str(uid), str(shared)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shmid = done.stdout.split()[0]
    assert any(line.split()[1] == shmid for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:])
    outside = tmp_path / "owned-elsewhere"
    outside.write_text("not in a world-writable folder")
    os.chown(outside, uid, uid)
    removed = sorted(remove_files(uid, (str(shared),)))
    assert removed == [str(shared / "left.txt"), str(shared / "open")], \
        f"its files in world-writable folders should go, removed {removed}"
    assert not list(shared.iterdir()), f"nothing of the sandbox user should be left: {list(shared.iterdir())}"
    found = clean_up_uid(uid)
    assert any(f"System V shm {shmid}" in item for item in found), f"the segment should be removed and named: {found}"
    assert not any(line.split()[1] == shmid for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:])
    assert outside.exists(), "only world-writable folders are cleaned, never the grader's own"
    assert clean_up_uid(uid) == [], "a second clean-up finds nothing"
    with pytest.raises(ValueError, match="not a sandbox user"):
        clean_up_uid(os.getuid())
