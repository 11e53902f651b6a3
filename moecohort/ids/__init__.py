"""Identifiers: one canonical text form for user ids, and anonymous users.

* :mod:`~moecohort.ids.canonical`: the canonical form (``to_arrow_ids``, ``canonical_ids``);
* :mod:`~moecohort.ids.anonymous`: who is anonymous and why (``classify``,
  ``drop_anonymous``, :class:`AnonymousReport`);
* :mod:`~moecohort.ids.frames`: ``require_column``, the check every frame input goes through;
* :mod:`~moecohort.ids._arrow`: byte-level views of Arrow string arrays (internal).
"""

from __future__ import annotations

from .anonymous import (
    BLANK,
    DEFAULT_PLACEHOLDERS,
    MISSING,
    OK,
    PLACEHOLDER,
    REASON_NAMES,
    AnonymousReport,
    anonymous_reasons,
    anonymous_report,
    classify,
    classify_with_shape,
    drop_anonymous,
    is_anonymous,
    without_anonymous,
)
from .canonical import IdInput, arrow_ids, as_series, canonical_ids, series_name, to_arrow_ids
from .frames import require_column

__all__ = [
    "BLANK",
    "DEFAULT_PLACEHOLDERS",
    "MISSING",
    "OK",
    "PLACEHOLDER",
    "REASON_NAMES",
    "AnonymousReport",
    "IdInput",
    "anonymous_reasons",
    "anonymous_report",
    "arrow_ids",
    "as_series",
    "canonical_ids",
    "classify",
    "classify_with_shape",
    "drop_anonymous",
    "is_anonymous",
    "require_column",
    "series_name",
    "to_arrow_ids",
    "without_anonymous",
]
