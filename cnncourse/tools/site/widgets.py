"""Widgets on a static page: a snapshot of each widget as the notebook left it.

Scope: ``freeze_widgets`` replaces every widget output of an executed notebook
by static HTML built from the widget state nbclient stored in its metadata, so
the page needs no widget manager from a CDN (used by ``cnncourse.tools.site.pages``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode

__all__ = ["freeze_widgets", "WidgetSnapshot", "WIDGET_STATE"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def freeze_widgets(nb: NotebookNode) -> None:
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
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            if view.get("model_id") not in state:
                continue
            snapshot = WidgetSnapshot(state)
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


class WidgetSnapshot:
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
