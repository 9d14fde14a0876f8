"""The site's ``index.html``: the course, the budget that built it, the data the lectures ran on, the pages.

Scope: one function, ``index_page``, that writes the index from the pages
``cnncourse.tools.site.build`` made: the course title and a short introduction;
which budget executed the lectures (in the smoke budget, a banner saying the
pages are not the course's results, and how to build them with the real
data); which data sets were real and which ran on offline stand-ins; a table
of lectures with their assignments; and the student notebooks.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from cnncourse.tools.site.pages import BANNER_CLASS, Page

__all__ = ["DataSet", "index_page"]


@dataclass(frozen=True)
class DataSet:
    """One course data set as the lectures' kernels saw it.

    Attributes:
        name: its name for ``cnncourse data fetch`` (``mnist``).
        title: as people write it (``MNIST``).
        splits: the splits found on disk under the data root (``("train", "test")``, or fewer).
    """

    name: str
    title: str
    splits: tuple[str, ...]


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #212529;
       max-width: 60em; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { text-align: left; padding: 0.4em 0.6em; border-bottom: 1px solid #dee2e6; vertical-align: top; }
th { border-bottom: 2px solid #adb5bd; }
code { background: #f1f3f5; padding: 0 0.25em; border-radius: 3px; }
footer { margin-top: 2em; color: #6c757d; font-size: 0.9em; }
.cnncourse-banner { margin: 1em 0; padding: 0.6em 1em; border: 1px solid #e0a800; border-left-width: 6px;
                    background: #fff8e1; color: #3d2e00; }
.cnncourse-budget { font-size: 1.05em; }
"""


def index_page(pages: list[Page], *, title: str, budget: str, failures: list[str], data_root: Path,
               data: list[DataSet]) -> str:
    """The site's index.html.

    Args:
        pages: every page, lectures first (their ``standins`` say which data sets ran on stand-ins).
        title: the course title.
        budget: the budget the lectures were executed in.
        failures: one message per lecture cell that raised (with ``keep_going``).
        data_root: the folder the kernels looked for data sets in.
        data: every course data set, with the splits found under ``data_root``.
    """
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
    standins = list(dict.fromkeys(name for page in pages for name in page.standins))
    budget_line, banner = _budget_words(budget, standins)
    data_section = _data_section(pages, data_root=data_root, data=data)
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
<p class="cnncourse-budget">{budget_line}</p>
{banner}<p>A course on convolutional networks in Jupyter notebooks, from the arithmetic of a single convolution to
transfer learning. Each lecture comes with a graded assignment. The student notebooks are shown as they are
handed out, not executed.</p>
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
{data_section}<footer>Built by <code>cnncourse site</code> from the notebooks in <code>course/</code> and
<code>release/</code>.</footer>
</main>
</body>
</html>
"""


def _budget_words(budget: str, standins: list[str]) -> tuple[str, str]:
    """The line naming the budget that built the site, and (in the smoke budget) the banner under it.

    ``standins`` are the ``cnncourse data fetch`` names of the data sets the lectures ran on stand-ins for.
    """
    line = (f"Built with the <strong><code>{html.escape(budget)}</code> budget</strong>: "
            "the lecture pages were executed ")
    if budget != "smoke":
        return line + "with the course's full sizes and training runs.", ""
    line += "with tiny sizes and short training runs."
    fetch = (f"<code>cnncourse data fetch {html.escape(' '.join(standins))}</code>, or set " if standins
             else "<code>cnncourse data fetch NAME</code>, or set ")
    banner = (f'<div class="{BANNER_CLASS}" role="note"><strong>Smoke build, not the course\'s results.</strong> '
              "The lectures ran on small data (offline stand-ins wherever a data set was not on the machine, "
              "see <a href=\"#data\">Data</a>) with short training runs, so their numbers and figures show how "
              "each method behaves, not the results the course reaches. To build the site with the real results, "
              f"put the data sets on the machine ({fetch}<code>CNNCOURSE_DATA</code> to a folder holding them) "
              "and run <code>cnncourse site --budget full</code>, on a GPU.</div>\n")
    return line, banner


def _data_section(pages: list[Page], *, data_root: Path, data: list[DataSet]) -> str:
    """The Data section: each data set, whether it was on the machine, and the lectures that ran on its stand-in."""
    standin_users: dict[str, list[Page]] = {}
    for page in pages:
        for name in page.standins:
            standin_users.setdefault(name, []).append(page)
    rows = []
    for item in data:
        if set(item.splits) >= {"train", "test"}:
            found = "real data (train and test splits)"
        elif item.splits:
            found = f"real data, {' and '.join(item.splits)} split only"
        else:
            found = "not on this machine"
        users = ", ".join(f'<a href="{html.escape(page.href)}">{html.escape(Path(page.source).stem)}</a>'
                          for page in standin_users.get(item.name, []))
        rows.append(f"<tr><td>{html.escape(item.title)} (<code>{html.escape(item.name)}</code>)</td>"
                    f"<td>{found}</td><td>{users or '&ndash;'}</td></tr>")
    real = [item.title for item in data if item.splits]
    standins = [item.title for item in data if item.name in standin_users]
    summary = (f"Real data: {html.escape(', '.join(real)) if real else 'none'}. "
               f"Offline stand-ins: {html.escape(', '.join(standins)) if standins else 'none'}.")
    return f"""<h2 id="data">Data</h2>
<p>{summary} The lectures looked for the data sets in <code>{html.escape(str(data_root))}</code>
(<code>$CNNCOURSE_DATA</code>, else the per-user cache); a split missing there ran on an offline stand-in
in the smoke budget (where the library has one).</p>
<table>
<thead><tr><th>Data set</th><th>On this machine</th><th>Lectures that ran on its stand-in</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
"""
