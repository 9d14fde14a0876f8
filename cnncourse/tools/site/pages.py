"""The pages of the site: a notebook exported to one self-contained HTML page.

Scope: nbconvert's ``lab`` template without the scripts it would fetch from a
CDN, a navigation bar back to the index, in the smoke budget a banner saying
that the page's numbers and figures come from small stand-in data and short
runs (not the course's results) and how to build with the real data, links
between notebooks pointed at their pages, widgets frozen
(``cnncourse.tools.site.widgets``), matplotlib animations without Font Awesome.
The index page is ``cnncourse.tools.site.index``. Used by ``cnncourse.tools.site.build``.
"""

from __future__ import annotations

import copy
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.notebooknode import NotebookNode

from cnncourse.tools.site.widgets import freeze_widgets

__all__ = ["Page", "exporter", "write_page", "standins_used", "smoke_banner", "BANNER_CLASS", "STANDIN_LINE"]

BANNER_CLASS = "cnncourse-banner"
# What cnncourse.standins.announce prints when a lecture runs on a stand-in (tests/tools/test_site.py checks
# the two still agree): the data set as people write it, and its name for `cnncourse data fetch`.
STANDIN_LINE = re.compile(r"cnncourse: (?P<title>.+?) is not on this machine; using an offline stand-in\b.*?"
                          r"Real data: cnncourse data fetch (?P<name>\w+)")
