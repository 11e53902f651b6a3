"""Identifier hygiene: one canonical text form for user ids, and anonymous users.

MoEngage matches users by ``uid`` exactly, so the canonical form never trims or
case-folds text. Numbers are rendered the way a person would type them: ints as
decimals, and floats with integral values (what pandas makes of an int column
with gaps) as ints, so ``1004821.0`` and ``"1004821"`` are the same user.

Everything here is vectorised with pyarrow (pandas' own string engine), so it
stays fast on millions of ids and works the same under pandas 2.2 and 3.x.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._constants import PLACEHOLDER_IDS
from .errors import InputError

__all__ = [
    "DEFAULT_PLACEHOLDERS",
    "AnonymousReport",
    "anonymous_reasons",
    "anonymous_report",
    "canonical_ids",
    "drop_anonymous",
    "is_anonymous",
]

log = logging.getLogger("moecohort")

#: Values MoEngage never accepts as a user id (compared case-insensitively after
#: trimming). Pass ``placeholders=DEFAULT_PLACEHOLDERS | {"test"}`` to extend it.
DEFAULT_PLACEHOLDERS: frozenset[str] = PLACEHOLDER_IDS

# Reason codes, per row. OK rows are sent; the others are anonymous.
OK, MISSING, BLANK, PLACEHOLDER = 0, 1, 2, 3
REASON_NAMES = {MISSING: "missing", BLANK: "blank", PLACEHOLDER: "placeholder"}

# Floats from this on are not exact integers any more: 2**53 + 1 reads back as 2**53.
_MAX_EXACT_FLOAT = 2.0**53


def _exact_float_limit(dtype: Any) -> float:
    """2**(mantissa bits + 1) of a float dtype: 2**53 for float64, 2**24 for float32."""
    try:
        return 2.0 ** (np.finfo(np.dtype(getattr(dtype, "numpy_dtype", dtype))).nmant + 1)
    except (TypeError, ValueError):
        return _MAX_EXACT_FLOAT


IdInput = Any  # a Series, an Index, an array, a pyarrow array or any iterable of ids


# --------------------------------------------------------------------------- canonical form
def canonical_ids(values: IdInput, *, column: str | None = None) -> pd.Series:
    """Return the canonical text form of each id, as a pandas string Series.

    Missing values (None, NaN, NA, NaT) stay missing. Text is kept exactly as
    it is; ints become decimals; integral floats become ints (``123.0`` ->
    ``"123"``). Non-integral floats, booleans and other objects raise
    :class:`~moecohort.InputError` naming the column and an example row.

    >>> canonical_ids(pd.Series([1004821.0, None, 17.0])).tolist()
    ['1004821', <NA>, '17']
    """
    series = _as_series(values)
    ids = to_arrow_ids(series, column=column or _series_name(series))
    return pd.Series(_string_array(ids), index=series.index, name=series.name)


def to_arrow_ids(
    values: IdInput, *, column: str = "uid", frame: pd.DataFrame | None = None
) -> pa.ChunkedArray:
    """Canonical ids as a pyarrow string ChunkedArray (nulls where missing).

    This is the fast path every other module uses. ``frame`` is only used to
    attach the offending rows to an :class:`InputError`.
    """
    series = values if isinstance(values, pd.Series) else _as_series(values)
    dtype = series.dtype

    if isinstance(dtype, pd.ArrowDtype) and _is_string_view(dtype.pyarrow_dtype):
        # Polars' text type; pandas' own type checks do not know it yet.
        return _chunked(pa.array(series.array)).cast(pa.large_string())
    if isinstance(dtype, pd.CategoricalDtype):
        try:
            cats = to_arrow_ids(pd.Series(dtype.categories), column=column)
        except InputError:  # name the row at fault, not the category's position
            return to_arrow_ids(series.astype(object), column=column, frame=frame)
        codes = pa.array(series.cat.codes.to_numpy(), mask=series.isna().to_numpy())
        return pa.chunked_array([cats.combine_chunks().take(codes)])
    if pd.api.types.is_bool_dtype(dtype):
        _raise_bad(series, column, frame, series.notna().to_numpy(), "a boolean")
    if pd.api.types.is_integer_dtype(dtype):
        return _chunked(pa.array(series, from_pandas=True).cast(pa.string()))
    if pd.api.types.is_float_dtype(dtype):
        return _from_floats(series, column, frame)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return _chunked(pa.array(series, from_pandas=True))
    if pd.api.types.is_object_dtype(dtype):
        return _from_objects(series, column, frame)
    if isinstance(dtype, pd.ArrowDtype):
        if pa.types.is_dictionary(dtype.pyarrow_dtype):
            # A categorical column read with dtype_backend="pyarrow": decode, then as usual.
            decoded = _chunked(pa.array(series.array)).cast(dtype.pyarrow_dtype.value_type)
            plain = pd.Series(pd.arrays.ArrowExtensionArray(decoded), index=series.index)
            return to_arrow_ids(plain, column=column, frame=frame)
        arr = _chunked(pa.array(series))
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr
        if pa.types.is_integer(arr.type):
            return _chunked(arr.cast(pa.string()))
        if pa.types.is_floating(arr.type):
            return _from_floats(series, column, frame)
    if series.isna().all():
        return _chunked(pa.nulls(len(series), pa.string()))
    _raise_bad(series, column, frame, series.notna().to_numpy(), f"a value of type {dtype}")
    raise AssertionError("unreachable")  # pragma: no cover


def _from_floats(series: pd.Series, column: str, frame: pd.DataFrame | None) -> pa.ChunkedArray:
    x = series.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        bad = present & (~np.isfinite(x) | (np.floor(x) != x))
    if bad.any():
        _raise_bad(series, column, frame, bad, "a number with a fractional part")
    huge = present & (np.abs(np.where(present, x, 0.0)) >= _exact_float_limit(series.dtype))
    if huge.any():
        _raise_bad(
            series,
            column,
            frame,
            huge,
            "a number too large to be stored exactly as a float (pandas has already rounded it)",
        )
    ints = pa.array(np.where(present, x, 0.0).astype("int64"), mask=~present)
    return _chunked(ints.cast(pa.string()))


def _from_objects(series: pd.Series, column: str, frame: pd.DataFrame | None) -> pa.ChunkedArray:
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        arr = None
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return _chunked(arr)
        if pa.types.is_integer(arr.type):
            return _chunked(arr.cast(pa.string()))
        if pa.types.is_null(arr.type):
            return _chunked(pa.nulls(len(series), pa.string()))
    # Mixed types (text and numbers, big ints, floats next to ints): one exact pass in Python.
    out: list[str | None] = []
    append = out.append
    for pos, value in enumerate(series.array):
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    _raise_at(series, column, frame, pos, "text that is not valid Unicode")
            append(value)
        elif value is None or value is pd.NA or value is pd.NaT:
            append(None)
        elif isinstance(value, (bool, np.bool_)):
            _raise_at(series, column, frame, pos, "a boolean")
        elif isinstance(value, (int, np.integer)):
            append(str(int(value)))
        elif isinstance(value, (float, np.floating)):
            f = float(value)
            if f != f:  # NaN
                append(None)
            elif not np.isfinite(f) or not f.is_integer():
                _raise_at(series, column, frame, pos, "a number with a fractional part")
            elif abs(f) >= _exact_float_limit(getattr(value, "dtype", None)):
                _raise_at(series, column, frame, pos, "a number too large to be stored exactly")
            else:
                append(str(int(f)))
        else:
            _raise_at(series, column, frame, pos, f"a {type(value).__name__}")
    return _chunked(pa.array(out, type=pa.string()))


def _raise_bad(
    series: pd.Series, column: str, frame: pd.DataFrame | None, bad: np.ndarray, what: str
) -> None:
    positions = np.flatnonzero(bad)
    _raise_at(series, column, frame, int(positions[0]), what, count=len(positions))


def _raise_at(
    series: pd.Series,
    column: str,
    frame: pd.DataFrame | None,
    pos: int,
    what: str,
    count: int | None = None,
) -> None:
    label = series.index[pos]
    if isinstance(label, np.generic):  # "row 11", not "row np.int64(11)"
        label = label.item()
    value = series.iloc[pos]
    if isinstance(value, np.generic):
        value = value.item()
    rows = frame.iloc[[pos]] if frame is not None else series.iloc[[pos]].to_frame()
    more = f" ({count:,} such rows)" if count and count > 1 else ""
    raise InputError(
        f"Column {column!r} holds {what}: {value!r} at row {label!r}{more}. "
        "A user id must be text or a whole number; fix the value, or read the column "
        f"as text (for example pd.read_csv(..., dtype={{{column!r}: str}})).",
        column=column,
        rows=rows,
    )


# --------------------------------------------------------------------------- anonymous users
def classify(ids: pa.ChunkedArray, placeholders: Iterable[str] | None = None) -> np.ndarray:
    """Reason code per id: 0 (a real id), 1 missing, 2 blank, 3 placeholder.

    Only ids that could be blank or a placeholder are trimmed and lower-cased. The
    others are told apart by their byte length and their first and last bytes, read
    from the Arrow buffers without copying, so a column of real ids costs one cheap pass.
    """
    return _classify(ids, placeholders)[0]


def _classify(
    ids: pa.Array | pa.ChunkedArray, placeholders: Iterable[str] | None = None
) -> tuple[np.ndarray, _Shape]:
    """:func:`classify`, with the shape of the ids (for callers that need it too)."""
    marks = _placeholder_set(placeholders)
    ids = _text_chunks(ids)
    n = len(ids)
    reasons = np.zeros(n, dtype=np.int8)
    shape = _shape(ids)
    missing = shape.missing
    reasons[missing] = MISSING
    lengths = shape.lengths
    # Ids that may start or end with whitespace (or a non-ASCII character): trim those.
    padded = np.flatnonzero(_MAY_TRIM[shape.first] | _MAY_TRIM[shape.last])
    if len(padded):
        lengths = lengths.copy()
        trimmed = pc.utf8_trim_whitespace(_take_rows(ids, padded))
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
        candidates = ids if everything else _take_rows(ids, where)
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


def _without_anonymous(
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
    series = _as_series(values)
    reasons = classify(to_arrow_ids(series, column=column or _series_name(series)), placeholders)
    labels = np.array([None, "missing", "blank", "placeholder"], dtype=object)[reasons]
    return pd.Series(labels, index=series.index, name="reason", dtype="string")


def is_anonymous(
    values: IdInput, *, placeholders: Iterable[str] | None = None, column: str | None = None
) -> pd.Series:
    """Boolean Series: True where the id cannot identify a user (see module docs)."""
    series = _as_series(values)
    reasons = classify(to_arrow_ids(series, column=column or _series_name(series)), placeholders)
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
        from ._html import table_html

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


# --------------------------------------------------------------------------- near misses
def normalise_for_near_miss(ids: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The loose key used to find near misses: trimmed, NFC-normalised, lower-cased.

    Never used for matching, only to point out ids that differ by those alone.
    """
    if len(ids) and pc.all(pc.string_is_ascii(ids)).as_py():
        # utf8 trim: ASCII \x1c-\x1f are whitespace too (str.strip, classify), not for ascii_trim.
        return pc.ascii_lower(pc.utf8_trim_whitespace(ids))
    return pc.utf8_lower(pc.utf8_normalize(pc.utf8_trim_whitespace(ids), "NFC"))


