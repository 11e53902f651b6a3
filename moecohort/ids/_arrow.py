"""Byte-level views of Arrow string arrays: a named internal API.

Used by :mod:`moecohort.ids` (classifying ids from their bytes), :mod:`moecohort.matching`
(near misses, the engines, cutting the report's Indexes) and :mod:`moecohort.delivery`
(failed users as a pandas column). Nothing here copies strings unless it says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ASCII_SPACE",
    "MAY_TRIM",
    "SLICE_ROWS",
    "ChunkBytes",
    "Shape",
    "as_chunked",
    "chunk_bytes",
    "chunks_with_bytes",
    "has_ascii_upper",
    "is_string_view",
    "shape_of",
    "string_array",
    "string_index",
    "take_rows",
    "text_chunks",
]


def is_string_view(arrow_type: pa.DataType) -> bool:
    """Whether ``arrow_type`` is Arrow's string_view (Polars' text type)."""
    # pyarrow >= 16; older versions have no string_view type at all.
    checker: Any = getattr(pa.types, "is_string_view", None)
    return bool(checker(arrow_type)) if checker is not None else False


def as_chunked(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """``arr`` as a ChunkedArray (a plain array becomes its only chunk)."""
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])


def string_array(ids: pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Wrap canonical ids as a pandas string array without copying."""
    if not pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.large_string())
    return pd.arrays.ArrowStringArray(ids)


def string_index(ids: pa.Array | pa.ChunkedArray, name: Any = None) -> pd.Index:
    """A pandas Index over canonical ids (pyarrow-backed, no copy)."""
    return pd.Index(string_array(as_chunked(ids)), name=name)


# --------------------------------------------------------------------------- byte views
# Bytes str.strip() and pyarrow's utf8_trim_whitespace remove at the ends of ASCII text.
ASCII_SPACE = np.zeros(256, dtype=bool)
ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# A first or last byte after which trimming may change an id: ASCII whitespace, or any
# non-ASCII byte (all Unicode whitespace is non-ASCII).
MAY_TRIM = ASCII_SPACE.copy()
MAY_TRIM[0x80:] = True
_NO_BYTES = np.zeros(0, dtype=np.uint8)
SLICE_ROWS = 1 << 20


class Shape(NamedTuple):
    """Per id, read from the Arrow buffers: byte length, first and last byte (0 when
    empty or missing), whether it is missing, and whether it is ASCII (None: all are)."""

    lengths: np.ndarray
    first: np.ndarray
    last: np.ndarray
    missing: np.ndarray
    ascii: np.ndarray | None


def text_chunks(ids: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """``ids`` as a ChunkedArray of string or large_string (string_view is cast)."""
    ids = as_chunked(ids)
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.large_string())
    return ids


def take_rows(ids: pa.ChunkedArray, positions: np.ndarray) -> pa.ChunkedArray:
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


def chunk_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (len + 1) and data bytes of a non-empty string chunk, without copying."""
    _, offsets_buf, data_buf = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else _NO_BYTES
    return offsets, data


class ChunkBytes(NamedTuple):
    """One non-empty chunk of a column, where its rows start and stop in the column, and
    its offsets and data bytes (as :func:`chunk_bytes` gives them)."""

    start: int
    stop: int
    chunk: pa.Array
    offsets: np.ndarray
    data: np.ndarray


def chunks_with_bytes(ids: pa.ChunkedArray) -> Iterator[ChunkBytes]:
    """The non-empty chunks of ``ids`` with their row span and bytes, without copying."""
    stop = 0
    for chunk in ids.chunks:
        start, stop = stop, stop + len(chunk)
        if start != stop:
            yield ChunkBytes(start, stop, chunk, *chunk_bytes(chunk))


def shape_of(ids: pa.ChunkedArray) -> Shape:
    """The :class:`Shape` of text ids, read from their buffers."""
    n = len(ids)
    lengths = np.zeros(n, dtype=np.int64)
    first = np.zeros(n, dtype=np.uint8)
    last = np.zeros(n, dtype=np.uint8)
    missing = np.zeros(n, dtype=bool)
    ascii_rows: np.ndarray | None = None
    for start, stop, chunk, offsets, data in chunks_with_bytes(ids):
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
    return Shape(lengths, first, last, missing, ascii_rows)


def has_ascii_upper(data: np.ndarray) -> bool:
    """Whether any byte is an ASCII capital letter (A-Z)."""
    if not data.size:
        return False
    shifted = np.subtract(data, np.uint8(ord("A")), dtype=np.uint8)  # A-Z -> 0-25, wraps
    return bool((shifted < 26).any())
