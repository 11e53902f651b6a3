"""The streamed spool: the distinct ids of an input larger than memory, found on disk.

:class:`IdSpool` takes canonical ids piece by piece (:meth:`IdSpool.add`) and counts
every row (anonymous ids by reason, repeats, distinct ids). It writes to a private
temporary folder, in Arrow IPC files (no encoding: Arrow's own layout):

1. every usable id, in input order (``rows.arrow``);
2. the distinct ids of each piece, split into :data:`PARTITIONS` files by the top bits
   of a 64-bit hash of their bytes, each with its hash and its row in (1).

:meth:`IdSpool.finish` then reads one partition at a time, groups its rows by hash
(:mod:`~moecohort.input.dedup`: a sort of integers, every match confirmed byte for
byte) and marks the first row of each distinct id in a bitmap over (1). A partition
that grew too large to read at once is split again by the next bits of the hash.
:meth:`IdSpool.chunks` reads (1) back, keeping the marked rows: the distinct ids in the
order they first appear, exactly as :func:`~moecohort.prepare_ids` gives them in memory.
Memory holds one piece, one partition and the bitmap (one bit per usable row); the
memory pyarrow frees is handed back to the system after each piece (its allocator would
otherwise keep tens of megabytes it no longer uses).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import EmptyInputError
from ..ids import REASON_NAMES, as_series, require_column, to_arrow_ids, without_anonymous
from ..ids.spark import is_spark_frame
from . import dedup
from .memory import all_anonymous_error
from .sources import (
    CHUNK_ROWS,
    READ_ROWS,
    arrow_kind,
    expected_rows,
    id_chunks,
    is_stream,
)

__all__ = [
    "PARTITIONS",
    "PARTITION_ROWS",
    "PARTITION_TARGET",
    "IdSpool",
    "partitions_for",
    "spool",
]

#: Hash partitions the distinct ids of each piece are split into (top bits of the hash),
#: at most: an input known to be smaller gets one per :data:`PARTITION_TARGET` rows.
PARTITIONS = 64
#: Rows a partition is meant to hold (when the input's size is known beforehand).
PARTITION_TARGET = 1 << 18
#: A partition holding more rows than this is split again (by the next 4 bits) rather
#: than read at once: about 60 MB of work memory.
PARTITION_ROWS = 1 << 19
_SPLIT_BITS = 4
_ROWS = pa.schema([("uid", pa.large_string())])
_PART = pa.schema([("uid", pa.large_string()), ("hash", pa.uint64()), ("row", pa.int64())])


class _Files:
    """Arrow IPC stream files in one folder, written batch by batch (opened lazily)."""

    def __init__(self, folder: Path, prefix: str, schema: pa.Schema, count: int) -> None:
        self.paths = [folder / f"{prefix}-{i}.arrow" for i in range(count)]
        self.schema = schema
        self.rows = np.zeros(count, dtype=np.int64)
        self._writers: list[pa.ipc.RecordBatchStreamWriter | None] = [None] * count

    def write(self, i: int, columns: list[pa.Array]) -> None:
        writer = self._writers[i]
        if writer is None:
            writer = self._writers[i] = pa.ipc.new_stream(str(self.paths[i]), self.schema)
        writer.write_batch(pa.record_batch(columns, schema=self.schema))
        self.rows[i] += len(columns[0])

    def close(self) -> None:
        for i, writer in enumerate(self._writers):
            if writer is not None:
                writer.close()
                self._writers[i] = None


def _read(path: Path) -> Iterator[pa.RecordBatch]:
    """The batches of a file, read (copied) one at a time."""
    with pa.OSFile(str(path)) as source, pa.ipc.open_stream(source) as reader:
        yield from reader


def _read_whole(path: Path) -> pa.Table:
    """A (partition) file's batches as one table, in memory: mapped, then copied once,
    so many small batches cost no read each."""
    with pa.memory_map(str(path)) as source, pa.ipc.open_stream(source) as reader:
        return reader.read_all().combine_chunks()


class IdSpool:
    """Distinct canonical ids of a stream, de-duplicated on disk (see the module docs).

    :meth:`add` takes canonical ids; :meth:`finish` (called by :func:`spool`, and by
    :meth:`chunks` when needed) finds the distinct ones; :meth:`chunks` reads them back
    in first-appearance order. :meth:`close` removes the files (the counts stay).
    """

    def __init__(self, *, partitions: int = PARTITIONS) -> None:
        """``partitions``: how many hash partitions (rounded up to a power of two);
        :func:`partitions_for` picks it from the input's expected size."""
        self._dir: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
            prefix="moecohort-"
        )
        self._folder = Path(self._dir.name)
        self._bits = max(0, int(partitions - 1).bit_length())
        self._rows = _Files(self._folder, "rows", _ROWS, 1)
        self._parts = _Files(self._folder, "part", _PART, 1 << self._bits)
        self._first: np.ndarray | None = None
        self.rows = 0
        self._usable = 0
        self._unique = 0
        self.anonymous_by_reason = {name: 0 for name in REASON_NAMES.values()}

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())

    @property
    def unique(self) -> int:
        """Distinct usable ids (known once :meth:`finish` has run)."""
        self.finish()
        return self._unique

    @property
    def duplicates(self) -> int:
        return self.rows - self.anonymous - self.unique

    # ---- writing
    def add(self, ids: pa.ChunkedArray, placeholders: Iterable[str] | None = None) -> None:
        """Add one chunk of canonical ids (anonymous ones are counted, not kept)."""
        if self._first is not None:
            raise RuntimeError("IdSpool.add after finish()")
        valid, by_reason = without_anonymous(ids, placeholders)
        for name, count in by_reason.items():
            self.anonymous_by_reason[name] += count
        self.rows += len(ids)
        if not pa.types.is_large_string(valid.type):
            valid = valid.cast(pa.large_string())
        for chunk in valid.chunks:
            for start in range(0, len(chunk), READ_ROWS):
                self._add_piece(chunk.slice(start, READ_ROWS))

    def _add_piece(self, piece: pa.Array) -> None:
        if not len(piece):
            return
        base = self._usable
        self._rows.write(0, [piece])
        self._usable += len(piece)
        hashes = dedup.hash_ids(piece)
        first = dedup.first_rows(piece, hashes)  # in hash order: partition by partition
        self._scatter(piece.take(pa.array(first)), hashes[first], first + base, 0)
        pa.default_memory_pool().release_unused()

    def _scatter(self, ids: pa.Array, hashes: np.ndarray, rows: np.ndarray, level: int) -> None:
        """Write rows to the partitions their hash picks (at ``level`` 0: the top bits)."""
        files = self._parts
        shift = 64 - self._bits - level * _SPLIT_BITS
        width = self._bits if level == 0 else _SPLIT_BITS
        if width == 0:  # one partition
            files.write(0, [ids, pa.array(hashes), pa.array(rows)])
            return
        part = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        counts = np.bincount(part, minlength=1 << width)
        if (part[1:] < part[:-1]).any():  # not already partition by partition
            order = np.argsort(part, kind="stable")
            ids, hashes, rows = ids.take(pa.array(order)), hashes[order], rows[order]
        start = 0
        for i in np.flatnonzero(counts):
            stop = start + int(counts[i])
            columns = [ids.slice(start, stop - start), pa.array(hashes[start:stop])]
            files.write(int(i), [*columns, pa.array(rows[start:stop])])
            start = stop

    # ---- de-duplicating
    def finish(self) -> None:
        """Find the distinct ids (once): one partition at a time, from the files."""
        if self._first is not None:
            return
        self._rows.close()
        self._parts.close()
        self._first = np.zeros((self._usable + 7) // 8, dtype=np.uint8)
        parts = self._parts
        for path, rows in zip(parts.paths, parts.rows.tolist(), strict=True):
            if rows:
                self._finish_part(path, rows, 1)

    def _finish_part(self, path: Path, rows: int, level: int) -> None:
        assert self._first is not None
        deeper = 64 - self._bits - level * _SPLIT_BITS
        if rows > PARTITION_ROWS and deeper >= 0:
            self._split(path, level)
            return
        table = _read_whole(path)
        path.unlink()
        ids = table.column("uid").chunk(0)
        hashes = table.column("hash").chunk(0).to_numpy()
        # An id appears at most once per piece and pieces follow one another, so its
        # first row in the partition is its first row in the input.
        first = dedup.first_rows(ids, hashes, shared_bits=64 - deeper - _SPLIT_BITS)
        self._mark(table.column("row").chunk(0).to_numpy()[first])
        self._unique += len(first)
        pa.default_memory_pool().release_unused()

    def _mark(self, rows: np.ndarray) -> None:
        """Set the bits of ``rows`` in the bitmap of first rows."""
        assert self._first is not None
        rows = np.sort(rows)
        byte = rows >> 3
        bit = np.left_shift(1, rows & 7).astype(np.uint8)
        starts = np.flatnonzero(np.concatenate([[True], byte[1:] != byte[:-1]]))
        self._first[byte[starts]] |= np.bitwise_or.reduceat(bit, starts)

    def _kept(self, start: int, n: int) -> np.ndarray:
        """Whether each of rows ``start`` to ``start + n`` is the first of its id."""
        assert self._first is not None
        lo = start >> 3
        bits = np.unpackbits(self._first[lo : (start + n + 7) >> 3], bitorder="little")
        return bits[start - 8 * lo : start - 8 * lo + n].view(bool)

    def _split(self, path: Path, level: int) -> None:
        """Split an oversized partition file by the next bits of the hash, then finish
        each part."""
        outer = self._parts
        self._parts = _Files(self._folder, f"{path.stem}.{level}", _PART, 1 << _SPLIT_BITS)
        try:
            for batch in _read(path):
                hashes = batch.column("hash").to_numpy()
                rows = batch.column("row").to_numpy()
                self._scatter(batch.column("uid"), hashes, rows, level)
        finally:
            inner, self._parts = self._parts, outer
            inner.close()
        path.unlink()
        for sub, count in zip(inner.paths, inner.rows.tolist(), strict=True):
            if count:
                self._finish_part(sub, count, level + 1)

    # ---- reading back
    def chunks(self, size: int = CHUNK_ROWS) -> Iterator[pa.Array]:
        """The distinct ids in the order they first appear, at most ``size`` at a time."""
        self.finish()
        assert self._first is not None
        if not self._usable or self._dir is None:
            return
        start = 0
        for batch in _read(self._rows.paths[0]):
            ids = batch.column(0)
            keep = self._kept(start, len(ids))
            start += len(ids)
            if not keep.all():
                ids = ids.filter(pa.array(keep))
            for offset in range(0, len(ids), size):
                yield ids.slice(offset, size)
            pa.default_memory_pool().release_unused()

    def close(self) -> None:
        """Remove the files (the counts stay readable)."""
        self._rows.close()
        self._parts.close()
        if self._dir is not None:
            with contextlib.suppress(OSError):
                self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> IdSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def partitions_for(expected_rows: int | None) -> int:
    """Hash partitions for an input of about ``expected_rows`` rows (None: unknown): one
    per :data:`PARTITION_TARGET` rows, a power of two, at most :data:`PARTITIONS`. Each
    partition costs a file and a read, which small inputs need not pay for."""
    if expected_rows is None:
        return PARTITIONS
    wanted = max(1, -(-expected_rows // PARTITION_TARGET))
    return min(PARTITIONS, 1 << (wanted - 1).bit_length())


def spool(
    data: Any,
    id_col: str,
    *,
    placeholders: Iterable[str] | None = None,
    allow_empty: bool = False,
) -> IdSpool:
    """Read a whole input (streamed or in memory) into a finished :class:`IdSpool`.

    Raises :class:`EmptyInputError` for an input without rows and
    :class:`AllAnonymousError` for one with no usable id, unless ``allow_empty``.
    """
    store = IdSpool(partitions=partitions_for(expected_rows(data)))
    try:
        if is_spark_frame(data):  # de-duplicated and filtered in Spark: counts from there
            from ..ids.spark.stream import distinct_ids

            with distinct_ids(data, id_col, placeholders=placeholders) as found:
                for part in found.parts():
                    store.add(part, placeholders)
            store.rows, store.anonymous_by_reason = found.rows, found.anonymous_by_reason
        elif isinstance(data, pd.DataFrame):
            require_column(data, id_col)
            for start in range(0, len(data), READ_ROWS):
                part = data.iloc[start : start + READ_ROWS]
                store.add(to_arrow_ids(part[id_col], column=id_col, frame=part), placeholders)
        elif is_stream(data) or arrow_kind(data) is not None:
            for chunk in id_chunks(data, id_col):
                store.add(chunk, placeholders)
        else:
            store.add(to_arrow_ids(as_series(data), column=id_col), placeholders)
        store.finish()
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
