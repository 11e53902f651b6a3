"""Where ids come from: files, iterators of chunks, and anything that speaks Arrow.

* :func:`arrow_kind` tells the Arrow inputs apart: tables (a pyarrow Table,
  RecordBatch, RecordBatchReader or Dataset, a Polars DataFrame or LazyFrame, a DuckDB
  relation, any object exporting an Arrow C stream of records, ``__arrow_c_stream__``)
  and columns of ids (a pyarrow Array or ChunkedArray, a Polars Series, any object
  exporting an Arrow C array or a stream of plain values).
* :func:`arrow_column` reads one column of those, raw, in pieces of at most
  :data:`READ_ROWS` rows: the id column only (Polars and DuckDB are asked for that
  column before anything is exported), never through pandas.
* :func:`read_ids` gives a whole column's canonical ids at once (what ``prepare_ids`` and
  ``overlap`` hold in memory); :func:`id_chunks` gives a streamed input's canonical ids
  piece by piece (what a push or sync spools); :func:`is_stream` tells which inputs
  are streamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from ..ids import arrow_ids, require_column, to_arrow_ids
from ..ids._arrow import is_string_view
from ..ids.spark import is_spark_frame

__all__ = [
    "CHUNK_ROWS",
    "READ_ROWS",
    "ArrowKind",
    "arrow_column",
    "arrow_kind",
    "expected_rows",
    "id_chunks",
    "is_stream",
    "read_ids",
    "read_table",
    "rows_hint",
]

#: Ids per piece handed on by the readers of chunks (pages of ids read back, too).
CHUNK_ROWS = 50_000
#: Rows read at a time from files and Arrow inputs (a larger batch is cut to this).
READ_ROWS = 131_072

ArrowKind = Literal["table", "ids"]


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def arrow_kind(obj: Any) -> ArrowKind | None:
    """``"table"`` for an Arrow input of records (the ids are one of its columns),
    ``"ids"`` for an Arrow column of ids, None for anything else (pandas objects
    included: they have their own, older paths)."""
    if isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
        return None
    if isinstance(obj, (pa.Array, pa.ChunkedArray)):
        return "ids"
    if isinstance(obj, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
        return "table"
    module, name = _module(obj), type(obj).__name__
    if module == "pyarrow" and hasattr(obj, "to_batches"):  # a Dataset or Scanner
        return "table"
    if module == "polars":
        if name == "Series":
            return "ids"
        if name in ("DataFrame", "LazyFrame"):
            return "table"
    if hasattr(type(obj), "__arrow_c_stream__"):
        return "table"  # records, or plain values: told apart when read (_c_stream)
    if hasattr(type(obj), "__arrow_c_array__"):
        return "ids"
    return None


def is_stream(data: Any) -> bool:
    """True for the inputs read chunk by chunk: a file path, an iterator of DataFrames,
    and Arrow inputs of records (a Polars frame, a DuckDB relation, a pyarrow Table,
    RecordBatchReader or Dataset, any ``__arrow_c_stream__`` of records), a Spark
    DataFrame."""
    if isinstance(data, (str, os.PathLike, pa.RecordBatchReader)) or is_spark_frame(data):
        return True
    if isinstance(data, (pd.DataFrame, pd.Series, pd.Index, np.ndarray, pa.Array, pa.ChunkedArray)):
        return False
    if isinstance(data, (list, tuple, set, frozenset, dict)):
        return False
    kind = arrow_kind(data)
    if kind is not None:
        return kind == "table"
    return isinstance(data, Iterator) or (
        isinstance(data, Iterable) and hasattr(data, "get_chunk")  # pandas TextFileReader
    )


def rows_hint(obj: Any) -> int:
    """How many rows ``obj`` holds when that is cheap to know, else 0."""
    for attribute in ("num_rows", "height"):  # pyarrow tables; Polars frames
        value = getattr(obj, attribute, None)
        if isinstance(value, int):
            return value
    if _module(obj) == "duckdb" or isinstance(obj, Iterator):
        return 0  # a relation would run its query to count; a generator cannot say
    try:
        return len(obj)
    except TypeError:
        return 0


def expected_rows(data: Any) -> int | None:
    """About how many rows an input holds, when cheap to tell (a Parquet file's metadata,
    a CSV file's size, a frame's length), else None. Only a hint: nothing depends on it
    but how finely the spool partitions."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        try:
            if path.name.lower().endswith((".parquet", ".pq")):
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(path).metadata.num_rows)
            size = path.stat().st_size
        except (OSError, pa.ArrowException):
            return None
        if not path.name.lower().endswith((".csv", ".tsv", ".txt")):
            return size // 8  # compressed: about 5 to 1, short lines
        with path.open("rb") as head:
            sample = head.read(1 << 16)
        return size * max(1, sample.count(b"\n")) // max(1, len(sample))
    hint = rows_hint(data)
    return hint if hint or isinstance(data, (pd.DataFrame, pd.Series)) else None


