"""The lectures as a static HTML site: ``cnncourse site``.

Scope: one function, ``build``, that turns the course into a folder of HTML
pages that open from disk, without a Jupyter server. This module is the
orchestration (checking the inputs, the temporary copy, staging, the atomic
move into place); executing is ``cnncourse.tools.site.execute``, a page
``cnncourse.tools.site.pages`` (widgets: ``cnncourse.tools.site.widgets``),
the index ``cnncourse.tools.site.index``. The site holds:

- every lecture ``course/*.ipynb``, executed top to bottom (``nbclient``, the
  ``python3`` kernel of this interpreter, ``CNNCOURSE_BUDGET=smoke`` unless told
  otherwise) and exported with nbconvert's ``lab`` template;
- every student notebook ``release/<assignment>/*.ipynb``, exported as handed
  out (not executed);
- ``index.html``: the course title, the budget that built it, a short
  introduction, the lectures with their titles, the student notebooks of each
  assignment, and which data sets were real and which ran on stand-ins.

In the smoke budget every lecture page carries a banner saying that it ran on
small (stand-in) data with short runs, so its numbers and figures are not the
course's results, and how to build it with the real data. The kernels look for
data where the library does (``$CNNCOURSE_DATA``, else the per-user cache),
passed to them as an absolute path.

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

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

from cnncourse.settings import BUDGETS, data_root  # torch-free: the site starts without loading torch
from cnncourse.tools.site.documents import write_document
from cnncourse.tools.site.execute import LectureError, execute_all, read_notebook
from cnncourse.tools.site.index import DataSet, index_page
from cnncourse.tools.site.pages import Page, exporter, write_page

__all__ = ["build", "Page", "Site", "LectureError", "BUDGETS", "DEFAULT_OUT", "COURSE_TITLE", "MARKER"]

DEFAULT_OUT = "_site"
COURSE_TITLE = "Convolutional neural networks, from arithmetic to transfer learning"
MARKER = ".cnncourse-site"  # written into every site; only a folder holding it is ever replaced

_IGNORED = (".ipynb_checkpoints", "__pycache__", "*.pyc", ".DS_Store")
_SECRET_MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS")


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
            documents = sorted((course / "course").glob("*.md"))
            hrefs = {path.relative_to(course).as_posix() for path in [*lectures, *students, *documents]}
            for path in documents:
                write_document(path, path.relative_to(course).as_posix(), staging, course_title=title)
            export = exporter()
            for relative, nb, seconds, failures in execute_all(lectures, course, work, budget=budget,
                                                               timeout=timeout, jobs=jobs, keep_going=keep_going,
                                                               progress=progress):
                site.failures += failures
                note = f"executed with the {budget} budget"
                site.pages.append(write_page(nb, relative, staging, hrefs, export, kind="lecture", note=note,
                                             budget=budget, seconds=seconds, course_title=title))
            for path in students:
                relative = path.relative_to(course).as_posix()
                nb = read_notebook(path)
                site.pages.append(write_page(nb, relative, staging, hrefs, export, kind="student",
                                             note="student version, not executed", course_title=title))
        root = data_root().resolve()
        (staging / "index.html").write_text(index_page(site.pages, title=title, budget=budget, failures=site.failures,
                                                       data_root=root, data=_data_on_disk(root)),
                                            encoding="utf-8")
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



def _data_on_disk(root: Path) -> list[DataSet]:
    """Every course data set with the splits found under ``root``, as ``cnncourse.data.load`` looks for them.

    Imported here, once the lectures have run: ``cnncourse.data`` loads torch,
    which the rest of the build does without.
    """
    from cnncourse.data import DATASETS, SPLITS

    return [DataSet(name=name, title=spec.title, splits=tuple(split for split in SPLITS if spec.find(root, split)[0]))
            for name, spec in DATASETS.items()]



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
