"""The static HTML site of the course (``cnncourse site``, cnncourse.tools.site.build).

Two kinds of test. Those that take the ``site_dir`` fixture read the real site,
built once per session from course/ and release/ with the smoke budget: every
lecture has a page with its title and its figures, no page shows an error, the
index links every page, every link resolves, student pages show the stubs and
nothing of the solutions, no page needs the network for its content, every
lecture page carries the smoke banner near its top, and the index names the
budget and the data sets that were real or stand-ins. The
others build tiny courses in tmp_path (one short kernel each): a raising cell
fails the build with the notebook and cell named and keeps the earlier site,
keep_going shows the error on the page, the build changes nothing in the
course, widgets become static snapshots, a cell past the timeout fails, bad
arguments fail before any kernel starts, and the CLI passes the budget,
replaces an earlier site and exits non-zero on a failure; a lecture on a
real data set and a stand-in, with a relative CNNCOURSE_DATA, says which was which.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cnncourse.tools.cli import main
from cnncourse.runtime import BUDGETS as RUNTIME_BUDGETS
from cnncourse.tools.site import BUDGETS, MARKER, LectureError, build
from cnncourse.tools.site.pages import BANNER_CLASS, STANDIN_LINE
from pipeline_helpers import html_text, secret_lines

REPO = Path(__file__).resolve().parents[2]
LECTURES = sorted((REPO / "course").glob("*.ipynb"))
STUDENT_NOTEBOOKS = sorted(p for p in (REPO / "release").glob("*/**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)

# A code line that puts a figure in its cell's output: plt.show(), a cnncourse.viz call, or a bare `fig`.
FIGURE_CALL = re.compile(r"plt\.show\(\)|\b(?:show|plot)_[a-z_]+\(|^fig\s*$", re.M)
PNG_IMAGE = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,')
CELL_START = re.compile(r'<div class="jp-Cell [^"]*" id="cell-id=([^"]+)">')
# nbconvert's lab template renders an error output (and a stderr stream) as this output area.
STDERR_AREA = re.compile(r'<div[^>]*data-mime-type="application/vnd\.jupyter\.stderr"[^>]*>(.*?)</div>', re.S)
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)"
                        r"|^\s*(?:Cell In\[\d+\]|[\w.]*(?:Error|Exception|Interrupt)\b)", re.M)
HREF = re.compile(r'\bhref="([^"]*)"')
MATHJAX_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"
INLINE_MATH = re.compile(r"(?<!\$)\$[^$\n]+\$(?!\$)")
BANNER = re.compile(r'<div class="' + BANNER_CLASS + r'"[^>]*>(.*?)</div>', re.S)


# ---------------------------------------------------------------------------
# helpers


def page_of(site: Path, notebook: Path) -> Path:
    """Where the site keeps the page of a repository notebook (course/x.ipynb -> course/x.html)."""
    return site / notebook.relative_to(REPO).with_suffix(".html")


def read_page(site: Path, notebook: Path) -> str:
    """The HTML of a notebook's page; fails the test if the site has no page for it."""
    page = page_of(site, notebook)
    assert page.is_file(), f"the site should have a page for {notebook.relative_to(REPO)} at {page}, it has none"
    return page.read_text(encoding="utf-8")


def first_heading(notebook: Path) -> str:
    """The text of the notebook's first `# ` heading, read straight from the file."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise AssertionError(f"{notebook.relative_to(REPO)} has no `# Title` heading in its first markdown cell")


def figure_cells(notebook: Path) -> list[str]:
    """The ids of the code cells that draw a figure (ignoring def/import lines)."""
    found = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        if FIGURE_CALL.search("\n".join(line for line in lines if not re.match(r"\s*(def|class|from|import)\b", line))):
            assert cell.get("id"), f"{notebook.name}: a figure cell has no id (save the lecture as nbformat 4.5)"
            found.append(cell["id"])
    return found


def cell_chunks(page: str) -> dict[str, str]:
    """The HTML of each cell of an exported page, keyed by the cell's id."""
    parts = CELL_START.split(page)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def error_outputs(page: str) -> list[str]:
    """The text of every output area that shows a Python error (traceback or `SomeError: ...`)."""
    texts = [html.unescape(re.sub(r"<[^>]+>", "", area)) for area in STDERR_AREA.findall(page)]
    return [text for text in texts if ERROR_TEXT.search(text)]