# --------------------------------------------------------------------------- Arrow inputs
def _check_names(names: list[str], column: str, where: str, **hints: Any) -> None:
    if column not in names or names.count(column) > 1:
        require_column(pd.DataFrame(columns=names), column, where=where, **hints)


def _pieces(arrays: Iterable[pa.Array | pa.ChunkedArray], rows: int | None) -> Iterator[pa.Array]:
    """The arrays' chunks, cut to at most ``rows`` rows each (no copy; None: uncut)."""
    for array in arrays:
        for chunk in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
            if rows is None:
                yield chunk
                continue
            for start in range(0, len(chunk), rows):
                yield chunk.slice(start, rows)


def _reader_column(
    reader: pa.RecordBatchReader, column: str, where: str, **hints: Any
) -> Iterator[pa.Array]:
    _check_names(reader.schema.names, column, where, **hints)
    index = reader.schema.get_field_index(column)
    return (batch.column(index) for batch in reader)


def _c_stream(obj: Any) -> tuple[pa.RecordBatchReader | None, pa.ChunkedArray | None]:
    """An object's ``__arrow_c_stream__``: a reader of records, or else (a stream of
    plain values, such as a Polars Series exports) the values."""
    try:
        return pa.RecordBatchReader.from_stream(obj), None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None, pa.chunked_array(obj)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _polars_lazy(frame: Any, column: str) -> Iterator[pa.Array]:
    """A LazyFrame's column, collected by Polars' streaming engine in batches (or at once,
    streamed, by a Polars without ``collect_batches``)."""
    query = frame.select(column)
    if hasattr(query, "collect_batches"):
        for batch in query.collect_batches(engine="streaming"):
            yield from pa.chunked_array(batch.to_series()).chunks
        return
    try:
        collected = query.collect(engine="streaming")
    except TypeError:  # Polars before 1.23
        collected = query.collect(streaming=True)
    yield from pa.chunked_array(collected.to_series()).chunks


def arrow_column(
    obj: Any,
    column: str,
    *,
    where: str = "The frame",
    whole: bool = False,
    **hints: Any,
) -> Iterator[pa.Array]:
    """The raw values of ``column`` of an Arrow input (see :func:`arrow_kind`), in pieces
    of at most :data:`READ_ROWS` rows (``whole``: as the input's chunks come). A column
    of ids ignores ``column``. A missing column is an :class:`InputError` listing those there
    are (``hints`` go to :func:`~moecohort.ids.require_column`)."""
    kind = arrow_kind(obj)
    if kind is None:
        raise InputError(f"Expected an Arrow table or column, got {type(obj).__name__}.")
    module, name = _module(obj), type(obj).__name__
    source: Iterable[pa.Array | pa.ChunkedArray]
    if kind == "ids":
        if isinstance(obj, (pa.Array, pa.ChunkedArray)):
            source = [obj]
        elif hasattr(type(obj), "__arrow_c_stream__"):
            source = [pa.chunked_array(obj)]
        else:
            source = [pa.array(obj)]
    elif isinstance(obj, (pa.Table, pa.RecordBatch)):
        _check_names(obj.schema.names, column, where, **hints)
        source = [obj.column(column)]
    elif isinstance(obj, pa.RecordBatchReader):
        source = _reader_column(obj, column, where, **hints)
    elif module == "pyarrow":  # a Dataset (projected) or a Scanner
        _check_names(obj.schema.names, column, where, **hints)
        if hasattr(obj, "to_reader"):
            source = _reader_column(obj.to_reader(), column, where, **hints)
        else:
            source = (batch.column(0) for batch in obj.to_batches(columns=[column]))
    elif module == "polars" and name == "LazyFrame":
        _check_names(list(obj.collect_schema().names()), column, where, **hints)
        source = _polars_lazy(obj, column)
    elif module == "polars":
        _check_names(list(obj.columns), column, where, **hints)
        source = pa.chunked_array(obj.get_column(column)).chunks
    elif module == "duckdb" and hasattr(obj, "project"):
        _check_names(list(obj.columns), column, where, **hints)
        source = _reader_column(
            pa.RecordBatchReader.from_stream(obj.project(_quote(column))), column, where
        )
    else:
        reader, values = _c_stream(obj)
        source = [values] if reader is None else _reader_column(reader, column, where, **hints)
    return _pieces(source, None if whole else READ_ROWS)


def read_ids(
    obj: Any,
    column: str,
    *,
    where: str = "The frame",
    **hints: Any,
) -> pa.ChunkedArray:
    """The canonical ids of an Arrow input's ``column``, all of them, as Arrow: what
    :func:`~moecohort.prepare_ids` and :func:`~moecohort.overlap` hold in memory (chunk
    by chunk as the input has them, uncut)."""
    chunks: list[pa.Array] = []
    start = 0
    for piece in arrow_column(obj, column, where=where, whole=True, **hints):
        canonical = arrow_ids(piece, column=column, first_row=start)
        if not pa.types.is_large_string(canonical.type):
            canonical = canonical.cast(pa.large_string())  # widens the offsets only
        chunks.extend(c for c in canonical.chunks if len(c))
        start += len(piece)
    return pa.chunked_array(chunks, type=pa.large_string()) if chunks else _no_ids()


