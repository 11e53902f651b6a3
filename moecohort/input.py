"""What a push or a sync reads: the distinct, non-anonymous canonical ids of its input.

* In memory (a DataFrame, a Series, a list, an array): :func:`prepare_ids` gives
  :class:`PreparedIds`, the distinct ids in first-appearance order.
* Streamed (an iterator of DataFrame chunks such as ``pd.read_csv(..., chunksize=...)``,
  a path to a Parquet or CSV file, or a pyarrow ``RecordBatchReader``; see
  :func:`is_stream`): ids are canonicalised chunk by chunk and kept, distinct, in an
  SQLite table on disk (:class:`IdSpool`, filled by :func:`spool`), so memory stays far
  below the size of the id list however long the input is.

Both count every input row: anonymous ids by reason, repeats, and the distinct ids kept.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import AllAnonymousError, EmptyInputError, InputError
from .ids import REASON_NAMES, as_series, require_column, to_arrow_ids, without_anonymous
from .ids.spark import is_spark_frame

__all__ = [
    "CHUNK_ROWS",
    "IdSpool",
    "PreparedIds",
    "id_chunks",
    "is_stream",
    "page_uids",
    "prepare_ids",
    "spool",
]

#: Rows read per chunk from files and readers.
CHUNK_ROWS = 50_000
#: SQLite page cache for a spool, in KiB (negative: KiB, as SQLite takes it).
_CACHE_KIB = 8 * 1024


def is_stream(data: Any) -> bool:
    """True for the inputs read chunk by chunk: a file path, a RecordBatchReader, an
    iterator of DataFrames, or a Spark DataFrame."""
    if isinstance(data, (str, os.PathLike, pa.RecordBatchReader)) or is_spark_frame(data):
        return True
    if isinstance(data, (pd.DataFrame, pd.Series, pd.Index, np.ndarray, pa.Array, pa.ChunkedArray)):
        return False
    if isinstance(data, (list, tuple, set, frozenset, dict)):
        return False
    return isinstance(data, Iterator) or (
        isinstance(data, Iterable) and hasattr(data, "get_chunk")  # pandas TextFileReader
    )


def id_chunks(data: Any, id_col: str, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.ChunkedArray]:
    """Canonical ids of a streamed input, one chunk at a time (nulls where missing)."""
    if isinstance(data, (str, os.PathLike)):
        yield from _file_chunks(Path(data), id_col, chunk_rows)
    elif isinstance(data, pa.RecordBatchReader):
        _check_schema(data.schema, id_col, "The record batch reader")
        for batch in data:
            yield _canonical(batch.column(id_col), id_col)
    else:
        for i, chunk in enumerate(data):
            if isinstance(chunk, pd.DataFrame):
                require_column(chunk, id_col, where=f"Chunk {i + 1}")
                yield to_arrow_ids(chunk[id_col], column=id_col, frame=chunk)
            elif isinstance(chunk, (pa.RecordBatch, pa.Table)):
                _check_schema(chunk.schema, id_col, f"Chunk {i + 1}")
                yield _canonical(chunk.column(id_col), id_col)
            else:
                raise InputError(
                    f"Chunk {i + 1} is a {type(chunk).__name__}; an iterator must yield "
                    "DataFrames (or pyarrow record batches)."
                )


def _file_chunks(path: Path, id_col: str, chunk_rows: int) -> Iterator[pa.ChunkedArray]:
    if not path.exists():
        raise InputError(
            f"No such file: {str(path)!r}. Give a DataFrame, an iterator of DataFrames, "
            "a path to a Parquet or CSV file, or a pyarrow RecordBatchReader."
        )
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        # Read page by page through a small buffer, not a whole row group at once.
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20) as pf:
            _check_schema(pf.schema_arrow, id_col, f"{path.name}")
            batches = pf.iter_batches(batch_size=chunk_rows, columns=[id_col], use_threads=False)
            for batch in batches:
                yield _canonical(batch.column(0), id_col)
    elif _is_text_table(name):
        sep = "\t" if ".tsv" in name else ","
        header = pd.read_csv(path, sep=sep, nrows=0)
        require_column(header, id_col, where=path.name)
        reader = pd.read_csv(
            path, sep=sep, usecols=[id_col], dtype={id_col: str}, chunksize=chunk_rows
        )
        with reader:
            for chunk in reader:
                yield to_arrow_ids(chunk[id_col], column=id_col, frame=chunk)
    else:
        raise InputError(
            f"Cannot read {path.name}: give a .parquet or .csv/.tsv file (compressed or not), "
            "or a DataFrame, an iterator of DataFrames, or a pyarrow RecordBatchReader."
        )


_COMPRESSIONS = ("", ".gz", ".bz2", ".zip", ".xz", ".zst")


def _is_text_table(name: str) -> bool:
    """A CSV or TSV file, optionally compressed (pandas reads the compression)."""
    return any(
        name.endswith(ext + comp) for ext in (".csv", ".tsv", ".txt") for comp in _COMPRESSIONS
    )


def _check_schema(schema: pa.Schema, id_col: str, where: str) -> None:
    if id_col not in schema.names:
        frame = pd.DataFrame(columns=schema.names)
        require_column(frame, id_col, where=where)


def _canonical(column: pa.Array | pa.ChunkedArray, id_col: str) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    series = pd.Series(column.to_pandas(types_mapper=pd.ArrowDtype), name=id_col)
    return to_arrow_ids(series, column=id_col)


# --------------------------------------------------------------------------- in memory
@dataclass(frozen=True)
class PreparedIds:
    """Canonical ids of a push, after anonymous users and repeats are set aside."""

    column: str
    rows: int
    unique: pa.Array  # large_string, first-appearance order
    anonymous_by_reason: dict[str, int]
    duplicates: int

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())


def prepare_ids(
    data: Any, id_col: str = "uid", *, placeholders: Iterable[str] | None = None
) -> PreparedIds:
    """Validate the input and return its distinct, non-anonymous canonical ids.

    Raises :class:`InputError` for an empty input, a missing column, ids that are
    not text or whole numbers, and an input with no usable id at all. A Spark DataFrame
    is counted and de-duplicated in Spark, then its distinct ids are collected.
    """
    if is_spark_frame(data):
        from .ids.spark.stream import distinct_ids

        with distinct_ids(data, id_col, placeholders=placeholders, ordered=True) as found:
            if found.rows == 0:
                raise EmptyInputError("The DataFrame is empty: there is nobody to push.")
            if found.unique == 0:
                raise all_anonymous_error(found.rows, found.anonymous_by_reason, id_col)
            return PreparedIds(
                id_col,
                found.rows,
                found.in_first_row_order(),
                found.anonymous_by_reason,
                found.duplicates,
            )
    if isinstance(data, pd.DataFrame):
        if data.shape[0] == 0:
            raise EmptyInputError("The DataFrame is empty: there is nobody to push.")
        require_column(data, id_col)
        ids = to_arrow_ids(data[id_col], column=id_col, frame=data)
        column = id_col
    elif isinstance(
        data, (pd.Series, pd.Index, list, tuple, np.ndarray, pa.Array, pa.ChunkedArray)
    ):
        series = as_series(data)
        column = str(series.name) if series.name is not None else id_col
        if len(series) == 0:
            raise EmptyInputError("No ids given: there is nobody to push.")
        ids = to_arrow_ids(series, column=column)
    else:
        raise InputError(
            f"Expected a DataFrame (or a Series / list of ids), got {type(data).__name__}."
        )
    valid, by_reason = without_anonymous(ids, placeholders)
    usable = len(valid)
    if usable == 0:
        raise all_anonymous_error(len(ids), by_reason, column)
    if not pa.types.is_large_string(valid.type):
        valid = valid.cast(pa.large_string())
    unique = pc.unique(valid)  # keeps first-appearance order
    if isinstance(unique, pa.ChunkedArray):
        unique = unique.combine_chunks()
    return PreparedIds(column, len(ids), unique, by_reason, usable - len(unique))


# --------------------------------------------------------------------- streamed, spooled on disk
class IdSpool:
    """Distinct canonical ids of a stream, kept in an SQLite table on disk.

    :meth:`add` takes canonical ids (with their :func:`classify` reasons) and
    counts rows, anonymous ids by reason and repeats; :meth:`chunks` reads the
    distinct ids back in id order. With ``conn`` the table is a TEMP table of that
    connection (so SQL can join it with other tables); otherwise a private
    temporary database file is used and removed by :meth:`close`.
    """

    def __init__(self, conn: sqlite3.Connection | None = None, *, table: str = "spool") -> None:
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if conn is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="moecohort-")
            conn = sqlite3.connect(
                Path(self._own_dir.name) / "spool.sqlite", check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            self.qualified = table
            create = f"CREATE TABLE {table}"
        else:
            self.qualified = f"temp.{table}"
            create = f"CREATE TEMP TABLE {table}"
        # Set before any temp table exists: changing temp_store drops temporary tables.
        conn.execute("PRAGMA temp_store=FILE")
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        conn.execute(f"DROP TABLE IF EXISTS {self.qualified}")
        conn.execute(f"{create} (uid TEXT PRIMARY KEY) WITHOUT ROWID")
        self.conn = conn
        self.rows = 0
        self.unique = 0
        self.anonymous_by_reason = {name: 0 for name in REASON_NAMES.values()}

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())

    @property
    def duplicates(self) -> int:
        return self.rows - self.anonymous - self.unique

    def add(self, ids: pa.ChunkedArray, placeholders: Iterable[str] | None = None) -> None:
        """Add one chunk of canonical ids (anonymous ones are counted, not kept)."""
        valid, by_reason = without_anonymous(ids, placeholders)
        for name, count in by_reason.items():
            self.anonymous_by_reason[name] += count
        self.rows += len(ids)
        if len(valid) == 0:
            return
        # Sorted runs insert into the B-tree with far fewer page misses.
        ordered = pc.array_sort_indices(valid)
        values = valid.take(ordered).to_pylist()
        with self.conn:
            cur = self.conn.executemany(
                f"INSERT OR IGNORE INTO {self.qualified} (uid) VALUES (?)",
                ((v,) for v in values),
            )
        self.unique += cur.rowcount

    def chunks(self, size: int = CHUNK_ROWS) -> Iterator[pa.Array]:
        """The distinct ids in id order, ``size`` at a time."""
        return page_uids(self.conn, self.qualified, size)

    def close(self) -> None:
        if self._own_dir is not None:
            self.conn.close()
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> IdSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def page_uids(
    conn: sqlite3.Connection,
    table: str,
    size: int = CHUNK_ROWS,
    lock: threading.RLock | None = None,
) -> Iterator[pa.Array]:
    """Every uid of a table with a ``uid`` primary key, in uid order, ``size`` at a time.

    Keyset paging (``WHERE uid > last``): each page is one short query, so other
    threads may write to other tables of the connection in between (under ``lock``).
    """
    last = ""  # every uid sorts after the empty string, which is never an id
    while True:
        with lock or contextlib.nullcontext():
            rows = conn.execute(
                f"SELECT uid FROM {table} WHERE uid > ? ORDER BY uid LIMIT ?", (last, size)
            ).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield pa.array([r[0] for r in rows], pa.large_string())


def all_anonymous_error(rows: int, by_reason: dict[str, int], column: str) -> AllAnonymousError:
    """The error for an input whose every id is anonymous, with the counts by reason."""
    detail = ", ".join(f"{n:,} {r}" for r, n in by_reason.items() if n)
    return AllAnonymousError(
        f"Every one of the {rows:,} ids in column {column!r} is anonymous ({detail}); "
        "anonymous users cannot be synced. Is this the right id column?",
        column=column,
    )


def spool(
    data: Any,
    id_col: str,
    *,
    placeholders: Iterable[str] | None = None,
    conn: sqlite3.Connection | None = None,
    allow_empty: bool = False,
) -> IdSpool:
    """Read a whole input (streamed or a DataFrame) into an :class:`IdSpool`.

    Raises :class:`EmptyInputError` for an input without rows and
    :class:`AllAnonymousError` for one with no usable id, unless ``allow_empty``.
    """
    store = IdSpool(conn)
    try:
        if is_spark_frame(data):  # de-duplicated and filtered in Spark: counts from there
            from .ids.spark.stream import distinct_ids

            with distinct_ids(data, id_col, placeholders=placeholders) as found:
                for part in found.parts():
                    store.add(part, placeholders)
            store.rows, store.anonymous_by_reason = found.rows, found.anonymous_by_reason
        elif isinstance(data, pd.DataFrame):
            require_column(data, id_col)
            for start in range(0, len(data), CHUNK_ROWS):
                part = data.iloc[start : start + CHUNK_ROWS]
                store.add(to_arrow_ids(part[id_col], column=id_col, frame=part), placeholders)
        elif is_stream(data):
            for chunk in id_chunks(data, id_col):
                store.add(chunk, placeholders)
        else:
            series = as_series(data)
            store.add(to_arrow_ids(series, column=id_col), placeholders)
        if allow_empty:
            return store
        if store.rows == 0:
            raise EmptyInputError("The input is empty: there is nobody to push.")
        if store.unique == 0:
            raise all_anonymous_error(store.rows, store.anonymous_by_reason, id_col)
    except BaseException:
        store.close()
        raise
    return store