def local_links(page: str) -> list[str]:
    """The hrefs of a page that point at files (no scheme, not an in-page anchor)."""
    return [href for href in HREF.findall(page) if href and not href.startswith("#") and not urlparse(href).scheme]


def resolve(page: Path, href: str) -> Path:
    """The file a relative href of ``page`` points at."""
    return (page.parent / unquote(urlparse(href).path)).resolve()


def write_notebook(path: Path, cells: list) -> Path:
    """Write a python3 notebook with these cells (parent folders made as needed)."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def tiny_course(root: Path, *code: str) -> Path:
    """A course with one lecture (a title, then one code cell per string) and one student notebook."""
    write_notebook(root / "course" / "01_tiny.ipynb",
                   [new_markdown_cell("# Tiny lecture\n\nSee [the exercise](../release/01_tiny/tiny.ipynb).")]
                   + [new_code_cell(source) for source in code])
    write_notebook(root / "release" / "01_tiny" / "tiny.ipynb",
                   [new_markdown_cell("# Tiny exercise"),
                    new_code_cell("def area(side):\n    # YOUR CODE HERE\n    raise NotImplementedError()")])
    return root


def banner_of(page: str) -> str:
    """The text of a page's smoke banner, if it has one before its first cell ("" otherwise)."""
    top = CELL_START.split(page, maxsplit=1)[0]
    found = BANNER.search(top)
    return html_text(found.group(1)) if found else ""


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root with its bytes and modification time."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------------
# the real site (one build per session)


@pytest.mark.slow
def test_every_lecture_has_a_page_with_its_title(site_dir: Path) -> None:
    assert LECTURES, f"no lectures found in {REPO / 'course'}"
    for lecture in LECTURES:
        page = read_page(site_dir, lecture)
        title = first_heading(lecture)
        head = re.search(r"<title>(.*?)</title>", page, re.S)
        assert head and html.unescape(head.group(1)).strip() == title, \
            f"{page_of(site_dir, lecture).name}: <title> should be {title!r}, got {head.group(1) if head else None!r}"
        headings = [html_text(h) for h in re.findall(r"<h1\b.*?</h1>", page, re.S)]
        assert any(title in heading for heading in headings), \
            f"{page_of(site_dir, lecture).name} should show the heading {title!r}; its h1 headings: {headings}"


@pytest.mark.slow
def test_every_figure_cell_shows_an_embedded_figure(site_dir: Path) -> None:
    for lecture in LECTURES:
        page = read_page(site_dir, lecture)
        chunks = cell_chunks(page)
        wanted = figure_cells(lecture)
        assert wanted, f"{lecture.name} draws no figure (no plt.show(), show_*/plot_* call or bare `fig`)?"
        missing = [cell for cell in wanted if not PNG_IMAGE.search(chunks.get(cell, ""))]
        assert not missing, (f"{lecture.name}: these cells draw a figure but their output on the page holds no "
                             f"embedded PNG: {missing} (of {wanted})")
        count = len(PNG_IMAGE.findall(page))
        assert count >= len(wanted), f"{lecture.name}: expected at least {len(wanted)} embedded PNGs, found {count}"


@pytest.mark.slow
def test_no_page_shows_an_error(site_dir: Path) -> None:
    for notebook in LECTURES + STUDENT_NOTEBOOKS:
        errors = error_outputs(read_page(site_dir, notebook))
        assert not errors, (f"the page of {notebook.relative_to(REPO)} shows {len(errors)} error output(s), expected "
                            f"none; the first: {errors[0][-600:]}")


