"""Every shell command README.md shows, run as printed in a temporary copy of the repository.

The commands are the lines of the README's ```bash, ```sh and ```console blocks
(a ``# or: COMMAND`` comment adds COMMAND). Each is run in its own ``bash``, in a
copy of the working tree (``git clone`` plus the uncommitted changes) whose
``.venv`` is a link to this checkout's, with the README's own activation line
first when the README shows it before the command, and ``PATH`` otherwise
without ``.venv/bin`` (a fresh terminal). The test ids say how each was
checked:

- ``run``: run for real, as printed, in the copy; the instructor's commands on a
  fake cohort (one untouched submission by ``alice`` in ``submitted/``), the
  student's ``cnncourse check`` in a home folder holding the notebook.
- ``dry``: inherently long (``make course``/``test``/``site``, ``python -m
  bench``, ``cnncourse site``): checked for resolution only, ``make -n`` or
  ``--help``.
- ``skip``: marked in the README ``# needs: root``, ``hub`` or ``network``,
  skipped with that reason.

A command shown twice runs once. At the end the copy's ``git status`` must be what it was: no committed file
deleted or changed (``release/`` above all), nothing new that git would pick up.
Commands that start nbgrader or run a notebook are marked slow; the commands run
concurrently after the ones that write the course, to stay near two minutes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV = REPO / ".venv"
ACTIVATE = "source .venv/bin/activate"
ASSIGNMENT = "01_conv_arithmetic"  # the assignment the README's instructor commands name
SHELLS = ("bash", "sh", "console")
NEEDS = {"root": "needs root (it writes system folders such as /srv, or grades in the full sandbox)",
         "hub": "needs a hub: nbgrader's exchange and the system-wide config (tests/test_hub.py runs the round trip)",
         "network": "needs the network: tests never download"}
TIMEOUT = 300  # seconds per command


@dataclass(frozen=True)
class Shown:
    """One command as the README shows it."""

    line: int  # in README.md
    text: str  # as printed, comment included
    needs: tuple[str, ...]  # from a trailing `# needs: a, b` comment
    activated: bool  # shown after the README's activation line


def shown_commands(text: str) -> list[Shown]:
    """The commands of the shell blocks of a README text, in order."""
    shown, fence, activated = [], None, False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence not in SHELLS or not line or line.startswith("#"):
            continue
        if fence == "console":
            if not line.startswith("$ "):
                continue  # a console block's output
            line = line[2:]
        comment = line.split(" #", 1)[1] if " #" in line else ""
        found = re.search(r"needs: ([a-z]+(?:, *[a-z]+)*)", comment)
        needs = tuple(word.strip() for word in found.group(1).split(",")) if found else ()
        shown.append(Shown(number, line, needs, activated))
        alternative = re.search(r"#\s*or:\s*(.+)$", line)
        if alternative:
            shown.append(Shown(number, alternative.group(1).strip(), needs, activated))
        activated = activated or line == ACTIVATE
    return shown


COMMANDS = shown_commands(README.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Plan:
    """How one shown command is checked."""

    mode: str  # "run", "dry" or "skip"
    script: str  # what bash runs (after the activation, when shown after it)
    where: str  # "course" (the copy's root) or "home" (a student's folder holding the notebook)
    status: int  # the exit status expected
    says: str  # text the output must hold ("" for none)
    why: str  # for "dry" and "skip"
    writes: bool  # writes the course: runs before the others


_DRY = [  # inherently long: (pattern, how it is checked instead)
    (r"^make (?:course|test|site)\b", lambda cmd: "make -n " + cmd[len("make "):]),
    (r"^python -m bench(?:\s|$)", lambda cmd: "python -m bench --help"),
    (r"^cnncourse site(?:\s|$)", lambda cmd: "cnncourse site --help"),
]


def plan(shown: Shown) -> Plan:
    command = shown.text.split(" #", 1)[0].strip()
    if shown.needs:
        return Plan("skip", "", "course", 0, "", "; ".join(NEEDS.get(n, f"needs {n}") for n in shown.needs), False)
    for pattern, dry in _DRY:
        if re.search(pattern, command):
            return Plan("dry", dry(command), "course", 0, "", "takes minutes: checked with make -n / --help", False)
    if command == ACTIVATE:  # the activation itself: the course's programs must then come from .venv/bin
        return Plan("run", f"{shown.text}\ncommand -v cnncourse nbgrader jupyter python", "course", 0,
                    "/.venv/bin/cnncourse", "", False)
    if command.startswith("cnncourse check conv_arithmetic.ipynb"):  # a student's untouched notebook, in their home
        return Plan("run", shown.text, "home", 1, "your answer is not right yet", "", False)
    if command.startswith("cnncourse check submitted/") and "--no-run" not in command:  # runs alice's untouched notebook
        return Plan("run", shown.text, "course", 1, "your answer is not right yet", "", False)
    if command.startswith("cnncourse grade"):
        return Plan("run", shown.text, "course", 0, "alice", "", False)
    if command.startswith("nbgrader generate_assignment"):
        return Plan("run", shown.text, "course", 0, "", "", True)
    return Plan("run", shown.text, "course", 0, "", "", False)


def _slow(shown: Shown) -> bool:
    p = plan(shown)
    return p.mode == "run" and (shown.text.startswith(("nbgrader", "cnncourse grade"))
                                or (shown.text.startswith("cnncourse check") and "--no-run" not in shown.text))


def _id(shown: Shown) -> str:
    words = re.sub(r"[^\w./-]+", "_", shown.text.split(" #", 1)[0].strip())[:48]
    return f"L{shown.line}-{plan(shown).mode}-{words}"


PARAMS = [pytest.param(s, id=_id(s), marks=[pytest.mark.slow] if _slow(s) else []) for s in COMMANDS]


# --- the copy of the repository and the runs ---------------------------------------------------


@dataclass
class Course:
    root: Path
    home: Path
    env: dict[str, str]
    status_before: str
    results: dict[Shown, subprocess.CompletedProcess | str]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def _copy_of_the_working_tree(target: Path) -> Path:
    """`git clone` of this checkout, with its uncommitted changes on top; .venv linked, not installed."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, capture_output=True)
    for name in _git(REPO, "ls-files", "--modified", "--others", "--exclude-standard", "-z").split("\0"):
        if name and (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    for name in _git(REPO, "ls-files", "--deleted", "-z").split("\0"):
        if name:
            (target / name).unlink(missing_ok=True)
    (target / ".venv").symlink_to(VENV)
    with open(target / ".git" / "info" / "exclude", "a", encoding="utf-8") as exclude:
        exclude.write("/.venv\n")  # .gitignore's `.venv/` matches the folder, not this link
    return target


def _environment(home: Path) -> dict[str, str]:
    """A fresh terminal's: no activated environment, a home of its own, the smoke budget."""
    venv_bins = {str(VENV / "bin"), str(Path(sys.executable).parent)}
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and p not in venv_bins]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CNNCOURSE_DATA")}
    return {**env, "PATH": os.pathsep.join(path), "HOME": str(home), "CNNCOURSE_BUDGET": "smoke"}