_FONT_AWESOME_LINK = re.compile(r"<link\b[^>]*font-awesome[^>]*>", re.I)
# A relative link to a notebook or a Markdown document of the course (both become pages of the site).
_NOTEBOOK_HREF = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|/|#)([^"#?]+)\.(ipynb|md)(#[^"]*)?"', re.I)

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
.cnncourse-banner { margin: 0.5em 1em; padding: 0.6em 1em; border: 1px solid #e0a800; border-left-width: 6px;
                    background: #fff8e1; color: #3d2e00; font-family: system-ui, sans-serif; font-size: 0.95em; }
.cnncourse-banner code { background: #fdefc3; padding: 0 0.25em; border-radius: 3px; }
"""

# nbconvert's lab template without the scripts it would fetch from a CDN. MathJax stays: with a network
# the formulas are typeset, without one they stay readable as the TeX the lectures wrote.
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
{%- if site.banner %}
<div class="cnncourse-banner" role="note">{{ site.banner }}</div>
{%- endif -%}
{%- endblock body_header -%}
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
        standins: the data sets (``cnncourse data fetch`` names) the lecture ran on offline stand-ins for.
    """

    kind: str
    source: str
    href: str
    title: str
    seconds: float = 0.0
    standins: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """The top folder under ``course/`` or ``release/``: ``course``, or a student notebook's assignment."""
        parts = Path(self.source).parts
        return parts[1] if self.kind == "student" and len(parts) > 2 else parts[0]


def exporter() -> HTMLExporter:
    """nbconvert's lab HTML exporter with the site's template (see _PAGE_TEMPLATE)."""
    return HTMLExporter(template_name="lab", template_file="cnncourse_site.html.j2", embed_images=True,
                        extra_loaders=[jinja2.DictLoader({"cnncourse_site.html.j2": _PAGE_TEMPLATE})])


def write_page(nb: NotebookNode, relative: str, staging: Path, hrefs: set[str], export: HTMLExporter, *,
               kind: str, note: str, course_title: str, budget: str | None = None, seconds: float = 0.0) -> Page:
    """Export one notebook to ``staging/<relative>.html``; returns its Page.

    ``budget`` is the budget an executed notebook (a lecture) ran in, None for
    one shown as it is; in the smoke budget the page gets the banner of ``smoke_banner``.
    """
    href = Path(relative).with_suffix(".html").as_posix()
    title = title_of(nb, fallback=Path(relative).stem)
    found = standins_used(nb) if budget is not None else {}
    nb = copy.deepcopy(nb)
    nb.metadata["title"] = title
    freeze_widgets(nb)
    _offline_animations(nb)
    _self_contained_details(nb)
    depth = href.count("/")
    resources = {"cnncourse": {"index_href": "../" * depth + "index.html", "course_title": course_title,
                               "note": note, "banner": smoke_banner(found) if budget == "smoke" else ""}}
    body, _ = export.from_notebook_node(nb, resources=resources)
    body = _NOTEBOOK_HREF.sub(lambda match: _page_link(match, relative, hrefs), body)
    page = staging / href
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body, encoding="utf-8")
    return Page(kind=kind, source=relative, href=href, title=title, seconds=seconds, standins=tuple(found))


def standins_used(nb: NotebookNode) -> dict[str, str]:
    """The data sets an executed notebook ran on offline stand-ins for: ``{fetch name: title}``, in order.

    Read from the line ``cnncourse.standins`` prints in the cell that loads one
    (``cnncourse: MNIST is not on this machine; using an offline stand-in ...``).
    """
    found: dict[str, str] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            text = "".join(text) if isinstance(text, list) else text
            for match in STANDIN_LINE.finditer(text):
                found.setdefault(match["name"], match["title"])
    return found


def smoke_banner(standins: dict[str, str]) -> str:
    """The banner (HTML) on a lecture page executed in the smoke budget.

    Args:
        standins: the data sets the lecture ran on stand-ins for, ``{fetch name: title}``.
    """
    if standins:
        titles = ", ".join(html.escape(title) for title in standins.values())
        data = f"on small offline stand-ins for {titles} (not the real data) and with short training runs"
        fetch = f"<code>cnncourse data fetch {html.escape(' '.join(standins))}</code>, or set "
    else:
        data = "on small stand-in inputs and with short training runs"
        fetch = "for the lectures that load a data set: <code>cnncourse data fetch NAME</code>, or set "
    return (f"<strong>Smoke build, not the course's results.</strong> This page was executed in the "
            f"<code>smoke</code> budget, {data}, so its numbers and figures show how the code behaves, "
            f"not the results the course reaches. To build it with the real data, put the data sets on the "
            f"machine ({fetch}<code>CNNCOURSE_DATA</code> to a folder holding them) and run "
            f"<code>cnncourse site --budget full</code>, on a GPU.")


def title_of(nb: NotebookNode, fallback: str) -> str:
    """The text of the first ``# `` heading of the notebook's first markdown cell, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            break
    return fallback


def _page_link(match: re.Match, relative: str, hrefs: set[str]) -> str:
    """A link to a notebook or document that is part of the site, pointed at its page; any other link unchanged."""
    target = os.path.normpath(os.path.join(os.path.dirname(relative), f"{match.group(1)}.{match.group(2)}"))
    if target.replace(os.sep, "/") not in hrefs:
        return match.group(0)
    return f'href="{match.group(1)}.html{match.group(3) or ""}"'


# A revealable answer in a lecture: <details><summary>…</summary>, Markdown, </details>, blank lines between.
_DETAILS = re.compile(r"<details><summary>(?P<summary>.*?)</summary>\s*\n\n(?P<body>.*?)\n\s*</details>", re.S)


def _self_contained_details(nb: NotebookNode) -> None:
    """Render each ``<details>`` answer's Markdown in place, as one HTML block without blank lines.

    The exporter re-parses every HTML block on its own (to embed images), which closes a
    ``<details>`` right after its summary and leaves the answer outside it, always shown.
    """
    def render(match: re.Match) -> str:
        body = re.sub(r"\n\s*\n", "\n", markdown2html_mistune(match.group("body")).strip())
        return f"<details><summary>{match.group('summary')}</summary>\n{body}\n</details>"

    for cell in nb.cells:
        if cell.cell_type == "markdown" and "<details>" in cell.source:
            cell.source = _DETAILS.sub(render, cell.source)


def _offline_animations(nb: NotebookNode) -> None:
    """Drop the Font Awesome stylesheet matplotlib's HTML animations load from a CDN (the page CSS has symbols)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            if "text/html" in data:
                text = data["text/html"]
                text = "".join(text) if isinstance(text, list) else text
                data["text/html"] = _FONT_AWESOME_LINK.sub("", text)