@pytest.mark.slow
def test_index_links_every_page_and_every_link_resolves(site_dir: Path) -> None:
    index = site_dir / "index.html"
    assert index.is_file(), f"the site should have {index}"
    text = index.read_text(encoding="utf-8")
    links = local_links(text)
    targets = {resolve(index, href) for href in links}
    for notebook in LECTURES + STUDENT_NOTEBOOKS:
        page = page_of(site_dir, notebook).resolve()
        assert page in targets, f"index.html should link {page.relative_to(site_dir.resolve())}; it links {links}"
        assert first_heading(notebook) in html_text(text), \
            f"index.html should name {notebook.relative_to(REPO)} by its title {first_heading(notebook)!r}"
    for href in links:
        target = resolve(index, href)
        assert target.is_file(), f"index.html links {href!r}, which is no file in the site ({target})"
        assert target.is_relative_to(site_dir.resolve()), f"index.html links {href!r} outside the site"


@pytest.mark.slow
def test_links_between_pages_resolve(site_dir: Path) -> None:
    for notebook in LECTURES + STUDENT_NOTEBOOKS:
        page = page_of(site_dir, notebook)
        for href in local_links(read_page(site_dir, notebook)):
            assert not urlparse(href).path.endswith(".ipynb"), \
                f"{page.name} links the notebook {href!r}; links to notebooks of the site should point at their pages"
            target = resolve(page, href)
            assert target.is_file(), f"{page.relative_to(site_dir)} links {href!r}, which is no file in the site"


@pytest.mark.slow
def test_student_pages_show_the_stubs_and_nothing_of_the_solutions(site_dir: Path) -> None:
    assert STUDENT_NOTEBOOKS, f"no student notebooks found in {REPO / 'release'}"
    for notebook in STUDENT_NOTEBOOKS:
        page = read_page(site_dir, notebook)
        text = html_text(page)
        name = notebook.relative_to(REPO)
        for stub in ("YOUR CODE HERE", "NotImplementedError"):
            assert stub in text, f"the page of {name} should show the stub {stub!r}, it does not"
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"the page of {name} shows {marker!r}"
        outputs = re.findall(r'class="[^"]*jp-OutputArea-output', page)
        assert not outputs, f"the page of {name} should show the notebook unexecuted, it has {len(outputs)} outputs"
        source = REPO / "source" / notebook.relative_to(REPO / "release")
        if source.is_file():
            shown = {line.strip() for line in text.splitlines()}  # whole lines: prose may quote a fragment
            for kind in ("solution", "hidden"):
                leaked = sorted(line for line in secret_lines(source, kind) if line in shown)
                assert not leaked, f"the page of {name} shows {kind} lines of {source.relative_to(REPO)}: {leaked[:3]}"


@pytest.mark.slow
def test_pages_need_no_network(site_dir: Path) -> None:
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)=["']?https?:""", index), "index.html should load nothing from the network"
    for notebook in LECTURES + STUDENT_NOTEBOOKS:
        page = read_page(site_dir, notebook)
        name = notebook.relative_to(REPO)
        scripts = [src for src in re.findall(r"<script\b[^>]*\bsrc=\"([^\"]*)\"", page)
                   if not src.startswith(MATHJAX_CDN)]
        assert not scripts, f"the page of {name} loads scripts other than MathJax: {scripts}"
        styles = re.findall(r"<link\b[^>]*>", page)
        assert not styles, f"the page of {name} should inline its CSS, it links {styles}"
        remote = re.findall(r"<img\b[^>]*\bsrc=\"(https?:[^\"]*)\"", page)
        assert not remote, f"the page of {name} loads images from the network: {remote}"
        assert "application/vnd.jupyter.widget" not in page, \
            f"the page of {name} holds a live widget, which needs the widget manager from a CDN"
    for lecture in LECTURES:
        sources = [("".join(cell["source"])) for cell in json.loads(lecture.read_text(encoding="utf-8"))["cells"]
                   if cell["cell_type"] == "markdown"]
        math = [m for source in sources for m in INLINE_MATH.findall(source)][:5]
        text = html.unescape(read_page(site_dir, lecture))
        unreadable = [m for m in math if m not in text]
        assert not unreadable, (f"the page of {lecture.name} should keep its math as TeX (readable without "
                                f"MathJax's CDN); missing verbatim: {unreadable}")


