"""pyarrow engine for :func:`moecohort.overlap` (``engine="pyarrow"``, always available).

pyarrow's dictionary encoding hands out one code per distinct id, in order of first
appearance: the first row of each id and whether a destination row has it follow from
the codes. On large inputs the rows are split by a cheap hash of their bytes into
partitions encoded on every core.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...ids._arrow import Shape, take_rows
from ..columns import valid_rows

__all__ = ["presence"]


def presence(
    s_ids: pa.ChunkedArray,
    d_ids: pa.ChunkedArray,
    s_shape: Shape,
    d_shape: Shape,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct non-null id (in no particular order): the position of its first row,
    counting the source's rows then the destination's, and whether the destination has
    it. With ``workers`` > 1 the ids are split into hash partitions encoded in parallel
    (``s_shape`` and ``d_shape``, the sides' :class:`Shape`, give the hash)."""
    n_s = len(s_ids)
    ids = _concat(s_ids, d_ids)
    if workers < 2:
        return _encode(ids, None, n_s)
    # Split the rows by a cheap hash of their bytes (equal ids land in the same part), and
    # encode the parts on every core. Two parts per worker even out unequal parts; more
    # would cost more in copying the strings out than they gain in cache hits.
    n_parts = 2 * workers
    part = _partition_keys(s_shape, d_shape, n_parts)
    if ids.null_count:
        part[~valid_rows(ids)] = n_parts  # anonymous rows: in no part

    def encode_part(j: int) -> tuple[np.ndarray, np.ndarray]:
        positions = np.flatnonzero(part == j)
        return _encode(take_rows(ids, positions), positions, n_s)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(encode_part, range(n_parts)))
    return (
        np.concatenate([first for first, _ in results]),
        np.concatenate([in_d for _, in_d in results]),
    )


def _partition_keys(s_shape: Shape, d_shape: Shape, n_parts: int) -> np.ndarray:
    """A part number per row, below ``n_parts``, from its length, first and last byte."""
    lengths = np.concatenate([s_shape.lengths, d_shape.lengths]).astype(np.uint32)
    first = np.concatenate([s_shape.first, d_shape.first]).astype(np.uint32)
    last = np.concatenate([s_shape.last, d_shape.last]).astype(np.uint32)
    mixed = (first << 16) | (last << 8) | (lengths & 0xFF)
    mixed *= np.uint32(0x9E3779B1)  # Fibonacci hashing: the top bits mix every input bit
    return ((mixed >> np.uint32(16)) % np.uint32(n_parts)).astype(np.uint16)


def _encode(
    ids: pa.ChunkedArray, positions: np.ndarray | None, n_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """First row and destination presence of each distinct id of ``ids``. ``positions``
    are the rows' positions (ascending) in both sides; None when ``ids`` is all the rows."""
    encoded = pc.dictionary_encode(ids)
    codes = np.concatenate(
        [_codes(chunk) for chunk in encoded.chunks] or [np.zeros(0, dtype=np.int32)]
    )
    rows = None
    if ids.null_count:
        rows = np.flatnonzero(valid_rows(ids))
        codes = codes[rows]
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    # Codes are handed out in order of first appearance: a row brings a new code when its
    # code is larger than every code before it.
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    np.greater(codes[1:], np.maximum.accumulate(codes)[:-1], out=new[1:])
    first = np.flatnonzero(new)
    where = rows if rows is not None else positions
    if rows is not None and positions is not None:
        where = positions[rows]
    if where is not None:
        first = where[first]
        split = int(np.searchsorted(where, n_s))
    else:
        split = n_s
    in_d = np.zeros(len(first), dtype=bool)  # one code per distinct id, 0, 1, 2, ...
    in_d[codes[split:]] = True
    return first.astype(np.int64, copy=False), in_d


def _codes(chunk: pa.DictionaryArray) -> np.ndarray:
    """The dictionary indices of a chunk as numpy, without copying (undefined under nulls)."""
    indices = chunk.indices
    width = np.dtype(f"int{indices.type.bit_width}")
    return np.frombuffer(indices.buffers()[1], dtype=width)[
        indices.offset : indices.offset + len(indices)
    ]


def _concat(*sides: pa.ChunkedArray) -> pa.ChunkedArray:
    chunks = [c for side in sides for c in side.chunks if len(c)]
    return pa.chunked_array(chunks, type=pa.large_string())