def _run(course: Course, shown: Shown) -> subprocess.CompletedProcess | str:
    p = plan(shown)
    script = (f"{ACTIVATE}\n" if shown.activated and shown.text != ACTIVATE else "")  # in the root, as the README says
    script += f"cd {shlex.quote(str(course.home))}\n" if p.where == "home" else ""  # then to the student's folder
    script += p.script
    try:
        done = subprocess.run(["bash", "-c", script], cwd=course.root, env=course.env, capture_output=True, text=True,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"ran past {TIMEOUT} s"
    return done


@pytest.fixture(scope="module")
def course(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Course:
    """The copy, a fake cohort in it, and every selected command's result (writers first, then the rest at once)."""
    if not (VENV / "bin" / "cnncourse").exists():
        pytest.skip(f"no environment at {VENV} (make install) to link into the copy")
    if shutil.which("git") is None or subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True).returncode:
        pytest.skip(f"{REPO} is not a git checkout (or git is missing): nothing to clone")
    base = tmp_path_factory.mktemp("readme")
    root = _copy_of_the_working_tree(base / "cnncourse")
    home = base / "home"
    notebooks = sorted((root / "release" / ASSIGNMENT).glob("*.ipynb"))
    for folder in (root / "submitted" / "alice" / ASSIGNMENT, home):  # one untouched submission; a student's copy
        folder.mkdir(parents=True)
        for notebook in notebooks:
            shutil.copy2(notebook, folder / notebook.name)
    status_before = _git(root, "status", "--porcelain", "--untracked-files=all")
    course = Course(root, home, _environment(home), status_before, {})
    selected = [item.callspec.params["shown"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_readme_command"]
    wanted = [s for s in dict.fromkeys(selected) if plan(s).mode != "skip"]
    once = {_key(s): s for s in reversed(wanted)}  # a command shown twice (generate_assignment) runs once
    writers = [s for s in once.values() if plan(s).writes]
    readers = [s for s in once.values() if not plan(s).writes]
    results = {_key(s): _run(course, s) for s in writers}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results.update(zip(map(_key, readers), pool.map(lambda s: _run(course, s), readers)))
    course.results = {s: results[_key(s)] for s in wanted}
    return course


def _key(shown: Shown) -> tuple[str, bool, str]:
    p = plan(shown)
    return p.script.split(" #", 1)[0].strip(), shown.activated, p.where


# --- the tests ------------------------------------------------------------------------------------


def test_the_readme_shows_commands_each_checked_one_way() -> None:
    assert len(COMMANDS) >= 10, f"expected the README's shell commands, found {len(COMMANDS)}: {COMMANDS}"
    assert any(s.text == ACTIVATE for s in COMMANDS), f"the README must show `{ACTIVATE}` once, in a shell block"
    unknown = [f"line {s.line}: {n}" for s in COMMANDS for n in s.needs if n not in NEEDS]
    assert not unknown, f"unknown `# needs:` markers (known: {', '.join(NEEDS)}): {unknown}"
    with_sudo = [f"line {s.line}: {s.text}" for s in COMMANDS if re.match(r"sudo\b", s.text)]
    assert not with_sudo, f"mark commands `# needs: root` instead of printing sudo (a root container has none): {with_sudo}"
    by_path = [f"line {s.line}: {s.text}" for s in COMMANDS if s.activated and ".venv/bin/" in s.text]
    assert not by_path, f"after the activation line the README names the programs bare, not by path: {by_path}"
    modes = {plan(s).mode for s in COMMANDS}
    assert modes <= {"run", "dry", "skip"} and "run" in modes, modes


def test_commands_are_read_from_every_kind_of_shell_block() -> None:
    text = ("```bash\nmake course\n# a comment\n```\n```python\nprint(1)\n```\n"
            "   ```sh\n   nbgrader collect x   # needs: hub; -> somewhere\n   ```\n"
            "```console\n$ source .venv/bin/activate\noutput line\n```\n```bash\nmake site   # or: cnncourse site\n```\n")
    shown = shown_commands(text)
    assert [(s.text.split(" #")[0].strip(), s.needs, s.activated) for s in shown] == [
        ("make course", (), False), ("nbgrader collect x", ("hub",), False), (ACTIVATE, (), False),
        ("make site", (), True), ("cnncourse site", (), True)], shown


@pytest.mark.parametrize("shown", PARAMS)
def test_readme_command(shown: Shown, course: Course) -> None:
    p = plan(shown)
    if p.mode == "skip":
        pytest.skip(f"README.md line {shown.line}: {p.why}")
    done = course.results[shown]
    assert not isinstance(done, str), f"README.md line {shown.line} `{shown.text}` {done}"
    out = done.stdout + done.stderr
    where = f"README.md line {shown.line}, `{shown.text}` ({'as ' + p.script if p.mode == 'dry' else 'as printed'})"
    assert done.returncode == p.status, f"{where}: exit status {done.returncode}, expected {p.status}:\n{out[-3000:]}"
    assert "Traceback" not in out, f"{where}: a traceback instead of a message:\n{out[-3000:]}"
    assert p.says in out, f"{where}: expected {p.says!r} in its output:\n{out[-3000:]}"
    if shown.text.startswith("cnncourse grade") and "--export" in shown.text:
        csv = shown.text.split("--export", 1)[1].split()[0]
        assert "alice" in (course.root / csv).read_text(encoding="utf-8"), f"{where}: {csv} should hold alice's grade"


def test_the_commands_leave_the_copy_as_it_was(course: Course) -> None:
    after = _git(course.root, "status", "--porcelain", "--untracked-files=all")
    assert after == course.status_before, (
        "the README's commands changed what git sees in the copy (release/ deleted? grading state not ignored?):\n"
        f"before:\n{course.status_before}\nafter:\n{after}")
