"""Run a grading kernel where a submission reaches only its own files.

Scope: the operating-system side of grading untrusted notebooks. ``cnncourse
grade`` writes one ``SandboxPolicy`` per submission and a Jupyter kernel spec
whose command ends in ``python -m cnncourse.tools.grading.sandbox start ...``; nbgrader's
autograde then starts every kernel through it. Four modes, strongest first:

- ``full`` (the grader runs as root): new mount, network and PID namespaces
  (util-linux ``unshare``), then a separate unprivileged user id per worker.
  The course directory, temporary folders, home folders, ``/srv`` and
  ``/mnt`` are replaced by empty file systems; only the submission's working
  folder (read-write), the Python installation, the ``cnncourse`` package and
  the data root (read-only) are put back. No network: a network namespace of
  its own (loopback only, down); the kernel talks to nbgrader over Unix sockets.
  Its processes see only each other (PID namespace) and die together.
- ``namespaces`` (no root, unprivileged user namespaces allowed): the same
  namespaces inside a user namespace; the kernel keeps the grader's user id
  but has no capabilities, so it cannot undo the mounts.
- ``user`` (root, namespaces refused): a separate user id only. File
  permissions protect the grading folders; the network stays open and the
  course directory must not be readable by others.
- ``off``: no isolation at all; the submission runs with the grader's rights.

``available_modes()`` probes what this machine allows; ``choose_mode("auto")``
takes the strongest. Every mode also sets resource limits (processes, file
size, no core dumps), gives the kernel a minimal environment and kills it with
its parent.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import cnncourse

MODES = ("full", "namespaces", "user", "off")
DEFAULT_UID_BASE = 61000  # sandbox user ids: DEFAULT_UID_BASE + worker slot (no /etc/passwd entry needed)
KERNEL_ENV_KEEP = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "CNNCOURSE_BUDGET", "CNNCOURSE_DEVICE",
                   "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NBGRADER_EXECUTION", "LD_LIBRARY_PATH",
                   "CUDA_HOME")
_SYSTEM_HIDE = ("/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/srv", "/mnt", "/media")

# Linux constants (mount(2), prctl(2)).
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38


@dataclass(frozen=True)
class SandboxPolicy:
    """Everything the kernel launcher needs to know, written as JSON beside the kernel spec.

    Attributes:
        mode: one of ``MODES``.
        run_dir: folder for the kernel's sockets and its copy of the connection file (read-write).
        home: the kernel's ``HOME`` and temporary folder (read-write).
        uid: the user id the kernel runs as (``full`` and ``user``); ``None`` keeps the current one.
        gid: its group id.
        hide: folders replaced by empty file systems (``full`` and ``namespaces``).
        expose_ro: folders put back read-only, at the same path.
        expose_rw: folders put back read-write (besides the kernel's working folder).
        env: the kernel's whole environment.
        max_processes: RLIMIT_NPROC (threads count too).
        max_file_bytes: RLIMIT_FSIZE, the largest file the kernel may write.
    """

    mode: str
    run_dir: str
    home: str
    uid: int | None = None
    gid: int | None = None
    hide: tuple[str, ...] = ()
    expose_ro: tuple[str, ...] = ()
    expose_rw: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    max_processes: int = 4096
    max_file_bytes: int = 4 << 30

    def save(self, path: str | Path) -> Path:
        """Write the policy as JSON (readable by the grader only) and return the path.

        Example:
            >>> SandboxPolicy("off", "/tmp/run", "/tmp/home").save("/tmp/policy.json")  # doctest: +SKIP
            PosixPath('/tmp/policy.json')
        """
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True), encoding="utf-8")
        path.chmod(0o600)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SandboxPolicy":
        """Read a policy written by ``save``.

        Example:
            >>> SandboxPolicy.load("/tmp/policy.json").mode  # doctest: +SKIP
            'off'
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"sandbox policy {path} does not exist (was the grading folder removed?)") from None
        for key in ("hide", "expose_ro", "expose_rw"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)


# ---------------------------------------------------------------------------
# what this machine allows


