"""Helpers for tests/test_browser.py: the course in a real JupyterLab, driven through Chromium.

Scope: finding the tools (Debian's Chromium, Playwright for Python, ``make``),
starting JupyterLab through the README's own command (``make course``) on a
copy of the course in a temporary folder, stopping it with everything it
started, and a few page actions shared by the tests (open a notebook, wait for
the kernel, pick a menu item). Playwright is imported only where a page is
used, so that this module imports when Playwright is missing and the browser
tests can skip with a message instead.

Nothing here downloads a browser: Playwright drives the system Chromium through
``executable_path`` (never ``playwright install``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ENV = "CNNCOURSE_CHROMIUM"  # a Chromium binary other than Debian's /usr/bin/chromium
SCREENSHOTS_ENV = "CNNCOURSE_SCREENSHOTS"  # where the screenshots go; default build/screenshots
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
# Headless on a machine without GPU or network: without these flags Chromium stalls or floods the log.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# What the served copy holds: the lectures, both versions of the assignments and nbgrader's configuration.
COURSE_CONTENT = ("course", "release", "source", "nbgrader_config.py")
# JupyterLab user settings for the test server (its own settings folder, so a personal one never applies):
# no news pop-up over the page, and every cell attached to the page, so that what a reader would see by
# scrolling is in the DOM (the default, "contentVisibility", leaves off-screen outputs unrendered).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
SERVER_START_S = 120  # JupyterLab answering its REST API
KERNEL_START_S = 120  # a notebook's kernel reaching "Idle"
STOP_S = 20  # JupyterLab shutting its kernels down after SIGTERM
LOG_LINES = 40  # server log lines quoted when the server fails


# ---------------------------------------------------------------------------
# tools


def chromium_path() -> Path | None:
    """The Chromium binary to drive: $CNNCOURSE_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return Path(override) if Path(override).is_file() else None
    found = shutil.which("chromium")
    if found:
        return Path(found)
    return DEFAULT_CHROMIUM if DEFAULT_CHROMIUM.is_file() else None


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, in words with the fix; None when everything is present."""
    if chromium_path() is None:
        where = f"${CHROMIUM_ENV}={os.environ[CHROMIUM_ENV]!r} is not a file" if os.environ.get(CHROMIUM_ENV) else (
            f"no `chromium` on PATH and no {DEFAULT_CHROMIUM}")
        return (f"no Chromium to drive ({where}): install Debian's package with `apt-get install chromium` "
                f"(as root; .ci/run does this), or set {CHROMIUM_ENV} to a Chromium binary. "
                "Do not run `playwright install`: these tests never download a browser")
    if importlib.util.find_spec("playwright") is None:
        return (f"Playwright for Python is not installed in {sys.prefix}: `{sys.executable} -m pip install playwright` "
                "(`make install` does it, it is a course dependency). It drives the system Chromium: "
                "do not run `playwright install`")
    if shutil.which("make") is None:
        return "`make` is not on PATH: the browser tests start JupyterLab with the README's `make course`"
    if not (Path(sys.executable).parent / "jupyter").exists():
        return (f"there is no `jupyter` beside {sys.executable}: run the tests with the course's interpreter "
                "(`make test`, or .venv/bin/python -m pytest)")
    return None


def screenshot_dir() -> Path:
    """The folder for the screenshots ($CNNCOURSE_SCREENSHOTS, default build/screenshots, git-ignored), created."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or REPO / "build" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------
# the JupyterLab server