@pytest.mark.slow
def test_the_build_left_the_lectures_unexecuted(site_dir: Path) -> None:
    assert (site_dir / MARKER).is_file(), f"the site should carry its marker file {MARKER}"
    for notebook in LECTURES + STUDENT_NOTEBOOKS:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        executed = [i for i, cell in enumerate(cells) if cell.get("outputs") or cell.get("execution_count")]
        assert not executed, (f"{notebook.relative_to(REPO)} has outputs in cells {executed}; notebooks are kept "
                              "without outputs, and the build must never write executed notebooks back")


@pytest.mark.slow
def test_every_lecture_page_built_with_smoke_shows_the_banner(site_dir: Path) -> None:
    for lecture in LECTURES:
        page = read_page(site_dir, lecture)
        banner = banner_of(page)
        assert banner, (f"the page of {lecture.name} was built in the smoke budget: it should show the banner "
                        f"(class {BANNER_CLASS}) above its first cell")
        for words in ("smoke", "not the course's results", "cnncourse site --budget full", "CNNCOURSE_DATA"):
            assert words in banner, f"the banner of {lecture.name} should say {words!r}; it says: {banner}"
        for title in {match["title"] for match in STANDIN_LINE.finditer(html_text(page))}:
            assert "stand-ins for" in banner and title in banner, \
                f"{lecture.name} ran on the stand-in for {title}; its banner should name it, it says: {banner}"
    for notebook in STUDENT_NOTEBOOKS:
        assert not banner_of(read_page(site_dir, notebook)), \
            f"{notebook.relative_to(REPO)} is not executed: its page should have no smoke banner"


@pytest.mark.slow
def test_index_names_the_budget_and_the_data(site_dir: Path) -> None:
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    text = html_text(index)
    assert "Built with the smoke budget" in text, f"the index should name the budget that built it: {text[:600]}"
    assert BANNER.search(index), "a smoke build's index should carry the banner too"
    data = html_text(index.split('id="data"', 1)[-1])
    for title in ("MNIST", "Fashion-MNIST", "CIFAR-10", "Oxford-IIIT Pet"):
        assert title in data, f"the index's Data section should list {title}; it says: {data[:800]}"
    for lecture in LECTURES:
        for match in STANDIN_LINE.finditer(html_text(read_page(site_dir, lecture))):
            row = next((line for line in data.splitlines() if match["title"] in line and f"({match['name']})" in line),
                       "")
            assert lecture.stem in row, (f"{lecture.name} ran on the stand-in for {match['title']}; the index's Data "
                                         f"row for it should name the lecture, it reads {row!r}")


def test_the_standin_line_matches_what_the_library_prints() -> None:
    printed = subprocess.run([sys.executable, "-c", "from cnncourse.standins import announce; announce('cifar10')"],
                             capture_output=True, text=True, check=True).stdout
    match = STANDIN_LINE.search(printed)
    assert match and (match["name"], match["title"]) == ("cifar10", "CIFAR-10"), \
        f"cnncourse.tools.site.pages.STANDIN_LINE should read what cnncourse.standins.announce prints: {printed!r}"


# ---------------------------------------------------------------------------
# tiny courses: failures, keep_going, nothing touched, arguments, the CLI