@lru_cache(maxsize=None)
def available_modes() -> tuple[str, ...]:
    """The sandbox modes this machine allows, strongest first (``"off"`` always).

    Probes by running ``unshare`` (a fraction of a second, once per process).

    Example:
        >>> available_modes()[-1]
        'off'
    """
    found = []
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if sys.platform.startswith("linux") and shutil.which("unshare"):
        namespaces = ["--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "true"]
        if root and _runs(["unshare", *namespaces]):
            found.append("full")
        if _runs(["unshare", "--user", "--map-root-user", *namespaces]):
            found.append("namespaces")
    if root and sys.platform.startswith("linux") and _reachable_by_others(Path(sys.executable)):
        found.append("user")
    found.append("off")
    return tuple(found)


def choose_mode(wanted: str = "auto") -> str:
    """The mode to grade with: ``wanted`` if this machine allows it, the strongest one for ``"auto"``.

    Raises:
        ValueError: ``wanted`` is not a mode, or this machine does not allow it.

    Example:
        >>> choose_mode("off")
        'off'
    """
    if wanted == "auto":
        return available_modes()[0]
    if wanted not in MODES:
        raise ValueError(f"unknown sandbox mode {wanted!r}: use auto or one of {', '.join(MODES)}")
    if wanted not in available_modes():
        raise ValueError(f"sandbox mode {wanted!r} is not available on this machine ({_why_not(wanted)}); "
                         f"available: {', '.join(available_modes())}")
    return wanted


def describe_mode(mode: str) -> str:
    """One line, for people, on what a mode guarantees.

    Example:
        >>> describe_mode("off").startswith("off:")
        True
    """
    return {
        "full": "full: own user id, no network, only its own files visible (mount, network and PID namespaces)",
        "namespaces": "namespaces: no network, only its own files visible (user namespace; same user id as the grader)",
        "user": "user: own user id only; the network is open and file permissions are the only wall "
                "(keep the course directory unreadable by others: chmod o-rwx)",
        "off": "off: NO isolation; submissions run with your rights (see README, For instructors)",
    }[mode]


def _runs(command: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(command), capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach and run ``path`` (every parent folder searchable)."""
    try:
        real = path.resolve()
        for parent in real.parents:
            if not parent.stat().st_mode & 0o001:
                return False
        return bool(real.stat().st_mode & 0o001)
    except OSError:
        return False


def _why_not(mode: str) -> str:
    if mode == "full":
        return "needs root and `unshare` with mount, network and PID namespaces"
    if mode == "namespaces":
        return "needs `unshare` and unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
    return f"needs root, and {sys.executable} reachable by other users"


# ---------------------------------------------------------------------------
# building a policy and a kernel spec


def uses_unix_sockets(mode: str) -> bool:
    """Whether the kernel of this mode talks over Unix sockets (no network namespace access to TCP).

    Example:
        >>> uses_unix_sockets("full"), uses_unix_sockets("off")
        (True, False)
    """
    return mode in ("full", "namespaces")


def make_policy(mode: str, *, run_dir: str | Path, home: str | Path, slot: int = 0,
                uid_base: int = DEFAULT_UID_BASE, hide: Sequence[str | Path] = (),
                expose_ro: Sequence[str | Path] = (), env: dict[str, str] | None = None,
                threads: int | None = None) -> SandboxPolicy:
    """A policy for one kernel: what it hides, what it keeps, who it runs as.

    Hidden by default: the given ``hide`` folders (the course directory, the
    grading folder) plus temporary folders, home folders, ``/srv``, ``/mnt``
    and ``/media``. Kept read-only: the Python installation, every folder on
    ``sys.path`` that is not hidden on purpose, the ``cnncourse`` package, and
    ``expose_ro`` (the data root).

    Args:
        mode: one of ``MODES`` (see ``choose_mode``).
        run_dir: the kernel's socket folder.
        home: the kernel's ``HOME``.
        slot: the worker slot; the user id is ``uid_base + slot``.
        uid_base: first sandbox user id.
        hide: folders the kernel must not see.
        expose_ro: extra folders to keep readable.
        env: variables added to the kernel's minimal environment.
        threads: ``OMP_NUM_THREADS`` and friends for the kernel.

    Example:
        >>> make_policy("off", run_dir="/tmp/r", home="/tmp/h").env["HOME"]
        '/tmp/h'
    """
    if mode not in MODES:
        raise ValueError(f"unknown sandbox mode {mode!r}: use one of {', '.join(MODES)}")
    own_id = mode in ("full", "user")
    uid = uid_base + slot if own_id else None
    hidden = [str(Path(p).resolve()) for p in hide]
    hidden += [p for p in (*_SYSTEM_HIDE, str(Path.home()), tempfile.gettempdir()) if Path(p).is_dir()]
    hidden = sorted({p for p in hidden if p != "/"})
    keep = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent)}
    keep.add(str(Path(cnncourse.__file__).resolve().parent))  # the cnncourse package (editable installs live elsewhere)
    for entry in sys.path:  # installed packages only: never the current folder or a test folder
        path = Path(entry).resolve() if entry else None
        if path and path.is_dir() and any(part in ("site-packages", "dist-packages") for part in path.parts):
            keep.add(str(path))
    keep.update(str(Path(p).resolve()) for p in expose_ro if Path(p).exists())
    for entry in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):  # CUDA and friends, where set
        if entry and Path(entry).is_dir():
            keep.add(str(Path(entry).resolve()))
    kernel_env = {key: os.environ[key] for key in KERNEL_ENV_KEEP if key in os.environ}
    home = str(Path(home).resolve())
    kernel_env.update({
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "TMPDIR": home, "MPLCONFIGDIR": str(Path(home) / ".matplotlib"),
        "MPLBACKEND": "agg", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
    })
    if threads:
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            kernel_env[key] = str(threads)
    kernel_env.update(env or {})
    return SandboxPolicy(mode=mode, run_dir=str(Path(run_dir).resolve()), home=home, uid=uid, gid=uid,
                         hide=tuple(hidden), expose_ro=tuple(sorted(keep)), expose_rw=(), env=kernel_env)


def write_kernel_spec(folder: str | Path, policy_file: str | Path, *, name: str = "python3") -> Path:
    """Write ``<folder>/kernels/<name>/kernel.json`` that starts kernels in the sandbox of ``policy_file``.

    Put ``folder`` first on ``JUPYTER_PATH`` and every notebook whose
    kernelspec is ``name`` runs sandboxed. The command is
    ``setpriv --pdeathsig KILL -- env -i VARS... [unshare ... --] python -m
    cnncourse.tools.grading.sandbox start ...``: one Python process, started with only the
    policy's environment, killed if its grader dies.

    Example:
        >>> write_kernel_spec("/tmp/share", "/tmp/policy.json").name  # doctest: +SKIP
        'kernel.json'
    """
    policy_file = Path(policy_file).resolve()
    policy = SandboxPolicy.load(policy_file)
    setpriv, env = shutil.which("setpriv"), shutil.which("env")
    if setpriv and env:
        variables = [f"{key}={value}" for key, value in _kernel_env(policy).items()]
        argv = [setpriv, "--pdeathsig", "KILL", "--", env, "-i", *variables,
                *_chain(policy, str(policy_file), "{connection_file}", [])]
    else:  # a Python stage sets the parent-death signal and the environment instead
        argv = [sys.executable, "-m", "cnncourse.tools.grading.sandbox", "kernel", "--policy", str(policy_file),
                "-f", "{connection_file}"]
    spec_dir = Path(folder) / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "Python 3 (cnncourse grading sandbox)", "language": "python",
            "interrupt_mode": "signal", "metadata": {"debugger": False}}
    path = spec_dir / "kernel.json"
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path


def _kernel_env(policy: SandboxPolicy) -> dict[str, str]:
    return {**policy.env, "CNNCOURSE_SANDBOX": policy.mode}


def _chain(policy: SandboxPolicy, policy_file: str, connection_file: str, extra: Sequence[str]) -> list[str]:
    """The command that enters the namespaces (if any) and starts the kernel stage."""
    start = [sys.executable, "-m", "cnncourse.tools.grading.sandbox", "start", "--policy", policy_file, "-f", connection_file, *extra]
    if policy.mode not in ("full", "namespaces"):
        return start
    user = ["--user", "--map-root-user"] if policy.mode == "namespaces" else []
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, *user, "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--", *start]


def prepare_folders(policy: SandboxPolicy, *, traverse: Sequence[str | Path] = ()) -> None:
    """Create the policy's folders and hand them to the sandbox user; make ``traverse`` folders searchable.

    In ``user`` mode file permissions are the only wall: the run and home
    folders belong to the sandbox user (mode 700), and each folder in
    ``traverse`` (the parents of the kernel's working folder) gets mode 711,
    so the kernel can pass through but not list them.

    Example:
        >>> prepare_folders(make_policy("off", run_dir="/tmp/r", home="/tmp/h"))  # doctest: +SKIP
    """
    for folder in (policy.run_dir, policy.home):
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder).chmod(0o700)
        if policy.uid is not None:
            os.chown(folder, policy.uid, policy.gid)
    if policy.uid is not None:
        for folder in traverse:
            Path(folder).chmod(0o711)


def kill_leftovers(uid: int) -> int:
    """Kill every process still running as the sandbox user ``uid`` (``user`` mode); return how many.

    Never touches processes of other users, and refuses uid 0.

    Example:
        >>> kill_leftovers(61000)  # doctest: +SKIP
        0
    """
    if uid == 0 or uid == os.getuid():
        raise ValueError(f"refusing to kill the processes of uid {uid}: that is not a sandbox user")
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:  # the real uid from status: /proc/PID itself belongs to root once a process changed its uid
            line = next(t for t in (entry / "status").read_text().splitlines() if t.startswith("Uid:"))
            if int(line.split()[1]) == uid:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError, StopIteration):
            continue
    return killed


# ---------------------------------------------------------------------------
# the kernel's side: python -m cnncourse.tools.grading.sandbox start --policy FILE -f CONNECTION [ipykernel args]


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
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=755,size=256m")
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


def _drop_privileges(policy: SandboxPolicy) -> None:
    libc = _libc()
    resource = __import__("resource")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (policy.max_file_bytes, policy.max_file_bytes))
    if policy.uid is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (policy.max_processes, policy.max_processes))
        os.setgroups([])
        os.setresgid(policy.gid, policy.gid, policy.gid)
        os.setresuid(policy.uid, policy.uid, policy.uid)
    elif policy.mode == "namespaces":
        # Root of a user namespace: give up every capability so the mounts cannot be undone.
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        for cap in range(last + 1):
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def _launch(args: list[str]) -> None:
    """Fallback first stage (no ``setpriv``): die with the grader, clean environment, then the chain."""
    policy_file, connection_file, extra = _parse(args)
    policy = SandboxPolicy.load(policy_file)
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # kept across exec (not across setuid)
    chain = _chain(policy, policy_file, connection_file, extra)
    os.execve(chain[0], chain, _kernel_env(policy))


def _start(args: list[str]) -> None:
    """The kernel's process: connection file, mounts, privileges down, then ipykernel in the same process."""
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
    _run_ipykernel(["-f", connection_file, *extra])


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
        raise SystemExit("usage: python -m cnncourse.tools.grading.sandbox kernel --policy FILE -f CONNECTION_FILE [ipykernel args]")
    skip = {args.index("--policy"), args.index("--policy") + 1, args.index("-f"), args.index("-f") + 1}
    return policy, connection, [a for i, a in enumerate(args) if i not in skip]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m cnncourse.tools.grading.sandbox`` (used by the kernel spec, not by people).

    Sub-commands: ``start`` (the kernel's process, see ``write_kernel_spec``),
    ``kernel`` (a first stage for machines without ``setpriv``), ``probe``
    (print the modes this machine allows).

    Example:
        >>> main(["probe"])  # doctest: +SKIP
        full: own user id, no network, only its own files visible (mount, network and PID namespaces)
        ...
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "start":
        _start(rest)
    elif command == "kernel":
        _launch(rest)
    elif command == "probe":
        for mode in available_modes():
            print(describe_mode(mode))
    else:
        raise SystemExit("usage: python -m cnncourse.tools.grading.sandbox {start,kernel,probe} ...")


if __name__ == "__main__":
    main()
