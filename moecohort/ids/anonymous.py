"""Anonymous users: ids that cannot identify anyone, and the reports of dropping them.

Anonymous means a missing id, an empty or whitespace-only id, or a placeholder MoEngage
never accepts as a user id (:data:`DEFAULT_PLACEHOLDERS`, compared case-insensitively
after trimming).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._constants import PLACEHOLDER_IDS
from .._html import table_html
from ._arrow import MAY_TRIM, Shape, shape_of, take_rows, text_chunks
from .canonical import IdInput, as_series, series_name, to_arrow_ids
from .frames import require_column

__all__ = [
    "BLANK",
    "DEFAULT_PLACEHOLDERS",
    "MISSING",
    "OK",
    "PLACEHOLDER",
    "REASON_NAMES",
    "AnonymousReport",
    "anonymous_reasons",
    "anonymous_report",
    "classify",
    "classify_with_shape",
    "drop_anonymous",
    "is_anonymous",
    "without_anonymous",
]

log = logging.getLogger("moecohort")

#: Values MoEngage never accepts as a user id (compared case-insensitively after
#: trimming). Pass ``placeholders=DEFAULT_PLACEHOLDERS | {"test"}`` to extend it.
DEFAULT_PLACEHOLDERS: frozenset[str] = PLACEHOLDER_IDS

# Reason codes, per row. OK rows are sent; the others are anonymous.
OK, MISSING, BLANK, PLACEHOLDER = 0, 1, 2, 3
REASON_NAMES = {MISSING: "missing", BLANK: "blank", PLACEHOLDER: "placeholder"}


def classify(ids: pa.ChunkedArray, placeholders: Iterable[str] | None = None) -> np.ndarray:
    """Reason code per id: 0 (a real id), 1 missing, 2 blank, 3 placeholder.

    Only ids that could be blank or a placeholder are trimmed and lower-cased. The
    others are told apart by their byte length and their first and last bytes, read
    from the Arrow buffers without copying, so a column of real ids costs one cheap pass.
    """
    return classify_with_shape(ids, placeholders)[0]


def classify_with_shape(
    ids: pa.Array | pa.ChunkedArray, placeholders: Iterable[str] | None = None
) -> tuple[np.ndarray, Shape]:
    """:func:`classify`, with the shape of the ids (for callers that need it too)."""
    marks = _placeholder_set(placeholders)
    ids = text_chunks(ids)
    n = len(ids)
    reasons = np.zeros(n, dtype=np.int8)
    shape = shape_of(ids)
    missing = shape.missing
    reasons[missing] = MISSING
    lengths = shape.lengths
    # Ids that may start or end with whitespace (or a non-ASCII character): trim those.
    padded = np.flatnonzero(MAY_TRIM[shape.first] | MAY_TRIM[shape.last])
    if len(padded):
        lengths = lengths.copy()
        trimmed = pc.utf8_trim_whitespace(take_rows(ids, padded))
        lengths[padded] = pc.binary_length(trimmed).to_numpy(zero_copy_only=False)
    real = ~missing
    blank = real & (lengths == 0)
    reasons[blank] = BLANK
    # Lower-casing keeps the byte length of ASCII text; other text can shrink up to 3x
    # (Kelvin sign -> "k"), so non-ASCII ids up to 3x the longest placeholder are checked.
    longest = max((len(m.encode()) for m in marks), default=0)
    short = real & ~blank & (lengths <= longest)
    if shape.ascii is not None:
        short |= real & ~blank & ~shape.ascii & (lengths <= 3 * longest)
    where = np.flatnonzero(short)
    if len(where):
        everything = len(where) == n
        candidates = ids if everything else take_rows(ids, where)
        candidates = pc.utf8_trim_whitespace(candidates)
        all_ascii = shape.ascii is None or bool(shape.ascii[where].all())
        candidates = pc.ascii_lower(candidates) if all_ascii else pc.utf8_lower(candidates)
        hit = pc.is_in(candidates, value_set=pa.array(sorted(marks), type=candidates.type))
        hit_np = hit.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        reasons[where[hit_np]] = PLACEHOLDER
    return reasons, shape


def _placeholder_set(placeholders: Iterable[str] | None) -> frozenset[str]:
    if placeholders is None:
        return DEFAULT_PLACEHOLDERS
    if isinstance(placeholders, str):
        raise TypeError("placeholders must be a collection of strings, not a single string")
    return frozenset(str(p).strip().lower() for p in placeholders)


def without_anonymous(
    ids: pa.ChunkedArray, placeholders: Iterable[str] | None = None
) -> tuple[pa.ChunkedArray, dict[str, int]]:
    """The non-anonymous ids of canonical ``ids`` (in order), and how many anonymous ids
    there were per reason (``"missing"``, ``"blank"``, ``"placeholder"``)."""
    reasons = classify(ids, placeholders)
    counts = np.bincount(reasons, minlength=4)
    by_reason = {REASON_NAMES[code]: int(counts[code]) for code in REASON_NAMES}
    valid = ids if counts[OK] == len(ids) else ids.filter(pa.array(reasons == OK))
    return valid, by_reason


def anonymous_reasons(
    values: IdInput, *, placeholders: Iterable[str] | None = None, column: str | None = None
) -> pd.Series:
    """Why each id is anonymous: ``"missing"``, ``"blank"``, ``"placeholder"``, or missing (NA)
    for real ids. Same index as the input."""
    series = as_series(values)
    reasons = classify(to_arrow_ids(series, column=column or series_name(series)), placeholders)
    labels = np.array([None, "missing", "blank", "placeholder"], dtype=object)[reasons]
    return pd.Series(labels, index=series.index, name="reason", dtype="string")


def is_anonymous(
    values: IdInput, *, placeholders: Iterable[str] | None = None, column: str | None = None
) -> pd.Series:
    """Boolean Series: True where the id cannot identify a user (see module docs)."""
    series = as_series(values)
    reasons = classify(to_arrow_ids(series, column=column or series_name(series)), placeholders)
    return pd.Series(reasons != OK, index=series.index, name="is_anonymous")


@dataclass(frozen=True, repr=False)
class AnonymousReport:
    """What :func:`drop_anonymous` removed, and why."""

    column: str
    rows_in: int
    missing: int
    blank: int
    placeholder: int
    #: Up to ``examples`` dropped rows, with a ``reason`` column (first rows of each reason).
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def dropped(self) -> int:
        """Rows removed (anonymous users)."""
        return self.missing + self.blank + self.placeholder

    @property
    def rows_kept(self) -> int:
        """Rows left."""
        return self.rows_in - self.dropped

    def summary(self) -> pd.DataFrame:
        """Counts by reason, as a small DataFrame."""
        return pd.DataFrame(
            {
                "rows": [self.missing, self.blank, self.placeholder, self.dropped, self.rows_kept],
            },
            index=pd.Index(
                ["missing id", "blank id", "placeholder id", "dropped (anonymous)", "kept"],
                name=f"column {self.column!r}",
            ),
        )

    def __str__(self) -> str:
        return (
            f"dropped {self.dropped:,} anonymous of {self.rows_in:,} rows in column "
            f"{self.column!r} (missing {self.missing:,}, blank {self.blank:,}, "
            f"placeholder {self.placeholder:,}); kept {self.rows_kept:,}"
        )

    def __repr__(self) -> str:
        return f"AnonymousReport({self})"

    def _repr_html_(self) -> str:
        rows = [(label, f"{n:,}") for label, n in self.summary()["rows"].items()]
        return table_html(f"Anonymous users in {self.column!r}", rows, note=html.escape(str(self)))


@overload
def drop_anonymous(
    df: pd.DataFrame,
    id_col: str = ...,
    *,
    placeholders: Iterable[str] | None = ...,
    report: Literal[False] = ...,
) -> pd.DataFrame: ...
@overload
def drop_anonymous(
    df: pd.DataFrame,
    id_col: str = ...,
    *,
    placeholders: Iterable[str] | None = ...,
    report: Literal[True],
) -> tuple[pd.DataFrame, AnonymousReport]: ...
def drop_anonymous(
    df: pd.DataFrame,
    id_col: str = "uid",
    *,
    placeholders: Iterable[str] | None = None,
    report: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, AnonymousReport]:
    """Return a new DataFrame without anonymous users (rows whose id cannot be synced).

    Anonymous means a missing id, an empty or whitespace-only id, or a placeholder
    MoEngage never accepts as a user id (``placeholders``, default
    :data:`DEFAULT_PLACEHOLDERS`). The id column itself is left as it is.

    The counts are logged on the ``moecohort`` logger and kept in
    ``result.attrs["moecohort_anonymous"]``; pass ``report=True`` to also get an
    :class:`AnonymousReport` (with example rows): ``clean, rep = drop_anonymous(df, report=True)``.
    """
    require_column(df, id_col)
    ids = to_arrow_ids(df[id_col], column=id_col, frame=df)
    reasons = classify(ids, placeholders)
    rep = _report(df, id_col, reasons)
    kept = df.loc[reasons == OK].copy()
    kept.attrs["moecohort_anonymous"] = {
        "column": id_col,
        "missing": rep.missing,
        "blank": rep.blank,
        "placeholder": rep.placeholder,
    }
    log.info("%s", rep)
    return (kept, rep) if report else kept


def anonymous_report(
    df: pd.DataFrame,
    id_col: str = "uid",
    *,
    placeholders: Iterable[str] | None = None,
    examples: int = 10,
) -> AnonymousReport:
    """What :func:`drop_anonymous` would drop, without dropping anything."""
    require_column(df, id_col)
    reasons = classify(to_arrow_ids(df[id_col], column=id_col, frame=df), placeholders)
    return _report(df, id_col, reasons, examples=examples)


def _report(
    df: pd.DataFrame, id_col: str, reasons: np.ndarray, examples: int = 10
) -> AnonymousReport:
    counts = np.bincount(reasons, minlength=4)
    sample_pos = np.concatenate(
        [np.flatnonzero(reasons == code)[: max(1, examples // 3)] for code in REASON_NAMES]
    )[:examples]
    sample = df.iloc[np.sort(sample_pos)].copy()
    sample.insert(0, "reason", [REASON_NAMES[int(r)] for r in reasons[np.sort(sample_pos)]])
    return AnonymousReport(
        column=id_col,
        rows_in=len(df),
        missing=int(counts[MISSING]),
        blank=int(counts[BLANK]),
        placeholder=int(counts[PLACEHOLDER]),
        examples=sample,
    )