def near_miss_changes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per id, whether :func:`normalise_for_near_miss` would change it (False when missing).

    Without normalising every id: ASCII ids change only when they start or end with
    whitespace or hold an upper-case letter, so only non-ASCII ids are normalised.
    """
    ids = _text_chunks(ids)
    return _near_miss_changes(ids, _shape(ids))


def _near_miss_changes(ids: pa.ChunkedArray, shape: _Shape) -> np.ndarray:
    changed = _ASCII_SPACE[shape.first]
    changed |= _ASCII_SPACE[shape.last]
    # Upper-case letters: a fast byte scan of each slice of rows, and only where the scan
    # finds one, the exact per-id comparison with its lower-cased copy.
    stop = 0
    for chunk in ids.chunks:
        start, stop = stop, stop + len(chunk)
        if start == stop:
            continue
        offsets, data = _chunk_bytes(chunk)
        for lo in range(0, len(chunk), _SLICE_ROWS):
            hi = min(lo + _SLICE_ROWS, len(chunk))
            if not _has_ascii_upper(data[offsets[lo] : offsets[hi]]):
                continue
            piece = chunk.slice(lo, hi - lo)
            upper = pc.not_equal(pc.ascii_lower(piece), piece).fill_null(False)
            changed[start + lo : start + hi] |= upper.to_numpy(zero_copy_only=False)
    if shape.ascii is not None:
        other = np.flatnonzero(~shape.ascii & ~changed)
        if len(other):
            sub = _take_rows(ids, other)
            differs = pc.not_equal(normalise_for_near_miss(sub), sub).fill_null(False)
            changed[other] = differs.to_numpy(zero_copy_only=False)
    changed[shape.missing] = False
    return changed


def _has_ascii_upper(data: np.ndarray) -> bool:
    """Whether any byte is an ASCII capital letter (A-Z)."""
    if not data.size:
        return False
    shifted = np.subtract(data, np.uint8(ord("A")), dtype=np.uint8)  # A-Z -> 0-25, wraps
    return bool((shifted < 26).any())


def near_miss_kind(a: str, b: str) -> str:
    """Describe what separates two ids that share a loose key, e.g. ``"whitespace+case"``."""
    import unicodedata

    kinds = []
    a2, b2 = a.strip(), b.strip()
    # Whitespace both ids share (" x" and " X") does not separate them; neither does one form.
    if (a[: len(a) - len(a.lstrip())], a[len(a.rstrip()) :]) != (
        b[: len(b) - len(b.lstrip())],
        b[len(b.rstrip()) :],
    ):
        kinds.append("whitespace")
    if a2.lower() != b2.lower():
        kinds.append("unicode")
    if unicodedata.normalize("NFC", a2) != unicodedata.normalize("NFC", b2):
        kinds.append("case")
    return "+".join(kinds) or "identical"


# --------------------------------------------------------------------------- helpers
def require_column(
    df: pd.DataFrame,
    column: str,
    *,
    param: str = "id_col",
    where: str = "The frame",
    suggest: Callable[[Any], str] | None = None,
) -> None:
    """Raise :class:`InputError` naming the available columns when ``column`` is absent
    (or appears more than once).

    ``param`` is the argument the user should change; ``where`` names the frame;
    ``suggest`` turns a likely column into the argument to write (default
    ``param=column``).
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"Expected a pandas DataFrame, got {type(df).__name__}.")
    if column in df.columns and isinstance(df[column], pd.DataFrame):
        n = int((df.columns == column).sum())
        raise InputError(
            f"Column {column!r} appears {n} times in {where.lower()}; keep one, for example "
            "df.loc[:, ~df.columns.duplicated()].",
            column=column,
        )
    if column not in df.columns:
        cols = ", ".join(repr(c) for c in df.columns[:30])
        more = f" and {len(df.columns) - 30} more" if len(df.columns) > 30 else ""
        hint = ""
        lowered = {str(c).strip().lower(): c for c in df.columns}
        for guess in (str(column).lower(), "id", "uid", "customer_id", "user_id"):
            if guess in lowered:
                written = suggest(lowered[guess]) if suggest else f"{param}={lowered[guess]!r}"
                hint = f" Did you mean {written}?"
                break
        raise InputError(
            f"Column {column!r} not found. {where} has: {cols or '(no columns)'}{more}.{hint}",
            column=column,
        )