@dataclass
class Lab:
    """A running JupyterLab: the folder it serves, its address and token, the `make` process that runs it."""

    root: Path
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def page_url(self, path: str, workspace: str) -> str:
        """The address that opens ``path`` (relative to the root) in a fresh workspace of its own."""
        return f"{self.url}/lab/workspaces/{workspace}/tree/{path}?token={self.token}&reset"

    def copy(self, relative: str, folder: str) -> str:
        """Copy the repository's file ``relative`` into ``folder/`` of the served root; return its served path.

        A test that edits or runs a notebook works on a copy of its own, so
        that no other test sees its changes (JupyterLab autosaves).
        """
        source = REPO / relative
        if not source.is_file():
            raise FileNotFoundError(f"{source} does not exist: the browser tests need the repository's {relative}")
        target = self.root / folder / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return target.relative_to(self.root).as_posix()

    def log_tail(self) -> str:
        """The last lines of the server's output."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-LOG_LINES:])


def copy_course(root: Path) -> Path:
    """Copy the course's notebooks and nbgrader_config.py into ``root`` (the folder the test server serves)."""
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for name in COURSE_CONTENT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, root / name)
        else:
            raise FileNotFoundError(f"{source} does not exist: the browser tests serve a copy of "
                                    f"{', '.join(COURSE_CONTENT)}")
    return root


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lab_environment(home: Path) -> dict[str, str]:
    """The server's environment: smoke budget for its kernels, Jupyter's per-user folders under ``home``.

    The personal Jupyter configuration, settings and workspaces stay out of the
    test (and untouched by it); the environment's own configuration, which
    enables nbgrader's server extensions, is still read.
    """
    folders = {name: home / name for name in ("config", "data", "runtime", "ipython")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    settings = folders["config"] / "lab" / "user-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update({
        "CNNCOURSE_BUDGET": "smoke",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "JUPYTER_CONFIG_DIR": str(folders["config"]),
        "JUPYTER_DATA_DIR": str(folders["data"]),
        "JUPYTER_RUNTIME_DIR": str(folders["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(folders["config"] / "lab" / "workspaces"),
        "IPYTHONDIR": str(folders["ipython"]),
    })
    return env


def start_lab(root: Path, home: Path) -> Lab:
    """Start ``make course`` serving ``root`` on a free port with a token; return once the server answers.

    The command is the README's, with the Makefile's own variables set: the
    interpreter's ``bin/`` (BIN), the folder served and worked in
    (COURSE_DIR: nbgrader's Validate reads ``nbgrader_config.py`` there), and
    the address, token and no browser (LAB_OPTIONS). ``-o .venv/.installed``
    keeps make from reinstalling the environment. The server runs in a process
    group of its own, so ``stop_lab`` ends it with everything it started.

    Raises:
        RuntimeError: the server exited, or did not answer within SERVER_START_S seconds (with its log).
    """
    port, token = free_port(), secrets.token_hex(16)
    options = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
               f"--IdentityProvider.token={token}")
    command = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", "course",
               f"BIN={Path(sys.executable).parent}", f"COURSE_DIR={root}", f"LAB_OPTIONS={options}"]
    log = home / "jupyterlab.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=lab_environment(home), start_new_session=True)
    lab = Lab(root=root, url=f"http://127.0.0.1:{port}", token=token, process=process, log=log)
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`{' '.join(command)}` exited with status {process.returncode} before JupyterLab "
                               f"answered; its output ends with:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=5) as reply:
                if reply.status == 200:
                    return lab
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    stop_lab(lab)
    raise RuntimeError(f"JupyterLab did not answer on {lab.url} within {SERVER_START_S} s of `make course`; "
                       f"its output ends with:\n{lab.log_tail()}")


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` is still running (zombies, which nobody may reap here, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: ask the kernel, which counts zombies too
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (name) ": state, ppid, pgrp, ...
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def stop_lab(lab: Lab) -> None:
    """End the server's process group: SIGTERM (JupyterLab shuts its kernels down), then SIGKILL after STOP_S."""
    group = lab.process.pid  # start_new_session: make leads a group of its own
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_S
        while time.monotonic() < deadline and _group_alive(group):
            if lab.process.poll() is None:
                try:
                    lab.process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(0.2)
        if not _group_alive(group):
            break
    if lab.process.poll() is None:
        lab.process.wait(timeout=STOP_S)


# ---------------------------------------------------------------------------
# notebooks, as files and as pages


def notebook_cells(relative: str) -> list[dict]:
    """The cells of the repository's notebook ``relative``, each with its ``source`` joined into one string."""
    cells = json.loads((REPO / relative).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return cells


def first_graded_test(cells: list[dict]) -> int:
    """The index of the first autograded test cell (nbgrader ``grade: true`` on a code cell)."""
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            return index
    raise LookupError("the notebook has no autograded test cell (a code cell with nbgrader grade: true)")


def cell_with(cells: list[dict], text: str) -> int:
    """The index of the first code cell whose source contains ``text``."""
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code" and text in cell["source"]:
            return index
    raise LookupError(f"no code cell contains {text!r}")


def kernel_status(page: Page) -> Locator:
    """The status bar's kernel item, e.g. "Python 3 (ipykernel) | Idle"."""
    return page.locator('.jp-StatusBar-TextItem[title^="Change kernel"]')


def wait_for_idle_kernel(page: Page, what: str, timeout_s: float = KERNEL_START_S) -> None:
    """Wait until the notebook's kernel reports Idle; fail saying what was awaited and what the status bar showed."""
    from playwright.sync_api import expect

    try:
        expect(kernel_status(page)).to_have_text(re.compile(r"\|\s*Idle$"), timeout=timeout_s * 1000)
    except AssertionError:
        shown = kernel_status(page).all_inner_texts()
        raise AssertionError(f"{what}: the kernel should report Idle within {timeout_s:.0f} s, "
                             f"the status bar shows {shown or 'no kernel status'}") from None


def open_notebook(page: Page, lab: Lab, path: str, workspace: str, expected_cells: int) -> Locator:
    """Open ``path`` in a fresh workspace, wait for its cells and an idle kernel; return the cells' locator."""
    from playwright.sync_api import expect

    page.goto(lab.page_url(path, workspace))
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    try:
        expect(cells).to_have_count(expected_cells, timeout=KERNEL_START_S * 1000)
    except AssertionError:
        raise AssertionError(f"opening {path} in JupyterLab should show its {expected_cells} cells, "
                             f"the page shows {cells.count()}; server log:\n{lab.log_tail()}") from None
    wait_for_idle_kernel(page, f"opening {path}")
    return cells


def choose_menu_item(page: Page, menu: str, item: str) -> None:
    """Pick ``menu`` > ``item`` from JupyterLab's menu bar, as a user would."""
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def prompt(cell: Locator) -> str:
    """A cell's input prompt as shown ("[3]:", "[ ]:", "[*]:"; "" for a markdown cell)."""
    return cell.locator(".jp-InputArea-prompt").first.inner_text().strip()