@pytest.mark.slow
def test_real_data_and_stand_ins_are_told_apart(tmp_path: Path, shared_mnist: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    for file in shared_mnist.glob("t10k-*"):
        (data / "mnist" / file.name).symlink_to(file)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNCOURSE_DATA", "data")  # relative: the kernels run elsewhere, in a copy of the course
    course = tiny_course(tmp_path / "course_dir", "from cnncourse.data import load\n"
                         "print(load('mnist', 'test'))\nprint(load('cifar10', 'test', download=False))")
    site = build(tmp_path / "site", course_dir=course, jobs=1, timeout=120)
    page = (site.folder / "course" / "01_tiny.html").read_text(encoding="utf-8")
    assert "10,000 images" in html_text(page) and "real data" in html_text(page), \
        f"the kernel should read the real MNIST test set from $CNNCOURSE_DATA=data: {html_text(page)[-800:]}"
    banner = banner_of(page)
    assert "stand-ins for CIFAR-10" in banner and "MNIST" not in banner, \
        f"the banner should name CIFAR-10 (a stand-in) and not MNIST (real): {banner}"
    assert [p.standins for p in site.pages] == [("cifar10",), ()], site.pages
    data_section = html_text((site.folder / "index.html").read_text(encoding="utf-8").split('id="data"', 1)[-1])
    assert "Real data: MNIST." in data_section and "Offline stand-ins: CIFAR-10." in data_section, data_section
    assert str(data.resolve()) in data_section, f"the index should name the data root {data.resolve()}"
    rows = {line.split(" (")[0]: line for line in data_section.splitlines() if "(" in line}
    assert "test split only" in rows.get("MNIST", "") and "01_tiny" in rows.get("CIFAR-10", ""), rows


@pytest.mark.slow
def test_a_raising_cell_fails_the_build_and_keeps_the_earlier_site(tmp_path: Path) -> None:
    course = tiny_course(tmp_path / "course_dir", "x = 6 * 7", "open('written_by_the_lecture.txt', 'w').write('x')")
    out = tmp_path / "site"
    before = snapshot(course)
    first = build(out, course_dir=course, jobs=1)
    assert first.index.is_file() and [p.title for p in first.pages] == ["Tiny lecture", "Tiny exercise"], first
    assert snapshot(course) == before, "the build should change nothing in the course (the lecture wrote into its cwd)"
    earlier = snapshot(out)

    write_notebook(course / "course" / "01_tiny.ipynb",
                   [new_markdown_cell("# Tiny lecture"), new_code_cell("x = 1"),
                    new_code_cell("raise ValueError('broken on purpose')"), new_code_cell("print('not reached')")])
    with pytest.raises(LectureError) as failed:
        build(out, course_dir=course, jobs=1)
    message = str(failed.value)
    for part in ("course/01_tiny.ipynb", "cell 3 of 4", "raise ValueError", "ValueError: broken on purpose"):
        assert part in message, f"the failure should name {part!r}; it says:\n{message}"
    assert snapshot(out) == earlier, "a failed build should leave the earlier site as it was"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("course_dir", "site"))
    assert not leftovers, f"a failed build should leave no half-written folder beside the site, found {leftovers}"


@pytest.mark.slow
def test_keep_going_shows_the_error_on_the_page(tmp_path: Path) -> None:
    course = tiny_course(tmp_path / "course_dir", "1 / 0", "print('still ran')")
    site = build(tmp_path / "site", course_dir=course, jobs=1, keep_going=True)
    assert len(site.failures) == 1 and "cell 2 of 3" in site.failures[0] and "ZeroDivisionError" in site.failures[0], \
        f"expected one failure naming cell 2 and ZeroDivisionError, got {site.failures}"
    page = (site.folder / "course" / "01_tiny.html").read_text(encoding="utf-8")
    errors = error_outputs(page)
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0], \
        f"the page should show one ZeroDivisionError output (this also checks error_outputs), got {errors}"
    assert "still ran" in html_text(page), "with keep_going the cells after the error should run"
    assert "ZeroDivisionError" in html_text((site.folder / "index.html").read_text(encoding="utf-8")), \
        "index.html should list the failing cell"


