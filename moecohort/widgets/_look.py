"""How the widgets write their messages: success, failure and notes, styled with
JupyterLab's CSS variables (with fallbacks), every text escaped. Used by
:mod:`~moecohort.widgets.credentials` and :mod:`~moecohort.widgets.push_panel`."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

__all__ = ["bad", "field_layout", "note", "ok"]

_OK_STYLE = "color:var(--jp-success-color1,#1a7f37);font-weight:600"
_BAD_STYLE = "color:var(--jp-error-color1,#cf222e);font-weight:600"
_NOTE_STYLE = "color:var(--jp-ui-font-color2,#57606a)"


def ok(text: str) -> str:
    """A success message, as escaped HTML."""
    return f"<span style='{_OK_STYLE}'>✓ {html.escape(text)}</span>"


def bad(text: str) -> str:
    """A failure message, as escaped HTML."""
    return f"<span style='{_BAD_STYLE}'>✗ {html.escape(text)}</span>"


def note(text: str) -> str:
    """A note, as escaped HTML."""
    return f"<span style='{_NOTE_STYLE}'>{html.escape(text)}</span>"


def field_layout() -> dict[str, Any]:
    """Layout and style shared by the pickers' fields (aligned, labels not cut)."""
    return {
        "style": {"description_width": "8.5em"},
        "layout": widgets.Layout(width="28em", max_width="100%"),
    }