def read_table(obj: Any) -> pa.Table:
    """A whole Arrow input of records (every column) as a pyarrow Table: what
    :func:`~moecohort.keep_in_destination` picks rows of. Text in Arrow's view layout
    (Polars') becomes large_string, which pyarrow can filter."""
    module, name = _module(obj), type(obj).__name__
    if isinstance(obj, pa.Table):
        table = obj
    elif isinstance(obj, pa.RecordBatch):
        table = pa.Table.from_batches([obj])
    elif isinstance(obj, pa.RecordBatchReader):
        table = obj.read_all()
    elif module == "pyarrow" and hasattr(obj, "to_table"):  # a Dataset or Scanner
        table = obj.to_table()
    else:
        if module == "polars" and name == "LazyFrame":
            try:
                obj = obj.collect(engine="streaming")
            except TypeError:  # Polars before 1.23
                obj = obj.collect(streaming=True)
        table = pa.RecordBatchReader.from_stream(obj).read_all()
    for i, field in enumerate(table.schema):
        if is_string_view(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.large_string()))
        elif pa.types.is_dictionary(field.type) and is_string_view(field.type.value_type):
            chunks = [
                pa.DictionaryArray.from_arrays(c.indices, c.dictionary.cast(pa.large_string()))
                for c in table.column(i).chunks
            ]
            column = pa.chunked_array(
                chunks, pa.dictionary(field.type.index_type, pa.large_string())
            )
            table = table.set_column(i, field.name, column)
    return table


def _no_ids() -> pa.ChunkedArray:
    return pa.chunked_array([], type=pa.large_string())


# --------------------------------------------------------------------------- streamed inputs
def id_chunks(data: Any, id_col: str, *, chunk_rows: int = READ_ROWS) -> Iterator[pa.ChunkedArray]:
    """Canonical ids of a streamed input, one chunk at a time (nulls where missing)."""
    if isinstance(data, (str, os.PathLike)):
        yield from _file_chunks(Path(data), id_col, chunk_rows)
    elif arrow_kind(data) is not None:
        yield from _arrow_chunks(arrow_column(data, id_col, where="The input"), id_col)
    else:
        start = 0
        for i, chunk in enumerate(data):
            if isinstance(chunk, pd.DataFrame):
                require_column(chunk, id_col, where=f"Chunk {i + 1}")
                yield to_arrow_ids(chunk[id_col], column=id_col, frame=chunk)
            elif isinstance(chunk, (pa.RecordBatch, pa.Table)):
                pieces = arrow_column(chunk, id_col, where=f"Chunk {i + 1}")
                yield from _arrow_chunks(pieces, id_col, start)
            else:
                raise InputError(
                    f"Chunk {i + 1} is a {type(chunk).__name__}; an iterator must yield "
                    "DataFrames (or pyarrow record batches)."
                )
            start += len(chunk)


def _arrow_chunks(
    pieces: Iterable[pa.Array], id_col: str, start: int = 0
) -> Iterator[pa.ChunkedArray]:
    for piece in pieces:
        yield arrow_ids(piece, column=id_col, first_row=start)
        start += len(piece)


def _file_chunks(path: Path, id_col: str, chunk_rows: int) -> Iterator[pa.ChunkedArray]:
    if not path.exists():
        raise InputError(
            f"No such file: {str(path)!r}.",
            advice="Give a DataFrame, an iterator of DataFrames, a path to a Parquet or CSV "
            "file, or a pyarrow RecordBatchReader.",
            path=str(path),
        )
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        # Read page by page through a small buffer, not a whole row group at once.
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20) as pf:
            _check_names(pf.schema_arrow.names, id_col, path.name)
            batches = pf.iter_batches(batch_size=chunk_rows, columns=[id_col], use_threads=False)
            yield from _arrow_chunks((batch.column(0) for batch in batches), id_col)
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
    elif name.endswith(_EXCEL):
        raise InputError(
            f"Cannot read {path.name}: Excel files are not read directly.",
            advice="Load the sheet with pd.read_excel(path) and pass the DataFrame (or save "
            "it as CSV or Parquet).",
            path=str(path),
        )
    else:
        raise InputError(
            f"Cannot read {path.name}: not a .parquet or .csv/.tsv file (compressed or not).",
            advice="Give such a file, or a DataFrame, an iterator of DataFrames, or a pyarrow "
            "RecordBatchReader.",
            path=str(path),
        )


_COMPRESSIONS = ("", ".gz", ".bz2", ".zip", ".xz", ".zst")
_EXCEL = (".xlsx", ".xlsm", ".xls", ".xlsb")


def _is_text_table(name: str) -> bool:
    """A CSV or TSV file, optionally compressed (pandas reads the compression)."""
    return any(
        name.endswith(ext + comp) for ext in (".csv", ".tsv", ".txt") for comp in _COMPRESSIONS
    )