@pytest.mark.slow
def test_widgets_become_static_snapshots(tmp_path: Path) -> None:
    course = tiny_course(tmp_path / "course_dir",
                         "import ipywidgets\nipywidgets.IntSlider(value=3, min=1, max=5, description='kernel k')",
                         "bar = ipywidgets.IntProgress(value=7, max=10)\nbar",
                         "gone = ipywidgets.Button(description='closed button')\ndisplay(gone)\ngone.close()")
    site = build(tmp_path / "site", course_dir=course, jobs=1)
    page = (site.folder / "course" / "01_tiny.html").read_text(encoding="utf-8")
    text = html_text(page)
    assert "application/vnd.jupyter.widget" not in page, "the page should hold no live widget (it needs a CDN)"
    assert "Interactive in Jupyter" in text and "kernel k 3" in " ".join(text.split()), \
        f"the slider should be shown as its description and value with a note; the page text ends:\n{text[-800:]}"
    bars = re.findall(r"<progress\b[^>]*>", page)
    assert len(bars) == 1 and 'value="7"' in bars[0] and 'max="10"' in bars[0], \
        f"the progress bar should become one HTML <progress> at 7 of 10, got {bars}"
    closed = re.findall(r"<button\b[^>]*>closed button</button>", page)
    assert not closed, f"a widget the notebook closed should not be shown (Jupyter hides it), got {closed}"


@pytest.mark.slow
def test_a_cell_past_the_timeout_fails_naming_it(tmp_path: Path) -> None:
    course = tiny_course(tmp_path / "course_dir", "import time\ntime.sleep(30)")
    with pytest.raises(LectureError) as failed:
        build(tmp_path / "site", course_dir=course, jobs=1, timeout=2)
    message = str(failed.value)
    assert "cell 2 of 2" in message and "longer than 2 s" in message and "--timeout" in message, message
    assert not (tmp_path / "site").exists(), "a failed build should write no site"


def test_bad_arguments_fail_before_anything_runs(tmp_path: Path) -> None:
    course = tiny_course(tmp_path / "course_dir", "raise SystemExit('no kernel should run in this test')")
    assert BUDGETS == RUNTIME_BUDGETS, f"cnncourse.tools.site.BUDGETS {BUDGETS} differs from cnncourse.runtime's"
    cases = [
        (dict(budget="huge"), ValueError, "budget must be one of full, smoke"),
        (dict(jobs=0), ValueError, "jobs must be"),
        (dict(timeout=0), ValueError, "timeout must be"),
        (dict(out=course / "course" / "site"), ValueError, "inside course/"),
        (dict(out=course / "release" / "site"), ValueError, "inside release/"),
        (dict(out=course), ValueError, "is the course directory"),
        (dict(course_dir=tmp_path / "nowhere"), FileNotFoundError, "course_dir must be the course root"),
    ]
    for kwargs, error, words in cases:
        arguments = {"out": tmp_path / "site", "course_dir": course, **kwargs}
        with pytest.raises(error) as raised:
            build(**arguments)
        assert words in str(raised.value), f"build({kwargs}) should say {words!r}, it said: {raised.value}"
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="was not made by `cnncourse site`"):
        build(foreign, course_dir=course)
    assert (foreign / "notes.txt").read_text() == "keep me", "a folder the build did not make must stay untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course_dir", "mine"], "nothing should have been written"


def test_a_student_notebook_with_solutions_is_refused(tmp_path: Path) -> None:
    course = tiny_course(tmp_path / "course_dir", "raise SystemExit('no kernel should run in this test')")
    write_notebook(course / "release" / "01_tiny" / "tiny.ipynb",
                   [new_code_cell("def area(side):\n    ### BEGIN SOLUTION\n    return side * side\n"
                                  "    ### END SOLUTION")])
    with pytest.raises(ValueError) as refused:
        build(tmp_path / "site", course_dir=course)
    assert "tiny.ipynb" in str(refused.value) and "cnncourse release" in str(refused.value), str(refused.value)
    assert not (tmp_path / "site").exists(), "a refused build should write nothing"


