"""Run a grading kernel where a submission reaches only its own files.

Scope: the operating-system side of grading untrusted notebooks. ``cnncourse
grade`` writes one ``SandboxPolicy`` per submission and a Jupyter kernel spec
whose command ends in ``python -m cnncourse.tools.grading.kernel start ...`` (the kernel's
side, ``cnncourse.tools.grading.kernel``); nbgrader's
autograde then starts every kernel through it. Four modes, strongest first:

- ``full`` (the grader runs as root): new mount, network, PID and IPC
  namespaces (util-linux ``unshare``), then a separate unprivileged user id
  per worker, from a block of ids held by this grading run alone
  (``cnncourse.tools.grading.uids``). What the kernel sees is an allowlist:
  of the top-level folders only ``SYSTEM_VISIBLE`` (``/usr``, ``/etc``,
  ``/dev``, ``/proc``, ``/sys`` and the ``lib``/``bin`` links; ``/usr`` and
  ``/etc`` read-only) stay; every other one (``/home``, ``/root``, ``/tmp``,
  ``/run``, ``/var``, ``/opt``, ``/srv``, the folder the course lives in...)
  and ``/dev/shm``, ``/dev/mqueue`` are replaced by empty file systems of its
  own; only the submission's working folder (read-write), the Python
  installation, the ``cnncourse`` package and the data root (read-only) are
  put back. No network: a network namespace of its own (loopback only, down);
  the kernel talks to nbgrader over Unix sockets. Its processes, IPC objects
  and temporary files live in its namespaces and die with them.
- ``namespaces`` (no root, unprivileged user namespaces allowed): the same
  namespaces inside a user namespace; the kernel keeps the grader's user id
  but has no capabilities left, so it cannot undo the mounts.
- ``user`` (root, namespaces refused): a separate user id only. File
  permissions protect the grading folders; the network stays open and the
  course directory must not be readable by others. After each submission
  the grader kills the user's processes and removes its System V IPC objects
  and its files in world-writable folders (``uids.clean_up_uid``).
- ``off``: no isolation at all; the submission runs with the grader's rights.

``available_modes()`` probes what this machine allows; ``choose_mode("auto")``
takes the strongest. Every mode also sets the same resource limits
(processes, open files, file size, no core dumps), gives the kernel a minimal
environment and kills it with its parent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import cnncourse
from cnncourse.settings import RETRAIN_VARIABLE, data_environment
from cnncourse.tools.grading.uids import kill_leftovers  # noqa: F401  (kept importable from here)

MODES = ("full", "namespaces", "user", "off")
# The launcher keeps the current folder (a submitted shutil.py...) off sys.path: -P from Python 3.11, else -I.
SAFE_PATH = "-P" if sys.version_info >= (3, 11) else "-I"
DEFAULT_UID_BASE = 61000  # sandbox user ids: DEFAULT_UID_BASE + worker slot (no /etc/passwd entry needed)
KERNEL_ENV_KEEP = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "CNNCOURSE_BUDGET", "CNNCOURSE_DEVICE", RETRAIN_VARIABLE,
                   "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NBGRADER_EXECUTION", "LD_LIBRARY_PATH",
                   "CUDA_HOME")
# The view of namespaced kernels is an allowlist: of the top-level folders only these stay (read-only where they are
# real folders); every other one, and /dev/shm and /dev/mqueue, is replaced by an empty file system of its own.
SYSTEM_VISIBLE = ("bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "sys", "usr")
_PRIVATE = ("/dev/shm", "/dev/mqueue")


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
        max_open_files: RLIMIT_NOFILE (the three limits are set in every mode, ``off`` included).
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
    max_open_files: int = 4096

    def save(self, path: str | Path) -> Path:
        """Write the policy as JSON (readable by the grader only) and return the path.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     path = SandboxPolicy("off", "/tmp/run", "/tmp/home").save(Path(folder) / "policy.json")
            ...     oct(path.stat().st_mode & 0o777), SandboxPolicy.load(path).mode
            ('0o600', 'off')
        """
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True), encoding="utf-8")
        path.chmod(0o600)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SandboxPolicy":
        """Read a policy written by ``save`` (example there); FileNotFoundError with a hint if there is none."""
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
        namespaces = ["--mount", "--net", "--pid", "--ipc", "--fork", "--kill-child", "--mount-proc", "true"]
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


def own_user_ids(mode: str) -> bool:
    """Whether kernels of this mode run as sandbox user ids of their own (``full`` and ``user``).

    Example:
        >>> own_user_ids("full"), own_user_ids("namespaces")
        (True, False)
    """
    return mode in ("full", "user")


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

    Hidden: every top-level folder not in ``SYSTEM_VISIBLE``, ``/dev/shm``,
    ``/dev/mqueue`` and the given ``hide`` folders (the course directory, the
    grading folder). Kept read-only: ``/usr``, ``/etc``, the Python
    installation, every site-packages folder on ``sys.path``, the
    ``cnncourse`` package, the data folders (named in its environment) and ``expose_ro``.

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
    uid = uid_base + slot if own_user_ids(mode) else None
    hidden = [str(Path(p).resolve()) for p in hide]
    hidden += [p for p in (*_PRIVATE, str(Path.home()), tempfile.gettempdir()) if Path(p).is_dir()]
    hidden += [str(p) for p in Path("/").iterdir() if p.name not in SYSTEM_VISIBLE and not p.is_symlink()]
    hidden = sorted({p for p in hidden if p != "/"})
    keep = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent)}
    keep.update(f"/{name}" for name in ("etc", "usr") if Path(f"/{name}").is_dir())  # read-only, even for the grader
    keep.add(str(Path(cnncourse.__file__).resolve().parent))  # the cnncourse package (editable installs live elsewhere)
    for entry in sys.path:  # installed packages only: never the current folder or a test folder
        path = Path(entry).resolve() if entry else None
        if path and path.is_dir() and any(part in ("site-packages", "dist-packages") for part in path.parts):
            keep.add(str(path))
    data = data_environment()  # the kernel's HOME is its own: CNNCOURSE_DATA and friends say where the data sets are
    extra = [*os.pathsep.join(data.values()).split(os.pathsep), *expose_ro,
             *os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)]  # the data folders; CUDA and friends, where set
    keep.update(str(Path(p).resolve()) for p in extra if p and Path(p).exists())
    kernel_env = {**{key: os.environ[key] for key in KERNEL_ENV_KEEP if key in os.environ}, **data}
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
    cnncourse.tools.grading.kernel start ...``: one Python process, started with only the
    policy's environment, killed if its grader dies.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     policy = make_policy("off", run_dir=f"{folder}/run", home=f"{folder}/home").save(f"{folder}/policy.json")
        ...     spec = json.loads(write_kernel_spec(f"{folder}/share", policy).read_text())
        >>> "cnncourse.tools.grading.kernel" in spec["argv"], spec["argv"][-2:]
        (True, ['-f', '{connection_file}'])
    """
    policy_file = Path(policy_file).resolve()
    policy = SandboxPolicy.load(policy_file)
    setpriv, env = shutil.which("setpriv"), shutil.which("env")
    if setpriv and env:
        variables = [f"{key}={value}" for key, value in kernel_environment(policy).items()]
        argv = [setpriv, "--pdeathsig", "KILL", "--", env, "-i", *variables,
                *kernel_command(policy, str(policy_file), "{connection_file}", [])]
    else:  # a Python stage sets the parent-death signal and the environment instead
        argv = [sys.executable, "-m", "cnncourse.tools.grading.kernel", "launch", "--policy", str(policy_file),
                "-f", "{connection_file}"]
    spec_dir = Path(folder) / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "Python 3 (cnncourse grading sandbox)", "language": "python",
            "interrupt_mode": "signal", "metadata": {"debugger": False}}
    path = spec_dir / "kernel.json"
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path


