"""What a push or a sync reads: the distinct, non-anonymous canonical ids of its input.

* In memory (a DataFrame, a Series, a list, an array, or an Arrow input read whole):
  :func:`prepare_ids` gives :class:`PreparedIds`, the distinct ids in first-appearance
  order (:mod:`~moecohort.input.memory`).
* Streamed (an iterator of DataFrame chunks such as ``pd.read_csv(..., chunksize=...)``,
  a path to a Parquet or CSV file, or an Arrow input of records: a pyarrow
  RecordBatchReader, Table or Dataset, a Polars DataFrame or LazyFrame, a DuckDB
  relation, anything exporting ``__arrow_c_stream__``; see :func:`is_stream`): ids are
  canonicalised piece by piece and de-duplicated on disk, in hash partitions of Arrow
  files (:class:`IdSpool`, filled by :func:`spool`; :mod:`~moecohort.input.spooling`),
  so memory stays far below the size of the id list however long the input is. They
  come back in first-appearance order too: a streamed push sends the same requests as
  the same push in memory.
* :mod:`~moecohort.input.sources` reads files, chunks and Arrow inputs (only the id
  column, never through pandas); :mod:`~moecohort.input.dedup` finds distinct ids with
  numpy.

Both count every input row: anonymous ids by reason, repeats, and the distinct ids kept.
"""

from __future__ import annotations

from .memory import PreparedIds, all_anonymous_error, prepare_ids
from .sources import (
    CHUNK_ROWS,
    READ_ROWS,
    arrow_column,
    arrow_kind,
    id_chunks,
    is_stream,
    read_ids,
    read_table,
    rows_hint,
)
from .spooling import IdSpool, spool

__all__ = [
    "CHUNK_ROWS",
    "READ_ROWS",
    "IdSpool",
    "PreparedIds",
    "all_anonymous_error",
    "arrow_column",
    "arrow_kind",
    "id_chunks",
    "is_stream",
    "prepare_ids",
    "read_ids",
    "read_table",
    "rows_hint",
    "spool",
]