def _as_series(values: IdInput) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise InputError("Expected ids (a Series, Index or list), got a DataFrame; pick a column.")
    if isinstance(values, pd.Index):
        return values.to_series(index=pd.RangeIndex(len(values)))
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pd.Series(values.to_pandas(types_mapper=pd.ArrowDtype))
    if isinstance(values, np.ndarray):
        return pd.Series(values)
    if isinstance(values, (str, bytes)):
        raise InputError("Expected a collection of ids, got a single string.")
    return pd.Series(list(values), dtype=object)


def _series_name(series: pd.Series) -> str:
    return str(series.name) if series.name is not None else "uid"


def _is_string_view(arrow_type: pa.DataType) -> bool:
    # pyarrow >= 16; older versions have no string_view type at all.
    return getattr(pa.types, "is_string_view", lambda _: False)(arrow_type)


def _chunked(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])


def _string_array(ids: pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Wrap canonical ids as a pandas string array without copying."""
    if not pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.large_string())
    return pd.arrays.ArrowStringArray(ids)


def string_index(ids: pa.Array | pa.ChunkedArray, name: str | None = None) -> pd.Index:
    """A pandas Index over canonical ids (pyarrow-backed, no copy)."""
    return pd.Index(_string_array(_chunked(ids)), name=name)


# --------------------------------------------------------------------------- byte-level views
# Bytes str.strip() and pyarrow's utf8_trim_whitespace remove at the ends of ASCII text.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# A first or last byte after which trimming may change an id: ASCII whitespace, or any
# non-ASCII byte (all Unicode whitespace is non-ASCII).
_MAY_TRIM = _ASCII_SPACE.copy()
_MAY_TRIM[0x80:] = True
_NO_BYTES = np.zeros(0, dtype=np.uint8)
_SLICE_ROWS = 1 << 20


class _Shape(NamedTuple):
    """Per id, read from the Arrow buffers: byte length, first and last byte (0 when
    empty or missing), whether it is missing, and whether it is ASCII (None: all are)."""

    lengths: np.ndarray
    first: np.ndarray
    last: np.ndarray
    missing: np.ndarray
    ascii: np.ndarray | None


def _text_chunks(ids: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """``ids`` as a ChunkedArray of string or large_string (string_view is cast)."""
    ids = _chunked(ids)
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.large_string())
    return ids


def _take_rows(ids: pa.ChunkedArray, positions: np.ndarray) -> pa.ChunkedArray:
    """Rows at ``positions`` (ascending), chunk by chunk: ``ChunkedArray.take`` would
    first concatenate every chunk, a copy of the whole column."""
    starts = np.zeros(ids.num_chunks + 1, dtype=np.int64)
    np.cumsum([len(c) for c in ids.chunks], out=starts[1:])
    cuts = np.searchsorted(positions, starts)
    out = []
    for i, chunk in enumerate(ids.chunks):
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        if hi == lo:
            continue
        if hi - lo == len(chunk):
            out.append(chunk)  # every row: nothing to copy
        else:
            out.append(chunk.take(pa.array(positions[lo:hi] - starts[i])))
    return pa.chunked_array(out, type=ids.type)


def _chunk_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (len + 1) and data bytes of a non-empty string chunk, without copying."""
    _, offsets_buf, data_buf = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else _NO_BYTES
    return offsets, data


def _shape(ids: pa.ChunkedArray) -> _Shape:
    n = len(ids)
    lengths = np.zeros(n, dtype=np.int64)
    first = np.zeros(n, dtype=np.uint8)
    last = np.zeros(n, dtype=np.uint8)
    missing = np.zeros(n, dtype=bool)
    ascii_rows: np.ndarray | None = None
    stop = 0
    for chunk in ids.chunks:
        start, stop = stop, stop + len(chunk)
        if start == stop:
            continue
        offsets, data = _chunk_bytes(chunk)
        np.subtract(offsets[1:], offsets[:-1], out=lengths[start:stop])
        if chunk.null_count:
            missing[start:stop] = chunk.is_null().to_numpy(zero_copy_only=False)
        if not data.size:
            continue
        np.take(data, offsets[:-1], mode="clip", out=first[start:stop])
        np.take(data, offsets[1:] - 1, mode="clip", out=last[start:stop])
        if data[offsets[0] : offsets[-1]].max(initial=0) >= 0x80:
            if ascii_rows is None:
                ascii_rows = np.ones(n, dtype=bool)
            is_ascii = pc.string_is_ascii(chunk).fill_null(True)
            ascii_rows[start:stop] = is_ascii.to_numpy(zero_copy_only=False)
    if missing.any():
        lengths[missing] = 0
    empty = lengths == 0
    if empty.any():
        first[empty] = 0
        last[empty] = 0
    return _Shape(lengths, first, last, missing, ascii_rows)