def kernel_environment(policy: SandboxPolicy) -> dict[str, str]:
    """The kernel's whole environment: the policy's variables and ``CNNCOURSE_SANDBOX`` (its mode).

    Example:
        >>> kernel_environment(make_policy("off", run_dir="/tmp/r", home="/tmp/h"))["CNNCOURSE_SANDBOX"]
        'off'
    """
    return {**policy.env, "CNNCOURSE_SANDBOX": policy.mode}


def kernel_command(policy: SandboxPolicy, policy_file: str, connection_file: str, extra: Sequence[str]) -> list[str]:
    """The command that enters the namespaces (if any) and starts the kernel's process (``kernel start``).

    Example:
        >>> kernel_command(make_policy("off", run_dir="/tmp/r", home="/tmp/h"), "p.json", "c.json", [])[2:5]
        ['-m', 'cnncourse.tools.grading.kernel', 'start']
    """
    start = [sys.executable, SAFE_PATH, "-m", "cnncourse.tools.grading.kernel", "start", "--policy", policy_file, "-f", connection_file, *extra]
    if policy.mode not in ("full", "namespaces"):
        return start
    user = ["--user", "--map-root-user"] if policy.mode == "namespaces" else []
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, *user, "--mount", "--net", "--pid", "--ipc", "--fork", "--kill-child", "--mount-proc", "--",
            *start]


def prepare_folders(policy: SandboxPolicy, *, traverse: Sequence[str | Path] = ()) -> None:
    """Create the policy's folders and hand them to the sandbox user; make ``traverse`` folders searchable.

    In ``user`` mode file permissions are the only wall: the run and home
    folders belong to the sandbox user (mode 700), and each folder in
    ``traverse`` (the parents of the kernel's working folder) gets mode 711,
    so the kernel can pass through but not list them.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     prepare_folders(make_policy("off", run_dir=f"{folder}/run", home=f"{folder}/home"))
        ...     oct(Path(folder, "home").stat().st_mode & 0o777)
        '0o700'
    """
    for folder in (policy.run_dir, policy.home):
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder).chmod(0o700)
        if policy.uid is not None:
            os.chown(folder, policy.uid, policy.gid)
    if policy.uid is not None:
        for folder in traverse:
            Path(folder).chmod(0o711)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m cnncourse.tools.grading.sandbox probe``: print the modes this machine allows (kernels: ``kernel``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["probe"]:
        raise SystemExit("usage: python -m cnncourse.tools.grading.sandbox probe")
    for mode in available_modes():
        print(describe_mode(mode))


if __name__ == "__main__":
    main()
