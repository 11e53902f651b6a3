"""Identifier overlap between two apps: who is in both, who is only on one side.

The seed flow needs users that exist in both apps under the same ``uid``. This
module tells how many do, lists them, and points out "near misses" (ids that
would only match after trimming, case folding or Unicode normalisation), which
are reported and never merged.

Speed: ids stay in Arrow buffers from the input to the report (no Python object per
id). Anonymous ids are masked, not copied out; most ids are classified and checked for
near misses from their bytes alone; the report's Indexes are cut from the input's own
strings. The set work (which ids are distinct, where each first appears, whether the
other side has it) runs in one of three engines, each using every core:

* ``"numba"`` (``pip install moecohort[fast]``): moecohort's own compiled kernels
  (:mod:`moecohort._kernels`): hash partitions small enough to stay in cache, every match
  confirmed byte for byte;
* ``"duckdb"`` (``pip install moecohort[fast]``): DuckDB ``GROUP BY`` queries, one per
  core over a hash partition of the ids;
* ``"pyarrow"``: pyarrow's dictionary encoding, of one hash partition per thread on
  large inputs;
* ``"auto"`` (default): numba, else DuckDB, when installed and the two sides hold at
  least :data:`AUTO_FAST_ROWS` rows together; pyarrow otherwise.

All engines give identical reports.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _html
from .errors import InputError
from .ids import (
    OK,
    as_series,
    classify_with_shape,
    near_miss_kind,
    normalise_for_near_miss,
    require_column,
    to_arrow_ids,
)
from .ids._arrow import Shape, string_index, take_rows
from .ids.near_miss import near_miss_changes_of

__all__ = ["OverlapReport", "keep_in_destination", "overlap"]

log = logging.getLogger("moecohort")

Engine = Literal["auto", "pyarrow", "duckdb", "numba"]
ENGINES = ("auto", "pyarrow", "duckdb", "numba")

#: ``engine="auto"`` uses numba (or else DuckDB) when installed from this many rows, both
#: sides together. Below it the pyarrow engine is about as fast (measured on 2 cores with
#: 36-character ids: benchmarks/bench_overlap.py), and skips loading the compiled kernels.
AUTO_FAST_ROWS = 2_000_000

#: From this many rows (both sides together) on, the work is spread over all cores:
#: sides read in parallel, ids split into hash partitions handled by parallel threads.
PARTITION_ROWS = 100_000


@dataclass(frozen=True)
class SideStats:
    """Counts for one side of an overlap."""

    rows: int
    anonymous: int
    duplicates: int
    unique: int


class _Sets:
    """The report's three sets of ids, as row positions in the sides' own strings. Each
    set's Index is cut from those strings the first time it is read (then kept), so a
    report that is only counted, summarised or shown never copies millions of ids."""

    def __init__(
        self,
        parts: list[tuple[pa.ChunkedArray, np.ndarray, Any]],
        take: Callable[[pa.ChunkedArray, np.ndarray], Any],
    ) -> None:
        self._parts = parts  # (the side's ids, positions ascending, Index name)
        self._take = take
        self._built: list[pd.Index | None] = [None] * len(parts)
        self._lock = threading.Lock()

    def count(self, i: int) -> int:
        return len(self._parts[i][1])

    def name(self, i: int) -> Any:
        return self._parts[i][2]

    def index(self, i: int) -> pd.Index:
        with self._lock:  # two threads reading a set at once cut it once
            built = self._built[i]
            if built is None:
                ids, positions, name = self._parts[i]
                built = self._built[i] = string_index(self._take(ids, positions), name=name)
            return built

    def head(self, i: int, k: int) -> list[str]:
        ids, positions, _ = self._parts[i]
        return take_rows(ids, positions[:k]).to_pylist()

    def __getstate__(self) -> dict[str, Any]:  # a report pickles (the lock does not)
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


@dataclass(frozen=True, repr=False, eq=False)
class OverlapReport:
    """Result of :func:`overlap`.

    ``in_both``, ``only_source`` and ``only_destination`` are pandas Indexes of
    unique canonical ids (anonymous ids are in none of them), in order of first
    appearance: ``in_both`` and ``only_source`` in the order the source first lists
    them, ``only_destination`` in the order the destination does, whatever the size
    of the input and the engine. They are backed by Arrow string arrays (no Python
    object per id), and each is built the first time it is read: counts, the summary
    and the notebook view need none of them.
    """

    _sets: _Sets
    source: SideStats
    destination: SideStats
    #: Pairs of ids that only match after trimming, case folding or NFC
    #: normalisation: columns ``source_id``, ``destination_id``, ``differs_by``.
    near_misses: pd.DataFrame = field(default_factory=pd.DataFrame)
    source_label: str = "source"
    destination_label: str = "destination"

    @property
    def in_both(self) -> pd.Index:
        """Ids in both apps, in the order the source first lists them."""
        return self._sets.index(0)

    @property
    def only_source(self) -> pd.Index:
        """Ids only the source has, in the order it first lists them."""
        return self._sets.index(1)

    @property
    def only_destination(self) -> pd.Index:
        """Ids only the destination has, in the order it first lists them."""
        return self._sets.index(2)

    @property
    def n_in_both(self) -> int:
        return self._sets.count(0)

    @property
    def n_only_source(self) -> int:
        return self._sets.count(1)

    @property
    def n_only_destination(self) -> int:
        return self._sets.count(2)

    @property
    def match_rate(self) -> float:
        """Share of the source's unique ids that exist in the destination (0..1)."""
        return self.n_in_both / self.source.unique if self.source.unique else 0.0

    def summary(self) -> pd.DataFrame:
        """Counts per side, as a DataFrame (rows: metrics, columns: the two sides)."""
        s, d = self.source, self.destination
        index = [
            "rows",
            "anonymous rows",
            "duplicate rows",
            "unique ids",
            "in both apps",
            "only in this app",
            "near misses",
        ]
        nm = len(self.near_misses)
        return pd.DataFrame(
            {
                self.source_label: [
                    s.rows,
                    s.anonymous,
                    s.duplicates,
                    s.unique,
                    self.n_in_both,
                    self.n_only_source,
                    nm,
                ],
                self.destination_label: [
                    d.rows,
                    d.anonymous,
                    d.duplicates,
                    d.unique,
                    self.n_in_both,
                    self.n_only_destination,
                    nm,
                ],
            },
            index=pd.Index(index, name="ids"),
        )

    def keep(self, df: pd.DataFrame, id_col: str | None = None) -> pd.DataFrame:
        """Rows of ``df`` (a source frame) whose id is in both apps. ``id_col``
        defaults to the source column the overlap was computed on."""
        column = id_col if id_col is not None else (self._sets.name(0) or "uid")
        return _keep_rows(df, column, self.in_both)

    def _near_misses_shown(self) -> pd.DataFrame:
        """Near misses with ids quoted, so stray whitespace is visible."""
        return self.near_misses.assign(
            source_id=self.near_misses["source_id"].map(repr),
            destination_id=self.near_misses["destination_id"].map(repr),
        )

    def __repr__(self) -> str:
        lines = [
            f"OverlapReport: {self.n_in_both:,} ids in both apps "
            f"({self.match_rate:.1%} of {self.source_label}'s {self.source.unique:,} unique ids)",
        ]
        summary = self.summary()
        lines.append(summary.to_string())
        if len(self.near_misses):
            lines.append(
                f"{len(self.near_misses):,} near misses (not merged), e.g.:\n"
                + self._near_misses_shown().head(5).to_string(index=False)
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        summary = self.summary()
        head = "<tr><th></th>" + "".join(f"<th>{_html.esc(c)}</th>" for c in summary.columns)
        body = "".join(
            f"<tr><th>{_html.esc(idx)}</th>"
            + "".join(f"<td class='num'>{int(v):,}</td>" for v in row)
            + "</tr>"
            for idx, row in summary.iterrows()
        )
        sections = []
        if len(self.near_misses):
            sections.append(
                (
                    f"{len(self.near_misses):,} near misses (ids that differ only by "
                    "whitespace, case or Unicode form; not merged)",
                    _html.frame_html(self._near_misses_shown(), max_rows=10),
                )
            )
        for i, label in enumerate(
            ["in both apps", f"only in {self.source_label}", f"only in {self.destination_label}"]
        ):
            if self._sets.count(i):
                sample = ", ".join(_html.esc(repr(v)) for v in self._sets.head(i, 10))
                more = " …" if self._sets.count(i) > 10 else ""
                sections.append((f"sample ids {label}", f"<div class='note'>{sample}{more}</div>"))
        details = "".join(
            f"<details><summary>{_html.esc(s)}</summary>{c}</details>" for s, c in sections
        )
        return (
            f"{_html._STYLE}<div class='moecohort-report'>"
            f"<h4>Overlap: {self.n_in_both:,} ids in both apps "
            f"({self.match_rate:.1%} of {_html.esc(self.source_label)})</h4>"
            f"<table><thead>{head}</tr></thead><tbody>{body}</tbody></table>{details}</div>"
        )

    def plot(self, ax: Any = None) -> Any:
        """A bar chart of the overlap (needs matplotlib: ``pip install moecohort[widgets]``)."""
        from .charts import plot_overlap

        return plot_overlap(self, ax=ax)


def overlap(
    source: Any,
    destination: Any,
    on: str | tuple[str, str] = "uid",
    *,
    placeholders: Iterable[str] | None = None,
    near_misses: bool = True,
    labels: tuple[str, str] = ("source", "destination"),
    engine: Engine = "auto",
) -> OverlapReport:
    """Compare the user ids of two apps.

    ``source`` and ``destination`` may each be a DataFrame (the id column is
    ``on``, or ``on[0]`` / ``on[1]`` when ``on`` is a pair), a Series, an Index,
    or any iterable of ids. Ids are compared in their canonical form (see
    :func:`moecohort.canonical_ids`): exactly, with no trimming or case folding.

    ``engine`` picks where the set work runs: ``"pyarrow"``, ``"numba"`` or ``"duckdb"``
    (both need ``pip install moecohort[fast]``) or ``"auto"``: numba, else DuckDB, when
    installed and both sides hold :data:`AUTO_FAST_ROWS` rows or more together, pyarrow
    otherwise. The report is the same whichever engine runs.
    """
    src_col, dst_col = _pair(on)
    use = _engine(engine)
    # Large sides are read and checked in parallel threads (Arrow and numpy release the GIL).
    big = _rows_hint(source) + _rows_hint(destination) >= PARTITION_ROWS
    sides = [
        (source, src_col, "The source", lambda c: f"on=({c!r}, {dst_col!r})"),
        (destination, dst_col, "The destination", lambda c: f"on=({src_col!r}, {c!r})"),
    ]
    src, dst = _run(
        [
            partial(_side, obj, col, placeholders, where, changes=near_misses, suggest=suggest)
            for obj, col, where, suggest in sides
        ],
        parallel=big,
    )
    big = src.rows + dst.rows >= PARTITION_ROWS
    if use == "auto":
        use = _auto_engine(src.rows + dst.rows)

    may_be_in = None
    take: Callable[[pa.ChunkedArray, np.ndarray], Any] = take_rows
    if use == "numba":
        kernels = _load_kernels()
        in_rows, rows = _sets_numba(kernels, src, dst, big)
        pos_both, pos_only_s, pos_only_d = in_rows[0], in_rows[1], in_rows[2] - src.rows
        take = kernels.take

        def may_be_in(i: int, keys: pa.Array) -> np.ndarray:
            return rows.may_be_in(in_rows[i], pa.chunked_array([keys]))

    else:
        first, in_d = _presence(src, dst, use)
        pos_both, pos_only_s, pos_only_d = _positions(
            _first_codes(first, in_d, src.rows, src.rows + dst.rows), src.rows
        )
    n_s_unique = len(pos_both) + len(pos_only_s)
    n_d_unique = len(pos_both) + len(pos_only_d)
    parts = [(src.ids, pos_both, src_col), (src.ids, pos_only_s, src_col)]
    parts.append((dst.ids, pos_only_d, dst_col))

    if near_misses and src.changed is not None and dst.changed is not None:
        nm = _near_misses(
            [
                (src.ids, pos_both, src.changed[pos_both], True, True),
                (src.ids, pos_only_s, src.changed[pos_only_s], True, False),
                (dst.ids, pos_only_d, dst.changed[pos_only_d], False, True),
            ],
            parallel=big,
            may_be_in=may_be_in,
        )
    else:
        nm = _empty_near_misses()
    report = OverlapReport(
        _sets=_Sets(parts, take),
        source=SideStats(src.rows, src.anonymous, src.valid - n_s_unique, n_s_unique),
        destination=SideStats(dst.rows, dst.anonymous, dst.valid - n_d_unique, n_d_unique),
        near_misses=nm,
        source_label=labels[0],
        destination_label=labels[1],
    )
    log.info(
        "overlap: %s in both, %s only in %s, %s only in %s, %s near misses",
        f"{report.n_in_both:,}",
        f"{report.n_only_source:,}",
        labels[0],
        f"{report.n_only_destination:,}",
        labels[1],
        f"{len(nm):,}",
    )
    return report


def keep_in_destination(
    df: pd.DataFrame,
    destination: Any,
    id_col: str = "uid",
    *,
    destination_col: str | None = None,
    placeholders: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``df`` whose id exists in ``destination`` (a frame, Series or ids).

    The seed flow needs users that exist in both apps: the Cohort Sync API never
    creates users, so ids unknown to the destination would be accepted and then
    silently ignored. Anonymous rows are dropped too (they exist nowhere).
    """
    require_column(df, id_col)
    dst = _side(
        destination, destination_col or id_col, placeholders, "The destination", "destination_col"
    )
    return _keep_rows(df, id_col, dst.ids)


# --------------------------------------------------------------------------- internals
def _pair(on: Any) -> tuple[Any, Any]:
    """``on`` as (source column, destination column)."""
    if isinstance(on, (tuple, list)):
        if len(on) != 2:
            raise InputError(
                f"on must be one column name or a (source, destination) pair, not {on!r}"
            )
        return on[0], on[1]
    return on, on


class _Side(NamedTuple):
    """One side: canonical ids as large_string with the anonymous ones masked as null (so
    rows keep their positions and no string is copied), the counts, the ids' shape and,
    when asked, per row whether the near-miss key differs from the id."""

    ids: pa.ChunkedArray
    rows: int
    anonymous: int
    shape: Shape
    changed: np.ndarray | None = None

    @property
    def valid(self) -> int:
        return self.rows - self.anonymous


def _side(
    obj: Any,
    column: str,
    placeholders: Iterable[str] | None,
    where: str = "The frame",
    param: str = "on",
    *,
    changes: bool = False,
    suggest: Callable[[Any], str] | None = None,
) -> _Side:
    if isinstance(obj, pd.DataFrame):
        require_column(obj, column, param=param, where=where, suggest=suggest)
        ids = to_arrow_ids(obj[column], column=column, frame=obj)
    else:
        series = as_series(obj)
        ids = to_arrow_ids(series, column=column)
    ids = _large(ids)
    reasons, shape = classify_with_shape(ids, placeholders)
    changed = near_miss_changes_of(ids, shape) if changes else None
    ok = reasons == OK
    n_anon = len(ok) - int(np.count_nonzero(ok))
    if n_anon:
        ids = _mask(ids, ok)
    return _Side(ids, len(ids), n_anon, shape, changed)


def _rows_hint(obj: Any) -> int:
    try:
        return len(obj)
    except TypeError:  # a generator
        return 0


def _run(tasks: list[Callable[[], Any]], *, parallel: bool) -> list[Any]:
    """Results of ``tasks`` in order, run in threads when ``parallel`` (errors in order too)."""
    if not parallel or _workers() < 2:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(len(tasks), _workers())) as pool:
        futures = [pool.submit(task) for task in tasks]
        return [future.result() for future in futures]


def _large(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    # string -> large_string widens the offsets only; the characters are not copied.
    return ids if pa.types.is_large_string(ids.type) else ids.cast(pa.large_string())


def _mask(ids: pa.ChunkedArray, keep: np.ndarray) -> pa.ChunkedArray:
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


def _engine(engine: Any) -> str:
    if engine not in ENGINES:
        raise InputError(f"engine must be 'auto', 'pyarrow', 'duckdb' or 'numba', not {engine!r}")
    if engine == "duckdb" and not _installed("duckdb"):
        raise ImportError("engine='duckdb' needs DuckDB: pip install 'moecohort[fast]'")
    if engine == "numba":
        if not _installed("numba"):
            raise ImportError("engine='numba' needs numba: pip install 'moecohort[fast]'")
        _load_kernels()
    return engine


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _load_kernels() -> Any:
    """The compiled kernels' module; ImportError saying why when numba cannot serve them
    (an installed numba that does not support this numpy, or its JIT switched off)."""
    try:
        return importlib.import_module("moecohort._kernels")
    except ImportError as exc:
        raise ImportError(f"engine='numba' cannot load numba: {exc}") from exc


def _auto_engine(rows: int) -> str:
    if rows >= AUTO_FAST_ROWS:
        if _installed("numba"):
            try:
                _load_kernels()
                return "numba"
            except ImportError as exc:  # a broken numba must not break the overlap
                log.warning("overlap: %s; using another engine", exc)
        if _installed("duckdb"):
            return "duckdb"
    return "pyarrow"


def _presence(src: _Side, dst: _Side, engine: str) -> tuple[np.ndarray, np.ndarray]:
    """Per unique id (in no particular order): the position of its first row, counting the
    source's rows then the destination's, and whether the destination has it."""
    if src.valid + dst.valid == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    if engine == "duckdb":
        from ._duck import presence

        workers = min(_workers(), 8) if src.valid + dst.valid >= PARTITION_ROWS else 1
        return presence(src.ids, dst.ids, workers)
    return _presence_arrow(src, dst)


def _presence_arrow(src: _Side, dst: _Side) -> tuple[np.ndarray, np.ndarray]:
    n_s = len(src.ids)
    ids = _concat(src.ids, dst.ids)
    workers = _workers()
    if src.valid + dst.valid < PARTITION_ROWS or workers < 2:
        return _encode(ids, None, n_s)
    # Split the rows by a cheap hash of their bytes (equal ids land in the same part), and
    # encode the parts on every core. Two parts per worker even out unequal parts; more
    # would cost more in copying the strings out than they gain in cache hits.
    n_parts = 2 * workers
    part = _partition_keys(src.shape, dst.shape, n_parts)
    if ids.null_count:
        part[~_valid_rows(ids)] = n_parts  # anonymous rows: in no part

    def encode_part(j: int) -> tuple[np.ndarray, np.ndarray]:
        positions = np.flatnonzero(part == j)
        return _encode(take_rows(ids, positions), positions, n_s)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(encode_part, range(n_parts)))
    return (
        np.concatenate([first for first, _ in results]),
        np.concatenate([in_d for _, in_d in results]),
    )


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _partition_keys(s_shape: Shape, d_shape: Shape, n_parts: int) -> np.ndarray:
    """A part number per row, below ``n_parts``, from its length, first and last byte."""
    lengths = np.concatenate([s_shape.lengths, d_shape.lengths]).astype(np.uint32)
    first = np.concatenate([s_shape.first, d_shape.first]).astype(np.uint32)
    last = np.concatenate([s_shape.last, d_shape.last]).astype(np.uint32)
    mixed = (first << 16) | (last << 8) | (lengths & 0xFF)
    mixed *= np.uint32(0x9E3779B1)  # Fibonacci hashing: the top bits mix every input bit
    return ((mixed >> np.uint32(16)) % np.uint32(n_parts)).astype(np.uint16)


def _valid_rows(ids: pa.ChunkedArray) -> np.ndarray:
    if ids.null_count == 0:
        return np.ones(len(ids), dtype=bool)
    return ids.is_valid().to_numpy(zero_copy_only=False)


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
        rows = np.flatnonzero(_valid_rows(ids))
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


def _first_codes(first: np.ndarray, in_d: np.ndarray, n_s: int, n: int) -> np.ndarray:
    """A code per row, from each distinct id's first row (``first``, counting the source's
    rows then the destination's) and whether the destination has it: 1 on the source's
    first row of an id only the source has, 3 of an id both have, 2 on the destination's
    first row of an id only it has, 0 on every other row."""
    code = np.zeros(n, dtype=np.int8)
    code[first] = (first < n_s).astype(np.int8) + 2 * in_d.astype(np.int8)
    return code


def _positions(code: np.ndarray, n_s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions (ascending) of the ids in both, only in the source (both counted in
    the source's rows) and only in the destination (in its rows): a counting sort."""
    in_source = code[:n_s]
    return (
        np.flatnonzero(in_source == 3),
        np.flatnonzero(in_source == 1),
        np.flatnonzero(code[n_s:] == 2),
    )


def _sets_numba(kernels: Any, src: _Side, dst: _Side, big: bool) -> tuple[Any, Any]:
    """Rows of the three sets (counting the source's rows then the destination's) and the
    rows' layout, by the compiled kernels (``kernels``: :mod:`moecohort._kernels`)."""
    workers = _workers() if big else 1
    run = partial(_run, parallel=big)
    rows = kernels.Rows([src.ids, dst.ids], run)
    valid = np.concatenate([_valid_rows(src.ids), _valid_rows(dst.ids)])
    code = kernels.codes(rows, valid, src.rows, run, workers)
    return kernels.split(code, run, workers), rows


def _near_misses(
    sets: list[tuple[pa.ChunkedArray, np.ndarray, np.ndarray, bool, bool]],
    parallel: bool = False,
    may_be_in: Callable[[int, pa.Array], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Near misses among the report's sets, each given as (its side's ids, its positions
    there, whether each id's key differs from it, whether the set is in the source,
    whether it is in the destination). ``may_be_in(i, keys)``, when given, rules out
    most ids of set ``i`` that are none of ``keys`` faster than comparing strings (the
    rest are compared)."""
    if not any(changed.any() for _, _, changed, _, _ in sets):
        return _empty_near_misses()
    # Two different ids can only share a key if at least one of them changed: the ids
    # involved are the changed ones and those equal to a changed id's key.
    keys = [
        normalise_for_near_miss(take_rows(ids, positions[changed]))
        for ids, positions, changed, _, _ in sets
    ]
    interesting = pc.unique(pa.chunked_array(keys, type=pa.large_string()))

    def involved(
        i: int,
        ids: pa.ChunkedArray,
        positions: np.ndarray,
        changed: np.ndarray,
        in_s: bool,
        in_d: bool,
    ) -> pa.Table:
        if may_be_in is None:
            hits = pc.is_in(take_rows(ids, positions), value_set=interesting)
            hits = hits.to_numpy(zero_copy_only=False)
        else:
            hits = may_be_in(i, interesting)
            maybe = np.flatnonzero(hits)
            sure = pc.is_in(take_rows(ids, positions[maybe]), value_set=interesting)
            hits[maybe] = sure.to_numpy(zero_copy_only=False)
        found = take_rows(ids, positions[changed | hits])
        return pa.table(
            {
                "id": found,
                "key": normalise_for_near_miss(found),
                "in_s": pa.array(np.full(len(found), in_s)),
                "in_d": pa.array(np.full(len(found), in_d)),
            }
        )

    tables = _run(
        [partial(involved, i, *s) for i, s in enumerate(sets) if len(s[1])], parallel=parallel
    )
    table = pa.concat_tables(tables)
    left = table.filter(pc.field("in_s")).select(["id", "key", "in_d"])
    right = table.filter(pc.field("in_d")).select(["id", "key", "in_s"])
    left = left.rename_columns(["source_id", "key", "source_in_destination"])
    right = right.rename_columns(["destination_id", "key", "destination_in_source"])
    pairs = left.join(right, "key", join_type="inner")
    pairs = pairs.filter(
        pc.and_(
            pc.not_equal(pairs["source_id"], pairs["destination_id"]),
            pc.invert(pc.and_(pairs["source_in_destination"], pairs["destination_in_source"])),
        )
    )
    if pairs.num_rows == 0:
        return _empty_near_misses()
    pairs = pairs.sort_by([("source_id", "ascending"), ("destination_id", "ascending")])
    s_list = pairs["source_id"].to_pylist()
    d_list = pairs["destination_id"].to_pylist()
    return pd.DataFrame(
        {
            "source_id": pd.array(s_list, dtype="string"),
            "destination_id": pd.array(d_list, dtype="string"),
            "differs_by": pd.array(
                [near_miss_kind(a, b) for a, b in zip(s_list, d_list, strict=True)], dtype="string"
            ),
        }
    )


def _empty_near_misses() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_id": pd.array([], dtype="string"),
            "destination_id": pd.array([], dtype="string"),
            "differs_by": pd.array([], dtype="string"),
        }
    )


def _keep_rows(df: pd.DataFrame, id_col: str, allowed: pa.ChunkedArray | pd.Index) -> pd.DataFrame:
    require_column(df, id_col)
    ids = to_arrow_ids(df[id_col], column=id_col, frame=df)
    if isinstance(allowed, pd.Index):
        allowed = pa.chunked_array([pa.array(allowed, from_pandas=True)])
    allowed = pc.drop_null(_large(allowed))  # anonymous ids are masked as null
    value_set = allowed.combine_chunks() if len(allowed) else pa.array([], pa.large_string())
    mask = pc.is_in(_large(ids), value_set=value_set).to_numpy(zero_copy_only=False)
    return df.loc[mask].copy()
