"""The lectures as a static HTML site: ``cnncourse site``.

Scope: one function, ``build``, that turns the course into a folder of HTML
pages that open from disk, without a Jupyter server:

- every lecture ``course/*.ipynb``, executed top to bottom (``nbclient``, the
  ``python3`` kernel of this interpreter, ``CNNCOURSE_BUDGET=smoke`` unless told
  otherwise) and exported with nbconvert's ``lab`` template;
- every student notebook ``release/<assignment>/*.ipynb``, exported as handed
  out (not executed);
- ``index.html``: the course title, a short introduction, the lectures with
  their titles and the student notebooks of each assignment.

The site mirrors the repository (``course/02_lenet.html``,
``release/02_lenet/lenet.html``), so the links between lectures and student
notebooks keep working once ``.ipynb`` becomes ``.html``.

Every page is self-contained: figures are PNG images embedded as ``data:``
URIs, the CSS is inlined, and the page needs no script from the network.
nbconvert's require.js, widget-manager and mermaid scripts are left out;
widgets are replaced by a static snapshot (the controls' values as text and
what their output area showed); matplotlib's JavaScript animations get text
symbols on their buttons instead of the Font Awesome stylesheet from a CDN.
MathJax is still referenced from its CDN: with a network the formulas are
typeset, without one they stay readable as the TeX the lectures wrote.

Nothing is written into ``course/`` or ``release/``: the lectures run in a
temporary copy of both folders, and the site is assembled in a temporary
folder beside the target and moved into place only when every page is
written, so a failed build never leaves a site that looks complete.
"""

from __future__ import annotations

import asyncio
import copy
import html
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

import jinja2
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter
from nbformat.notebooknode import NotebookNode

from cnncourse.settings import BUDGETS  # torch-free: the site starts without loading torch

__all__ = ["build", "Page", "Site", "LectureError", "BUDGETS", "DEFAULT_OUT", "COURSE_TITLE"]

DEFAULT_OUT = "_site"
COURSE_TITLE = "Convolutional neural networks, from arithmetic to transfer learning"
MARKER = ".cnncourse-site"  # written into every site; only a folder holding it is ever replaced

_IGNORED = (".ipynb_checkpoints", "__pycache__", "*.pyc", ".DS_Store")
_SECRET_MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FONT_AWESOME_LINK = re.compile(r"<link\b[^>]*font-awesome[^>]*>", re.I)
_NOTEBOOK_HREF = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|/|#)([^"#?]+)\.ipynb(#[^"]*)?"', re.I)
_TRACEBACK_LINES = 12  # traceback lines quoted in a failure message

# Symbols for the buttons of matplotlib's to_jshtml animations (their Font Awesome icons need a CDN).
_ANIMATION_CSS = """
.anim-buttons .fa { font-style: normal; font-family: system-ui, sans-serif; }
.anim-buttons .fa-minus::before { content: "\\2212"; }
.anim-buttons .fa-plus::before { content: "+"; }
.anim-buttons .fa-fast-backward::before { content: "\\21E4"; }
.anim-buttons .fa-fast-forward::before { content: "\\21E5"; }
.anim-buttons .fa-step-backward::before { content: "\\25C1"; }
.anim-buttons .fa-step-forward::before { content: "\\25B7"; }
.anim-buttons .fa-play::before { content: "\\25B6"; }
.anim-buttons .fa-play.fa-flip-horizontal::before { content: "\\25C0"; }
.anim-buttons .fa-pause::before { content: "\\275A\\275A"; }
"""

_NAV_CSS = """
.cnncourse-nav { padding: 0.5em 1em; border-bottom: 1px solid #dee2e6; font-family: system-ui, sans-serif; }
.cnncourse-nav a { text-decoration: none; }
.cnncourse-note { color: #495057; font-family: system-ui, sans-serif; font-size: 0.9em; margin: 0.2em 0; }
"""

