"""The grading kernel's own process: enter the sandbox, then run ipykernel in the same process.

Scope: the side of ``cnncourse.tools.grading.sandbox`` that runs inside the
sandbox, in another process than the grader. The kernel spec written by
``sandbox.write_kernel_spec`` starts ``python -m cnncourse.tools.grading.kernel
start --policy FILE -f CONNECTION``: it copies the connection file where the
sandbox user can read it, sets up the mounts (``full`` and ``namespaces``),
sets the same resource limits in every mode, drops privileges (in
``namespaces``: every capability, so the mounts cannot be undone), arranges
to die with its parent, caps what cells print and
installs the tamper guard (``cnncourse.tools.grading.tamper``) before ipykernel
runs a single cell. ``launch`` is a first stage for machines without
``setpriv``: it sets the parent-death signal and the clean environment, then
runs the same chain. Nobody runs this module by hand.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cnncourse.tools.grading.sandbox import SandboxPolicy, kernel_command, kernel_environment

# Linux constants (mount(2), prctl(2)).
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_CAP_VERSION_3 = 0x20080522
_STICKY = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")  # private, but writable by the kernel as on any host


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _locked_flags(path: str) -> int:
    """The nosuid/nodev/noexec/rdonly flags a bind mount of ``path`` must keep (user namespaces)."""
    flags = os.statvfs(path).f_flag
    result = 0
    for st, ms in ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
                   (os.ST_RDONLY, _MS_RDONLY)):
        if flags & st:
            result |= ms
    return result


def _private_connection_file(policy: SandboxPolicy, connection_file: str) -> str:
    """A copy of the connection file that the sandbox user can read (the original is the grader's, mode 600)."""
    target = Path(policy.run_dir) / f"connection-{os.getpid()}.json"
    shutil.copyfile(connection_file, target)
    target.chmod(0o600)
    if policy.uid is not None:
        os.chown(target, policy.uid, policy.gid)
    return str(target)


def _set_up_mounts(policy: SandboxPolicy, workdir: str) -> None:
    """Inside fresh mount namespaces: empty the hidden folders, then put back what the kernel needs."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    keep = [(p, False) for p in policy.expose_ro] + [(p, True) for p in (*policy.expose_rw, policy.run_dir,
                                                                           policy.home, workdir)]
    handles = {}
    for path, writable in keep:
        if os.path.exists(path):
            handles[path] = (os.open(path, os.O_PATH), writable, _locked_flags(path))
    for path in policy.hide:
        if os.path.islink(path):
            continue
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777" if path in _STICKY else "mode=755")
        elif os.path.exists(path):  # a file at the top level: an empty one instead
            _mount("/dev/null", path, None, _MS_BIND)
    for path in sorted(handles, key=len):
        fd, writable, locked = handles[path]
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        elif not os.path.exists(path):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).touch()
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
        if not writable:
            _mount(None, path, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | locked)
        os.close(fd)


def _apply_limits(policy: SandboxPolicy) -> None:
    """The same limits in every mode: no core dumps, file size, processes, open files (never above a hard limit)."""
    import resource

    limits = ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, policy.max_file_bytes),
              (resource.RLIMIT_NPROC, policy.max_processes), (resource.RLIMIT_NOFILE, policy.max_open_files))
    for limit, value in limits:
        hard = resource.getrlimit(limit)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))


def _clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable capabilities of this process (capset(2))."""
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc().capset(header, data), "capset")


def _drop_privileges(policy: SandboxPolicy) -> None:
    libc = _libc()
    _apply_limits(policy)
    if policy.uid is not None:
        os.setgroups([])
        os.setresgid(policy.gid, policy.gid, policy.gid)
        os.setresuid(policy.uid, policy.uid, policy.uid)
    elif policy.mode == "namespaces":
        # Root of a user namespace: give up every capability so the mounts cannot be undone.
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        for cap in range(last + 1):
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
        _clear_capabilities()
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def _launch(args: list[str]) -> None:
    """Fallback first stage (no ``setpriv``): die with the grader, clean environment, then the chain."""
    policy_file, connection_file, extra = _parse(args)
    policy = SandboxPolicy.load(policy_file)
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # kept across exec (not across setuid)
    chain = kernel_command(policy, policy_file, connection_file, extra)
    os.execve(chain[0], chain, kernel_environment(policy))


