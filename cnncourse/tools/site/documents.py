"""Markdown documents of the course (``course/*.md``, e.g. the glossary) as pages of the site.

Scope: one function, ``write_document``: a Markdown file rendered to HTML with
nbconvert's own Markdown renderer (the one the lecture pages use), in a plain
page with the site's navigation link, so that a lecture's link to
``glossary.md`` works on the site as it does in JupyterLab.
"""

from __future__ import annotations

import html
from pathlib import Path

from nbconvert.filters.markdown import markdown2html

__all__ = ["write_document"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="cnncourse site">
<title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
line-height: 1.5; }} table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc;
padding: 0.2rem 0.5rem; text-align: left; }}</style></head>
<body><nav><a href="{index}">&larr; {course}</a></nav>
{body}
</body></html>
"""


def write_document(source: Path, relative: str, staging: Path, *, course_title: str) -> str:
    """Render ``source`` (Markdown) to ``staging/<relative with .html>``; returns that page's href.

    Example:
        ``write_document(Path("course/glossary.md"), "course/glossary.md", staging, course_title="CNNs")``
        writes ``staging/course/glossary.html``.
    """
    text = source.read_text(encoding="utf-8")
    href = Path(relative).with_suffix(".html").as_posix()
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")), source.stem)
    page = staging / href
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(_PAGE.format(title=html.escape(title), index="../" * href.count("/") + "index.html",
                                 course=html.escape(course_title), body=markdown2html(text)), encoding="utf-8")
    return href