# nbconvert's lab template without the scripts it would fetch from a CDN (MathJax stays, see the module docstring).
_PAGE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<meta name="generator" content="cnncourse site">
<style type="text/css">""" + _NAV_CSS + _ANIMATION_CSS + """</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{%- set site = resources.cnncourse -%}
<nav class="cnncourse-nav"><a href="{{ site.index_href }}">&larr; {{ site.course_title | e }}</a>
{%- if site.note %} &middot; <span class="cnncourse-note">{{ site.note | e }}</span>{% endif -%}
</nav>
{%- endblock body_header -%}
"""

_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #212529;
       max-width: 60em; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { text-align: left; padding: 0.4em 0.6em; border-bottom: 1px solid #dee2e6; vertical-align: top; }
th { border-bottom: 2px solid #adb5bd; }
code { background: #f1f3f5; padding: 0 0.25em; border-radius: 3px; }
footer { margin-top: 2em; color: #6c757d; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Page:
    """One page of the site.

    Attributes:
        kind: ``"lecture"`` or ``"student"``.
        source: the notebook, relative to the course directory (``course/02_lenet.ipynb``).
        href: the page, relative to the site folder (``course/02_lenet.html``).
        title: the text of the notebook's first ``#`` heading (its file name if it has none).
        seconds: how long executing it took (0 for student notebooks, which are not executed).
    """

    kind: str
    source: str
    href: str
    title: str
    seconds: float = 0.0

    @property
    def group(self) -> str:
        """The top folder under ``course/`` or ``release/``: ``course``, or a student notebook's assignment."""
        parts = Path(self.source).parts
        return parts[1] if self.kind == "student" and len(parts) > 2 else parts[0]


@dataclass
class Site:
    """What ``build`` made.

    Attributes:
        folder: the site folder (holds ``index.html``).
        pages: every page, lectures first, each group in file-name order.
        failures: one message per lecture cell that raised (only with ``keep_going``; otherwise the build raises).
        seconds: how long the whole build took.
    """

    folder: Path
    pages: list[Page] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        """The site's ``index.html``."""
        return self.folder / "index.html"


class LectureError(RuntimeError):
    """A lecture could not be executed: a cell raised, timed out, or the kernel died."""


class _Cancelled(Exception):
    """Another lecture failed; this one stops at its next cell."""


