"""Small, escaped HTML building blocks for notebook reprs (in the spirit of xarray's).

Every value goes through :func:`html.escape`; styles use JupyterLab's CSS
variables with fallbacks, so reports read well in light and dark themes and in
plain HTML viewers. Objects also keep a plain-text ``__repr__`` for terminals.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import pandas as pd

STYLE = (
    "<style>"
    ".moecohort-report{font-family:var(--jp-ui-font-family,sans-serif);"
    "font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1,#1f2328);"
    "max-width:60em;margin:.25em 0}"
    ".moecohort-report h4{margin:.2em 0 .4em;font-size:1.05em}"
    ".moecohort-report table{border-collapse:collapse;margin:.2em 0}"
    ".moecohort-report th,.moecohort-report td{padding:.2em .8em;text-align:left;"
    "border-bottom:1px solid var(--jp-border-color2,#e5e5e5)}"
    ".moecohort-report td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".moecohort-report .ok{color:var(--jp-success-color1,#1a7f37);font-weight:600}"
    ".moecohort-report .bad{color:var(--jp-error-color1,#cf222e);font-weight:600}"
    ".moecohort-report .note{color:var(--jp-ui-font-color2,#57606a);margin:.3em 0}"
    ".moecohort-report details{margin:.3em 0}"
    "</style>"
)


def esc(value: object) -> str:
    """Escape any value for HTML text and attributes."""
    return html.escape(str(value), quote=True)


def table_html(
    title: str,
    rows: Iterable[tuple[object, object]],
    *,
    note: str | None = None,
    status: tuple[bool, str] | None = None,
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    """A titled two-column table. ``note`` must already be escaped; ``sections``
    are (summary text, already-built HTML) pairs shown as collapsible details."""
    body = "".join(f"<tr><th>{esc(k)}</th><td class='num'>{esc(v)}</td></tr>" for k, v in rows)
    badge = ""
    if status is not None:
        ok, text = status
        badge = f" <span class='{'ok' if ok else 'bad'}'>{esc(text)}</span>"
    extra = "".join(
        f"<details><summary>{esc(summary)}</summary>{content}</details>"
        for summary, content in sections
    )
    note_html = f"<div class='note'>{note}</div>" if note else ""
    return (
        f"{STYLE}<div class='moecohort-report'><h4>{esc(title)}{badge}</h4>"
        f"<table>{body}</table>{note_html}{extra}</div>"
    )


#: The longest text a view shows of one value (an id, a message): longer values are cut
#: and say their length. The data itself (``result.failed``, ``--failed-out``) keeps them whole.
MAX_SHOWN_CHARS = 80


def shorten(value: object, limit: int = MAX_SHOWN_CHARS) -> object:
    """``value`` itself, or, for text longer than ``limit``, its start, an ellipsis and its
    length: ``"aaaa… (200,000 characters)"``."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value):,} characters)"
    return value


def shown(df: pd.DataFrame, limit: int = MAX_SHOWN_CHARS) -> pd.DataFrame:
    """``df`` for display: text longer than ``limit`` cut by :func:`shorten` (the frame
    itself when nothing is that long)."""
    long_text = [
        column
        for column in df.columns
        if df[column].dtype == object or isinstance(df[column].dtype, pd.StringDtype)
        if df[column].map(lambda v: isinstance(v, str) and len(v) > limit).any()
    ]
    if not long_text:
        return df
    return df.assign(**{str(c): df[c].astype(object).map(shorten) for c in long_text})


def frame_html(df: pd.DataFrame, max_rows: int = 20) -> str:
    """A DataFrame as escaped HTML (pandas escapes cell values by default), long text cut."""
    shown_rows = shown(df.head(max_rows))
    more = (
        f"<div class='note'>… {len(df) - max_rows:,} more rows</div>" if len(df) > max_rows else ""
    )
    return shown_rows.to_html(escape=True, border=0, max_cols=20) + more
