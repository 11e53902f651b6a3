"""The id columns as the overlap holds them: Arrow ``large_string`` arrays whose anonymous
rows are masked as null, so rows keep their positions and no string is copied.

Shared by the sides (:mod:`~moecohort.matching.compute`), the pyarrow engine and the
report's :meth:`~moecohort.matching.OverlapReport.keep`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..ids import require_column, to_arrow_ids

__all__ = ["as_large", "keep_rows", "mask_rows", "valid_rows"]


def as_large(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """``ids`` as large_string."""
    # string -> large_string widens the offsets only; the characters are not copied.
    return ids if pa.types.is_large_string(ids.type) else ids.cast(pa.large_string())


def mask_rows(ids: pa.ChunkedArray, keep: np.ndarray) -> pa.ChunkedArray:
    """``ids`` with the rows where ``keep`` is False set to null, sharing the string buffers."""
    chunks = []
    stop = 0
    for chunk in ids.chunks:
        start, stop = stop, stop + len(chunk)
        bits = keep[start:stop]
        if chunk.offset:  # the validity bitmap counts from the start of the buffers
            bits = np.concatenate([np.zeros(chunk.offset, dtype=bool), bits])
        validity = pa.py_buffer(np.packbits(bits, bitorder="little"))
        _, offsets, data = chunk.buffers()
        chunks.append(
            pa.Array.from_buffers(
                chunk.type, len(chunk), [validity, offsets, data], offset=chunk.offset
            )
        )
    return pa.chunked_array(chunks, type=ids.type)


def valid_rows(ids: pa.ChunkedArray) -> np.ndarray:
    """Per row, whether it holds an id (False where masked as null)."""
    if ids.null_count == 0:
        return np.ones(len(ids), dtype=bool)
    return ids.is_valid().to_numpy(zero_copy_only=False)


def keep_rows(df: pd.DataFrame, id_col: str, allowed: pa.ChunkedArray | pd.Index) -> pd.DataFrame:
    """Rows of ``df`` whose id (canonical, in ``id_col``) is one of ``allowed``."""
    require_column(df, id_col)
    ids = to_arrow_ids(df[id_col], column=id_col, frame=df)
    if isinstance(allowed, pd.Index):
        allowed = pa.chunked_array([pa.array(allowed, from_pandas=True)])
    allowed = pc.drop_null(as_large(allowed))  # anonymous ids are masked as null
    value_set = allowed.combine_chunks() if len(allowed) else pa.array([], pa.large_string())
    mask = pc.is_in(as_large(ids), value_set=value_set).to_numpy(zero_copy_only=False)
    return df.loc[mask].copy()