def build(out: str | Path = DEFAULT_OUT, *, course_dir: str | Path = ".", budget: str = "smoke",
          timeout: float = 600, jobs: int = 2, keep_going: bool = False, title: str = COURSE_TITLE,
          progress: bool = False) -> Site:
    """Build the static HTML site of the course into ``out``.

    Executes every lecture in ``<course_dir>/course/`` (in a temporary copy of
    ``course/`` and ``release/``, with ``CNNCOURSE_BUDGET=budget``), exports
    it and every student notebook in ``<course_dir>/release/`` to HTML, and
    writes ``index.html``. The pages are assembled in a temporary folder and
    moved to ``out`` only when all of them are written; an earlier site in
    ``out`` is replaced then, and kept if the build fails.

    Args:
        out: the site folder. It must not exist, be empty, or hold an earlier
            site (``build`` never deletes a folder it did not make), and must
            lie outside ``course/``, ``release/`` and ``source/``.
        course_dir: the course root (holds ``course/`` and ``release/``).
        budget: ``"smoke"`` (tiny data, minutes on a CPU) or ``"full"``.
        timeout: seconds one cell may run.
        jobs: lectures executed at the same time (each in its own kernel).
        keep_going: when a lecture cell raises, show the error on its page and
            go on (listed in ``Site.failures``) instead of failing the build.
        title: the course title on the index page.
        progress: print one line per lecture as it finishes.

    Returns:
        A ``Site``: its folder, its pages and, with ``keep_going``, the failures.

    Raises:
        LectureError: a lecture cell raised, timed out or killed its kernel
            (names the notebook, the cell and the error); nothing is written.
        FileNotFoundError: ``course/`` or its lectures are missing.
        ValueError: a bad argument, an ``out`` that is not a site, or a
            student notebook that still holds solutions or hidden tests.

    Example:
        >>> site = build("_site", course_dir=".", budget="smoke", jobs=2)  # doctest: +SKIP
        >>> site.index  # doctest: +SKIP
        PosixPath('_site/index.html')
        >>> [page.title for page in site.pages if page.kind == "lecture"][:1]  # doctest: +SKIP
        ['Lecture 1 — Convolution arithmetic']
    """
    started = monotonic()
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds per cell, got {timeout!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of lectures at a time, 1 or more, got {jobs!r}")
    course = Path(course_dir).resolve()
    lectures = _notebooks(course / "course", what="lectures")
    students = _student_notebooks(course / "release")
    target = _check_out(Path(out), course)

    site = Site(folder=Path(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the site is for reading
    try:
        with tempfile.TemporaryDirectory(prefix="cnncourse-site-") as tmp:
            work = Path(tmp)
            for folder in ("course", "release"):
                if (course / folder).is_dir():
                    shutil.copytree(course / folder, work / folder, ignore=shutil.ignore_patterns(*_IGNORED))
            hrefs = {path.relative_to(course).as_posix() for path in [*lectures, *students]}
            exporter = _exporter()
            for relative, nb, seconds, failures in _execute_all(lectures, course, work, budget=budget,
                                                                timeout=timeout, jobs=jobs, keep_going=keep_going,
                                                                progress=progress):
                site.failures += failures
                note = f"executed with the {budget} budget"
                site.pages.append(_write_page(nb, relative, staging, hrefs, exporter, kind="lecture", note=note,
                                              seconds=seconds, course_title=title))
            for path in students:
                relative = path.relative_to(course).as_posix()
                nb = _read(path)
                site.pages.append(_write_page(nb, relative, staging, hrefs, exporter, kind="student",
                                              note="student version, not executed", course_title=title))
        (staging / "index.html").write_text(_index_page(site.pages, title=title, budget=budget,
                                                        failures=site.failures), encoding="utf-8")
        (staging / MARKER).write_text("made by `cnncourse site`; the whole folder is replaced on the next build\n",
                                      encoding="utf-8")
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    site.seconds = monotonic() - started
    if progress:
        print(f"site written to {site.index} ({len(site.pages)} pages, {site.seconds:.0f} s)", flush=True)
    return site


# ---------------------------------------------------------------------------
# finding and checking the inputs


def _notebooks(folder: Path, *, what: str) -> list[Path]:
    """The notebooks directly in ``folder``, sorted by name; an error if there are none."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: course_dir must be the course root, the folder that holds "
                                f"course/ and release/ (run from the repository root or pass --course-dir)")
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not found:
        raise FileNotFoundError(f"no {what} (*.ipynb) in {folder}")
    return found


def _student_notebooks(release: Path) -> list[Path]:
    """Every notebook under ``release/<assignment>/``, by assignment then name; refuses any with solutions."""
    if not release.is_dir():
        return []
    found = sorted(p for p in release.glob("*/**/*.ipynb")
                   if p.is_file() and not any(part in (".ipynb_checkpoints", "__pycache__") for part in p.parts))
    for path in found:
        text = path.read_text(encoding="utf-8")
        for marker in _SECRET_MARKERS:
            if marker in text:
                raise ValueError(f"{path} contains {marker!r}: release/ must hold the student versions only; "
                                 f"regenerate it with `cnncourse release` before building the site")
    return found


def _check_out(out: Path, course: Path) -> Path:
    """The resolved site folder, after checking that building there can harm nothing."""
    target = out.resolve()
    if target == course or target in course.parents:
        raise ValueError(f"the site folder {out} is the course directory or holds it; choose a folder of its own, "
                         f"e.g. {DEFAULT_OUT}")
    for name in ("course", "release", "source"):
        if target.is_relative_to(course / name):
            raise ValueError(f"the site folder {out} lies inside {name}/, which the build must not change; "
                             f"choose another, e.g. {DEFAULT_OUT}")
    if target.exists() and not target.is_dir():
        raise ValueError(f"the site folder {out} is a file; choose a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise ValueError(f"{out} exists, is not empty and was not made by `cnncourse site`; "
                         f"choose another folder or empty it first (nothing was changed)")
    return target


def _read(path: Path) -> NotebookNode:
    """A notebook file as nbformat 4, with a clear error for a broken file."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several kinds for a broken file
        raise ValueError(f"{path} is not a readable notebook ({type(err).__name__}: {err})") from None


def _title(nb: NotebookNode, fallback: str) -> str:
    """The text of the first ``# `` heading of the notebook's first markdown cell, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            break
    return fallback


# ---------------------------------------------------------------------------
# executing the lectures


def _execute_all(lectures: list[Path], course: Path, work: Path, *, budget: str, timeout: float, jobs: int,
                 keep_going: bool, progress: bool) -> Iterator[tuple[str, NotebookNode, float, list[str]]]:
    """Execute the lectures, ``jobs`` at a time; yields (relative path, notebook, seconds, failures) in order."""
    env = _kernel_environment(budget, jobs=min(jobs, len(lectures)))
    stop = threading.Event()

    def one(path: Path) -> tuple[str, NotebookNode, float, list[str]]:
        relative = path.relative_to(course).as_posix()
        nb = _read(path)
        seconds, failures = _execute(nb, relative, work / relative, env=env, timeout=timeout,
                                     keep_going=keep_going, stop=stop)
        if progress:
            state = f"{len(failures)} failing cell(s)" if failures else "ok"
            print(f"executed {relative} in {seconds:.0f} s: {state}", flush=True)
        return relative, nb, seconds, failures

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cnncourse-site") as pool:
        futures = [pool.submit(one, path) for path in lectures]
        try:
            for future in as_completed(futures):
                future.result()  # the first failure ends the build at once, whichever lecture it is in
        finally:
            stop.set()  # on a failure (or Ctrl-C) the other kernels stop at their next cell
            for future in futures:
                future.cancel()
    for future in futures:
        yield future.result()


def _execute(nb: NotebookNode, relative: str, copy_path: Path, *, env: dict[str, str], timeout: float,
             keep_going: bool, stop: threading.Event) -> tuple[float, list[str]]:
    """Run one notebook in place (cwd: the copy's folder); returns the seconds and, with keep_going, the failures."""
    current = {"index": 0}

    def on_cell_start(cell: NotebookNode, cell_index: int) -> None:
        if stop.is_set():
            raise _Cancelled()
        current["index"] = cell_index

    client = _Client(nb, km=_kernel_manager(), timeout=timeout, allow_errors=keep_going,
                     interrupt_on_timeout=keep_going, record_timing=False,
                     resources={"metadata": {"path": str(copy_path.parent)}}, on_cell_start=on_cell_start)
    started = monotonic()
    try:
        asyncio.run(client.async_execute(env=env, cleanup_kc=True))
    except CellExecutionError as err:
        where = _where(relative, nb, current["index"])
        traceback = _ANSI.sub("", err.traceback).split("------------------\n")[-1]  # after the quoted cell
        tail = "\n".join(traceback.strip().splitlines()[-_TRACEBACK_LINES:])
        raise LectureError(f"{where} raised {err.ename}: {err.evalue}\n{tail}") from None
    except CellTimeoutError:
        raise LectureError(f"{_where(relative, nb, current['index'])} ran longer than {timeout:g} s; "
                           "raise the limit (timeout=, or --timeout S on the command line)") from None
    except DeadKernelError:
        message = f"{_where(relative, nb, current['index'])} killed its kernel (out of memory, or a crash)"
        if not keep_going:
            raise LectureError(message) from None
        return monotonic() - started, [message]
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    for model_id in client.closed_widgets:
        state.pop(model_id, None)  # Jupyter removes a closed widget's view; so does the page
    failures = [f"{_where(relative, nb, index)} raised {output.ename}: {output.evalue}"
                for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
                for output in cell.get("outputs", []) if output.output_type == "error"]
    return monotonic() - started, failures


class _Client(NotebookClient):
    """nbclient's notebook client, also noting the widgets the notebook closed (nbclient keeps their state)."""

    def __init__(self, nb: NotebookNode, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.closed_widgets: set[str] = set()

    def process_message(self, msg: dict[str, Any], cell: NotebookNode, cell_index: int) -> NotebookNode | None:
        """Note a ``comm_close``, then process the message as nbclient does."""
        if msg.get("msg_type") == "comm_close":
            self.closed_widgets.add(msg.get("content", {}).get("comm_id", ""))
        return super().process_message(msg, cell, cell_index)


def _where(relative: str, nb: NotebookNode, index: int) -> str:
    """Names a cell for people: the notebook, its position (from 1) and its first line."""
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    if len(first) > 60:
        first = first[:57] + "..."
    return f"{relative}, cell {index + 1} of {len(nb.cells)} (`{first}`)"


def _kernel_manager() -> AsyncKernelManager:
    """A manager for the ``python3`` kernel of this interpreter, whatever kernelspecs the user has installed."""
    specs = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)


def _kernel_environment(budget: str, *, jobs: int) -> dict[str, str]:
    """The kernels' environment: the budget, this interpreter's bin/ first, the cores shared between the kernels."""
    env = {**os.environ, "CNNCOURSE_BUDGET": budget,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.pop("MPLBACKEND", None)  # a backend set for scripts (Agg) would keep the figures out of the pages
    if jobs > 1:
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, threads)
    return env


# ---------------------------------------------------------------------------
# exporting


def _exporter() -> HTMLExporter:
    """nbconvert's lab HTML exporter with the site's template (see _PAGE_TEMPLATE)."""
    return HTMLExporter(template_name="lab", template_file="cnncourse_site.html.j2", embed_images=True,
                        extra_loaders=[jinja2.DictLoader({"cnncourse_site.html.j2": _PAGE_TEMPLATE})])


def _write_page(nb: NotebookNode, relative: str, staging: Path, hrefs: set[str], exporter: HTMLExporter, *,
                kind: str, note: str, course_title: str, seconds: float = 0.0) -> Page:
    """Export one notebook to ``staging/<relative>.html``; returns its Page."""
    href = Path(relative).with_suffix(".html").as_posix()
    title = _title(nb, fallback=Path(relative).stem)
    nb = copy.deepcopy(nb)
    nb.metadata["title"] = title
    _freeze_widgets(nb)
    _offline_animations(nb)
    depth = href.count("/")
    resources = {"cnncourse": {"index_href": "../" * depth + "index.html", "course_title": course_title,
                               "note": note}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = _NOTEBOOK_HREF.sub(lambda match: _page_link(match, relative, hrefs), body)
    page = staging / href
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body, encoding="utf-8")
    return Page(kind=kind, source=relative, href=href, title=title, seconds=seconds)


def _page_link(match: re.Match, relative: str, hrefs: set[str]) -> str:
    """A link to a notebook that is part of the site, pointed at its page; any other link unchanged."""
    target = os.path.normpath(os.path.join(os.path.dirname(relative), match.group(1) + ".ipynb")).replace(os.sep, "/")
    if target not in hrefs:
        return match.group(0)
    return f'href="{match.group(1)}.html{match.group(2) or ""}"'


def _freeze_widgets(nb: NotebookNode) -> None:
    """Replace each widget output by a static snapshot of the widget as the notebook left it.

    The widget state nbclient stored in the notebook's metadata holds every
    live model: a box becomes a row or column, an HTML or label widget its
    text, a progress bar an HTML ``<progress>``, a control (slider, dropdown,
    button) its description and value, with a note that it is interactive in
    Jupyter; an ``Output`` widget's outputs (the figure drawn for the sliders'
    values) follow the snapshot. A widget missing from the state was closed, and
    is dropped, as Jupyter hides it. The widget metadata is removed afterwards,
    so the page does not load the widget manager from a CDN.
    """
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(_WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            if view.get("model_id") not in state:
                continue
            snapshot = _WidgetSnapshot(state)
            markup, text = snapshot.render(view["model_id"])
            if snapshot.interactive:
                note = "Interactive in Jupyter; shown here as the notebook left it"
                markup = f'<p class="cnncourse-note">{note}:</p>{markup}'
                text = f"({note}) {text}"
            if markup.strip():
                outputs.append(nbformat.from_dict({"output_type": "display_data", "metadata": {},
                                                   "data": {"text/html": markup, "text/plain": text}}))
            outputs += [nbformat.from_dict(item) for item in snapshot.outputs]
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)


class _WidgetSnapshot:
    """Static HTML for one widget tree, from the models in a notebook's widget state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.outputs: list[dict[str, Any]] = []  # what the Output widgets in the tree showed
        self.interactive = False  # the tree holds a control a reader would expect to use
        self._seen: set[str] = set()

    def render(self, model_id: str) -> tuple[str, str]:
        """The widget as (HTML, plain text); its Output widgets' outputs are collected in ``outputs``."""
        if model_id in self._seen or model_id not in self.state:
            return "", ""
        self._seen.add(model_id)
        name = self.state[model_id].get("model_name", "")
        model = self.state[model_id].get("state", {})
        if name == "OutputModel":
            self.outputs += model.get("outputs", [])
            return "", ""
        if "children" in model:
            parts = [self.render(child[len("IPY_MODEL_"):]) for child in model["children"]
                     if isinstance(child, str) and child.startswith("IPY_MODEL_")]
            parts = [part for part in parts if part[0].strip()]
            style = ("display:flex;flex-wrap:wrap;gap:0.5em;align-items:center" if name == "HBoxModel"
                     else "display:flex;flex-direction:column;gap:0.2em")
            return (f'<div style="{style}">' + "".join(markup for markup, _ in parts) + "</div>",
                    " ".join(text for _, text in parts))
        value = model.get("value")
        if name in ("HTMLModel", "HTMLMathModel"):
            text = html.unescape(re.sub(r"<[^>]+>", "", str(value or "")))
            return f"<span>{value or ''}</span>", text
        if name == "LabelModel":
            return f"<span>{html.escape(str(value or ''))}</span>", str(value or "")
        if name in ("FloatProgressModel", "IntProgressModel"):
            low, high = model.get("min", 0) or 0, model.get("max", 100) or 100
            return (f'<progress value="{(value or 0) - low:g}" max="{high - low:g}"></progress>',
                    f"{value or 0:g}/{high:g}")
        label = str(model.get("description") or "")
        if name == "ButtonModel":
            self.interactive = True
            return f"<button disabled>{html.escape(label)}</button>", f"[{label}]"
        if "value" in model:
            self.interactive = True
            text = f"{label} = {value}" if label else str(value)
            return f"<span>{html.escape(label)} <b>{html.escape(str(value))}</b></span>", text
        return "", ""


def _offline_animations(nb: NotebookNode) -> None:
    """Drop the Font Awesome stylesheet matplotlib's HTML animations load from a CDN (the page CSS has symbols)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            if "text/html" in data:
                text = data["text/html"]
                text = "".join(text) if isinstance(text, list) else text
                data["text/html"] = _FONT_AWESOME_LINK.sub("", text)


def _index_page(pages: list[Page], *, title: str, budget: str, failures: list[str]) -> str:
    """The site's index.html: title, introduction, the lectures with their assignments, the student notebooks."""
    lectures = [page for page in pages if page.kind == "lecture"]
    by_assignment: dict[str, list[Page]] = {}
    for page in pages:
        if page.kind == "student":
            by_assignment.setdefault(page.group, []).append(page)

    def link(page: Page) -> str:
        return f'<a href="{html.escape(page.href)}">{html.escape(page.title)}</a>'

    def number(name: str) -> str:
        return name.split("_", 1)[0] if name[:1].isdigit() else ""

    rows = []
    for page in lectures:
        key = number(Path(page.source).stem)
        assignments = [name for name in by_assignment if key and number(name) == key]
        work = "<br>".join(link(student) for name in assignments for student in by_assignment[name])
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{link(page)}</td><td>{work or '&ndash;'}</td></tr>")
    groups = "\n".join(
        f"<li><code>{html.escape(name)}</code>: " + ", ".join(link(page) for page in group) + "</li>"
        for name, group in by_assignment.items())
    problems = ""
    if failures:
        problems = ("<h2>Problems</h2>\n<p>These lecture cells raised while the site was built; "
                    "their pages show the error.</p>\n<ul>\n"
                    + "\n".join(f"<li>{html.escape(message)}</li>" for message in failures) + "\n</ul>\n")
    budget_words = ("the <code>smoke</code> budget on a CPU: tiny data and one or two epochs, so numbers and curves "
                    "show how each method behaves, not the results of the papers (run a lecture with "
                    "<code>CNNCOURSE_BUDGET=full</code> on a GPU for those)"
                    if budget == "smoke" else "the <code>full</code> budget")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="cnncourse site">
<title>{html.escape(title)}</title>
<style type="text/css">{_INDEX_CSS}</style>
</head>
<body>
<main>
<h1>{html.escape(title)}</h1>
<p>A course on convolutional networks in Jupyter notebooks, from the arithmetic of a single convolution to
transfer learning. Each lecture comes with a graded assignment. The lecture pages were executed with
{budget_words}. The student notebooks are shown as they are handed out, not executed.</p>
{problems}<h2>Lectures</h2>
<table>
<thead><tr><th>#</th><th>Lecture</th><th>Assignment (student notebook)</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<h2>Student notebooks</h2>
<ul>
{groups}
</ul>
<footer>Built by <code>cnncourse site</code> from the notebooks in <code>course/</code> and
<code>release/</code>.</footer>
</main>
</body>
</html>
"""


def _umask() -> int:
    """The process's file-mode creation mask (read by setting it, then put back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _move_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` (absent, empty, or an earlier site) by the finished ``staging`` folder."""
    if not target.exists():
        staging.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)
