"""The canonical text form of user ids.

MoEngage matches users by ``uid`` exactly, so the canonical form never trims or
case-folds text. Numbers are rendered the way a person would type them: ints as
decimals, and floats with integral values (what pandas makes of an int column
with gaps) as ints, so ``1004821.0`` and ``"1004821"`` are the same user.

Everything here is vectorised with pyarrow (pandas' own string engine), so it
stays fast on millions of ids and works the same under pandas 2.2 and 3.x.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ._arrow import as_chunked, is_string_view, string_array

__all__ = ["IdInput", "arrow_ids", "as_series", "canonical_ids", "series_name", "to_arrow_ids"]

# Floats from this on are not exact integers any more: 2**53 + 1 reads back as 2**53.
_MAX_EXACT_FLOAT = 2.0**53


def _exact_float_limit(dtype: Any) -> float:
    """2**(mantissa bits + 1) of a float dtype: 2**53 for float64, 2**24 for float32."""
    try:
        return 2.0 ** (np.finfo(np.dtype(getattr(dtype, "numpy_dtype", dtype))).nmant + 1)
    except (TypeError, ValueError):
        return _MAX_EXACT_FLOAT


IdInput = Any  # a Series, an Index, an array, a pyarrow array or any iterable of ids


def canonical_ids(values: IdInput, *, column: str | None = None) -> pd.Series:
    """Return the canonical text form of each id, as a pandas string Series.

    Missing values (None, NaN, NA, NaT) stay missing. Text is kept exactly as
    it is; ints become decimals; integral floats become ints (``123.0`` ->
    ``"123"``). Non-integral floats, booleans and other objects raise
    :class:`~moecohort.InputError` naming the column and an example row.

    >>> canonical_ids(pd.Series([1004821.0, None, 17.0])).tolist()
    ['1004821', <NA>, '17']
    """
    series = as_series(values)
    ids = to_arrow_ids(series, column=column or series_name(series))
    return pd.Series(string_array(ids), index=series.index, name=series.name)


def to_arrow_ids(
    values: IdInput, *, column: str = "uid", frame: pd.DataFrame | None = None
) -> pa.ChunkedArray:
    """Canonical ids as a pyarrow string ChunkedArray (nulls where missing).

    This is the fast path every other module uses. ``frame`` is only used to
    attach the offending rows to an :class:`InputError`. Arrow arrays are read as
    Arrow (:func:`arrow_ids`), never through pandas.
    """
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return arrow_ids(values, column=column)
    series = values if isinstance(values, pd.Series) else as_series(values)
    dtype = series.dtype

    if isinstance(dtype, pd.ArrowDtype) and is_string_view(dtype.pyarrow_dtype):
        # Polars' text type; pandas' own type checks do not know it yet.
        return as_chunked(pa.array(series.array)).cast(pa.large_string())
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
        return as_chunked(pa.array(series, from_pandas=True).cast(pa.string()))
    if pd.api.types.is_float_dtype(dtype):
        return _from_floats(series, column, frame)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return as_chunked(pa.array(series, from_pandas=True))
    if pd.api.types.is_object_dtype(dtype):
        return _from_objects(series, column, frame)
    if isinstance(dtype, pd.ArrowDtype):
        if pa.types.is_dictionary(dtype.pyarrow_dtype):
            # A categorical column read with dtype_backend="pyarrow": decode, then as usual.
            decoded = as_chunked(pa.array(series.array)).cast(dtype.pyarrow_dtype.value_type)
            plain = pd.Series(pd.arrays.ArrowExtensionArray(decoded), index=series.index)
            return to_arrow_ids(plain, column=column, frame=frame)
        arr = as_chunked(pa.array(series))
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr
        if pa.types.is_integer(arr.type):
            return as_chunked(arr.cast(pa.string()))
        if pa.types.is_floating(arr.type):
            return _from_floats(series, column, frame)
    if series.isna().all():
        return as_chunked(pa.nulls(len(series), pa.string()))
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
    return as_chunked(ints.cast(pa.string()))


def _from_objects(series: pd.Series, column: str, frame: pd.DataFrame | None) -> pa.ChunkedArray:
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        arr = None
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return as_chunked(arr)
        if pa.types.is_integer(arr.type):
            return as_chunked(arr.cast(pa.string()))
        if pa.types.is_null(arr.type):
            return as_chunked(pa.nulls(len(series), pa.string()))
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
    return as_chunked(pa.array(out, type=pa.string()))


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


# --------------------------------------------------------------------------- Arrow columns
def arrow_ids(
    values: pa.Array | pa.ChunkedArray, *, column: str = "uid", first_row: int = 0
) -> pa.ChunkedArray:
    """Canonical ids of an Arrow column (string, string_view, dictionary, integer,
    floating, decimal or null), by the rules of :func:`to_arrow_ids` and without pandas.

    Text is kept as it is (string_view, Polars' text type, becomes large_string); ints
    become decimals, integral floats ints, NaN missing; decimals with no fractional part
    are ints too (DuckDB's HUGEINT arrives as a decimal). Anything else (booleans, dates,
    binary, non-integral numbers) is an :class:`InputError` naming the column and the
    row (counted from ``first_row``, where a stream read in pieces passes the piece's start).
    """
    ids = as_chunked(values)
    kind = ids.type
    if pa.types.is_dictionary(kind):
        return _arrow_dictionary(ids, column, first_row)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ids
    if is_string_view(kind):
        return ids.cast(pa.large_string())
    if pa.types.is_integer(kind):
        return ids.cast(pa.string())
    if pa.types.is_floating(kind):
        return _arrow_floats(ids, column, first_row)
    if pa.types.is_decimal(kind):
        return _arrow_decimals(ids, column, first_row)
    if ids.null_count == len(ids):  # the null type, or a column of nothing but nulls
        return pa.chunked_array([pa.nulls(len(ids), pa.string())])
    what = "a boolean" if pa.types.is_boolean(kind) else f"a value of type {kind}"
    _raise_arrow(ids, column, first_row, ids.is_valid(), what)
    raise AssertionError("unreachable")  # pragma: no cover


def _arrow_dictionary(ids: pa.ChunkedArray, column: str, first_row: int) -> pa.ChunkedArray:
    """A categorical column: its distinct values made canonical once, then looked up."""
    chunks, start = [], first_row
    for chunk in ids.chunks:
        try:
            values = arrow_ids(chunk.dictionary, column=column).combine_chunks()
        except InputError:  # name the row at fault, not the value's place in the dictionary
            arrow_ids(chunk.dictionary.take(chunk.indices), column=column, first_row=start)
            raise
        chunks.append(values.take(chunk.indices))
        start += len(chunk)
    return pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.string())


def _arrow_floats(ids: pa.ChunkedArray, column: str, first_row: int) -> pa.ChunkedArray:
    x = np.concatenate(
        [c.to_numpy(zero_copy_only=False).astype("float64", copy=False) for c in ids.chunks]
        or [np.zeros(0)]
    )
    present = ~np.isnan(x)  # nulls read as NaN, and NaN is missing as in pandas
    with np.errstate(invalid="ignore"):
        bad = present & (~np.isfinite(x) | (np.floor(x) != x))
    if bad.any():
        _raise_arrow(ids, column, first_row, bad, "a number with a fractional part")
    limit = _exact_float_limit(ids.type.to_pandas_dtype())
    huge = present & (np.abs(np.where(present, x, 0.0)) >= limit)
    if huge.any():
        _raise_arrow(
            ids, column, first_row, huge, "a number too large to be stored exactly as a float"
        )
    ints = pa.array(np.where(present, x, 0.0).astype("int64"), mask=~present)
    return as_chunked(ints.cast(pa.string()))


def _arrow_decimals(ids: pa.ChunkedArray, column: str, first_row: int) -> pa.ChunkedArray:
    whole = pa.decimal128(38, 0) if ids.type.precision <= 38 else pa.decimal256(76, 0)
    try:
        return ids.cast(whole).cast(pa.string())  # a safe cast refuses to drop a fraction
    except pa.ArrowInvalid:
        pass
    fraction = [c.cast(whole, safe=False) for c in ids.chunks]
    bad = pc.fill_null(pc.not_equal(pa.chunked_array(fraction).cast(ids.type), ids), False)
    _raise_arrow(ids, column, first_row, bad, "a number with a fractional part")
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_arrow(
    ids: pa.ChunkedArray,
    column: str,
    first_row: int,
    bad: np.ndarray | pa.ChunkedArray | pa.Array,
    what: str,
) -> None:
    """The :class:`InputError` for the first row of ``ids`` where ``bad`` is true."""
    if not isinstance(bad, np.ndarray):
        bad = as_chunked(bad).to_numpy().astype(bool)
    positions = np.flatnonzero(bad)
    pos = int(positions[0])
    value = ids[pos].as_py()
    row = first_row + pos
    more = f" ({len(positions):,} such rows)" if len(positions) > 1 else ""
    raise InputError(
        f"Column {column!r} holds {what}: {value!r} at row {row!r}{more}. "
        "A user id must be text or a whole number; fix the value, or cast the column to "
        "text first.",
        column=column,
        rows=pd.DataFrame({column: [value]}, index=[row]),
    )


def as_series(values: IdInput) -> pd.Series:
    """Ids of any supported container as a pandas Series (a DataFrame is refused)."""
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


def series_name(series: pd.Series) -> str:
    """The name to call a Series' ids by in messages (``"uid"`` when it has none)."""
    return str(series.name) if series.name is not None else "uid"