@pytest.mark.slow
def test_cli_site_budget_rebuild_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = tiny_course(tmp_path / "course_dir", "import os\nprint('budget:', os.environ['CNNCOURSE_BUDGET'])")
    out = tmp_path / "site"
    page = out / "course" / "01_tiny.html"
    command = ["site", "--out", str(out), "--course-dir", str(course), "--jobs", "1"]
    status = main(command + ["--budget", "full", "--timeout", "60"])
    printed = capsys.readouterr().out
    assert status == 0, f"cnncourse site should exit 0 on a good course, got {status}"
    assert "executed course/01_tiny.ipynb" in printed and str(out / "index.html") in printed, printed
    assert "budget: full" in html_text(page.read_text(encoding="utf-8")), "--budget full should reach the kernel"
    assert not banner_of(page.read_text(encoding="utf-8")), "a page built with --budget full has no smoke banner"
    assert "Built with the full budget" in html_text((out / "index.html").read_text(encoding="utf-8"))
    assert (out / "release" / "01_tiny" / "tiny.html").is_file(), "the student notebook should have a page"

    (out / "stale.html").write_text("left from an older build")
    assert main(command) == 0, "a second build into the same site folder should succeed"
    capsys.readouterr()
    assert "budget: smoke" in html_text(page.read_text(encoding="utf-8")), "the default budget should be smoke"
    assert "smoke" in banner_of(page.read_text(encoding="utf-8")), "a smoke page should carry the banner"
    assert not (out / "stale.html").exists(), "a rebuild should replace the whole earlier site"

    write_notebook(course / "course" / "01_tiny.ipynb", [new_code_cell("assert False, 'wrong on purpose'")])
    status = main(command)
    err = capsys.readouterr().err
    assert status != 0, "cnncourse site should exit non-zero when a lecture cell raises"
    assert "cnncourse site:" in err and "01_tiny.ipynb, cell 1 of 1" in err and "wrong on purpose" in err, err
    assert "budget: smoke" in html_text(page.read_text(encoding="utf-8")), "a failed build should keep the last site"


@pytest.mark.slow
def test_the_glossary_is_a_page_and_lectures_link_to_it(site_dir):
    """course/glossary.md becomes course/glossary.html, and every lecture's glossary link points at it."""
    glossary = site_dir / "course" / "glossary.html"
    assert glossary.is_file(), "the site has no course/glossary.html (course/glossary.md should be rendered)"
    assert "свёртка" in glossary.read_text(encoding="utf-8"), "the glossary page does not show the glossary's terms"
    for page in sorted((site_dir / "course").glob("0*.html")):
        text = page.read_text(encoding="utf-8")
        assert 'href="glossary.html"' in text and 'href="glossary.md"' not in text, \
            f"{page.name} should link glossary.html (the rendered glossary), not the Markdown file"


def test_a_revealable_answer_keeps_its_text_inside_details(tmp_path):
    """An exercise answer (<details>, Markdown, </details>) is exported with its text inside the <details>."""
    import nbformat

    from cnncourse.tools.site.pages import exporter, write_page

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# A lecture\n\n**1.** Why?\n\n<details><summary>Answer</summary>\n\nBecause *this* holds.\n\nA second line.\n\n</details>\n")])
    page = write_page(nb, "course/01_a.ipynb", tmp_path, set(), exporter(), kind="lecture", note="", course_title="T")
    text = (tmp_path / page.href).read_text(encoding="utf-8")
    inside = re.search(r"<details><summary>Answer</summary>(.*?)</details>", text, re.S)
    assert inside and "Because <em>this</em> holds." in inside.group(1) and "A second line." in inside.group(1), \
        f"the answer should be inside its <details>, the page has: {inside.group(0) if inside else 'no <details>'}"