def _start(args: list[str], *, run: Callable[[list[str]], None] | None = None) -> None:
    """The kernel's process: connection file, mounts, privileges down, then ipykernel (or ``run``) in the same process."""
    policy_file, connection_file, extra = _parse(args)
    policy = SandboxPolicy.load(policy_file)
    workdir = os.getcwd()
    if policy.mode != "off":
        connection_file = _private_connection_file(policy, connection_file)
    if policy.uid is not None:
        os.chown(workdir, policy.uid, policy.gid)
        os.chmod(workdir, 0o700)
    if policy.mode in ("full", "namespaces"):
        _set_up_mounts(policy, workdir)
    os.chdir(workdir)
    _drop_privileges(policy)
    # Die with the parent (the grader, or unshare, which dies with the grader); setuid cleared the flag.
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1 and policy.mode in ("user", "off"):
        raise SystemExit("the grader that started this kernel is gone")
    (run or _run_ipykernel)(["-f", connection_file, *extra])


def _run_ipykernel(args: list[str]) -> None:
    """The kernel itself, with output caps and the tamper guard installed before any cell runs."""
    from ipykernel.kernelapp import IPKernelApp

    from cnncourse.tools.grading import tamper

    app = IPKernelApp.instance()
    app.initialize(["--IPKernelApp.log_level=CRITICAL", *args])  # no connection banner on the grader's terminal
    limit = int(os.environ.get("CNNCOURSE_MAX_OUTPUT_BYTES", "0") or 0)
    if limit > 0:
        for stream in (sys.stdout, sys.stderr):
            _cap_stream(stream, 2 * limit)
    tamper.install(shell=app.shell, kernel=app.kernel)
    app.start()


def _run_verdict(args: list[str]) -> None:
    """The verdict pass instead of a kernel (``cnncourse.tools.grading.verdict``): ``-f`` names its job file."""
    from cnncourse.tools.grading import verdict_runner

    verdict_runner.main(args)


def _cap_stream(stream: object, limit: int) -> None:
    """Drop what one cell writes to ``stream`` past ``limit`` characters, so a flood never leaves the kernel.

    The grader stops such a cell at its own, lower limit; this only keeps the
    rest of the flood from being sent at all.
    """
    original = stream.write  # type: ignore[attr-defined]
    state = {"cell": None, "written": 0}

    def write(text: str) -> int:
        parent = getattr(stream, "parent_header", None) or {}
        cell = parent.get("header", {}).get("msg_id")
        if cell != state["cell"]:
            state["cell"], state["written"] = cell, 0
        state["written"] += len(text)
        if state["written"] > limit:
            return len(text)
        return original(text)

    stream.write = write  # type: ignore[attr-defined]


def _parse(args: list[str]) -> tuple[str, str, list[str]]:
    try:
        policy = args[args.index("--policy") + 1]
        connection = args[args.index("-f") + 1]
    except (ValueError, IndexError):
        raise SystemExit("usage: python -m cnncourse.tools.grading.kernel {start,launch} --policy FILE "
                         "-f CONNECTION_FILE [ipykernel args]")
    skip = {args.index("--policy"), args.index("--policy") + 1, args.index("-f"), args.index("-f") + 1}
    return policy, connection, [a for i, a in enumerate(args) if i not in skip]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m cnncourse.tools.grading.kernel`` (used by the kernel spec, not by people).

    Sub-commands: ``start`` (the kernel's process, see ``sandbox.write_kernel_spec``)
    and ``launch`` (a first stage for machines without ``setpriv``). To see
    which modes this machine allows, run ``python -m cnncourse.tools.grading.sandbox probe``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "start":
        _start(rest)
    elif command == "launch":
        _launch(rest)
    elif command == "verdict":  # the same sandbox, then a plain-Python verdict pass instead of ipykernel
        _start(rest, run=_run_verdict)
    else:
        raise SystemExit("usage: python -m cnncourse.tools.grading.kernel {start,launch} --policy FILE -f CONNECTION_FILE "
                         "(started by the grading kernel spec; for the modes this machine allows run "
                         "python -m cnncourse.tools.grading.sandbox probe)")


if __name__ == "__main__":
    main()
