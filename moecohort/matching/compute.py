"""Computing the overlap: :func:`overlap` and :func:`keep_in_destination`.

Speed: ids stay in Arrow buffers from the input to the report (no Python object per
id). Anonymous ids are masked, not copied out; most ids are classified and checked for
near misses from their bytes alone; the report's Indexes are cut from the input's own
strings. The set work (which ids are distinct, where each first appears, whether the
other side has it) runs in one of three engines (:mod:`moecohort.matching.engines`), each
using every core:

* ``"numba"`` (``pip install moecohort[fast]``): moecohort's own compiled kernels
  (:mod:`moecohort.matching.engines.numba`): hash partitions small enough to stay in
  cache, every match confirmed byte for byte;
* ``"duckdb"`` (``pip install moecohort[fast]``): DuckDB ``GROUP BY`` queries, one per
  core over a hash partition of the ids;
* ``"pyarrow"``: pyarrow's dictionary encoding, of one hash partition per thread on
  large inputs;
* ``"auto"`` (default): numba, else DuckDB, when installed and the two sides hold at
  least :data:`AUTO_FAST_ROWS` rows together; pyarrow otherwise.

All engines give identical reports. This module reads the sides, picks the engine, owns
the threads (:func:`_run`, the runner handed to the numba engine and the near-miss
search) and assembles the report.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..credentials import AppCredentials
from ..errors import InputError
from ..ids import OK, as_series, classify_with_shape, require_column, to_arrow_ids
from ..ids._arrow import Shape, take_rows
from ..ids.spark import is_spark_frame
from ..input import arrow_kind, read_ids, read_table, rows_hint
from .columns import as_large, keep_rows, mask_rows, valid_rows
from .engines import arrow, duck
from .near_miss import empty_near_misses, find_near_misses, near_miss_changes_of
from .report import OverlapReport, SideStats, TakeRows, make_report

if TYPE_CHECKING:  # pragma: no cover - pyspark loads only when a Spark DataFrame is given
    from pyspark.sql import DataFrame as SparkDataFrame

    from .spark import SparkOverlapReport

__all__ = [
    "AUTO_FAST_ROWS",
    "ENGINES",
    "PARTITION_ROWS",
    "Engine",
    "keep_in_destination",
    "overlap",
]

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


@overload
def overlap(
    source: SparkDataFrame,
    destination: Any,
    on: str | tuple[str, str] = ...,
    *,
    placeholders: Iterable[str] | None = ...,
    near_misses: bool = ...,
    labels: tuple[str, str] = ...,
    engine: Engine = ...,
) -> SparkOverlapReport: ...
@overload
def overlap(
    source: Any,
    destination: SparkDataFrame,
    on: str | tuple[str, str] = ...,
    *,
    placeholders: Iterable[str] | None = ...,
    near_misses: bool = ...,
    labels: tuple[str, str] = ...,
    engine: Engine = ...,
) -> SparkOverlapReport: ...
@overload
def overlap(
    source: Any,
    destination: Any,
    on: str | tuple[str, str] = ...,
    *,
    placeholders: Iterable[str] | None = ...,
    near_misses: bool = ...,
    labels: tuple[str, str] = ...,
    engine: Engine = ...,
) -> OverlapReport: ...
def overlap(
    source: Any,
    destination: Any,
    on: str | tuple[str, str] = "uid",
    *,
    placeholders: Iterable[str] | None = None,
    near_misses: bool = True,
    labels: tuple[str, str] = ("source", "destination"),
    engine: Engine = "auto",
) -> OverlapReport | SparkOverlapReport:
    """Compare the user ids of two apps.

    ``source`` and ``destination`` may each be a DataFrame (the id column is
    ``on``, or ``on[0]`` / ``on[1]`` when ``on`` is a pair), a Series, an Index,
    or any iterable of ids; or an Arrow input: a Polars DataFrame, LazyFrame or
    Series, a DuckDB relation, a pyarrow Table, Dataset, Array or ChunkedArray, any
    object exporting ``__arrow_c_stream__`` (only the id column is read, as Arrow
    arrays: no pandas copy). Ids are compared in their canonical form (see
    :func:`moecohort.canonical_ids`): exactly, with no trimming or case folding. The
    report's sets are pandas Indexes whatever the inputs.

    ``engine`` picks where the set work runs: ``"pyarrow"``, ``"numba"`` or ``"duckdb"``
    (both need ``pip install moecohort[fast]``) or ``"auto"``: numba, else DuckDB, when
    installed and both sides hold :data:`AUTO_FAST_ROWS` rows or more together, pyarrow
    otherwise. The report is the same whichever engine runs.

    When a side is a Spark DataFrame (``pip install moecohort[spark]``), the set work runs
    in Spark whatever ``engine`` says and the result is a
    :class:`~moecohort.matching.spark.SparkOverlapReport`, whose three sets stay Spark
    DataFrames.
    """
    src_col, dst_col = _pair(on)
    if is_spark_frame(source) or is_spark_frame(destination):
        from .spark import overlap_spark

        return overlap_spark(
            source,
            destination,
            (src_col, dst_col),
            placeholders=placeholders,
            near_misses=near_misses,
            labels=labels,
        )
    use = _engine(engine)
    # Large sides are read and checked in parallel threads (Arrow and numpy release the GIL).
    big = rows_hint(source) + rows_hint(destination) >= PARTITION_ROWS
    # A missing column names the side at fault: param "on" for the source, and
    # "destination_col" for the destination (the CLI's --on and --dest-on).
    sides = [
        (source, src_col, "The source", "on", lambda c: f"on=({c!r}, {dst_col!r})"),
        (
            destination,
            dst_col,
            "The destination",
            "destination_col",
            lambda c: f"on=({src_col!r}, {c!r})",
        ),
    ]
    src, dst = _run(
        [
            partial(
                _side, obj, col, placeholders, where, param, changes=near_misses, suggest=suggest
            )
            for obj, col, where, param, suggest in sides
        ],
        parallel=big,
    )
    big = src.rows + dst.rows >= PARTITION_ROWS
    if use == "auto":
        use = _auto_engine(src.rows + dst.rows)

    may_be_in = None
    take: TakeRows = take_rows
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
        nm = find_near_misses(
            [
                (src.ids, pos_both, src.changed[pos_both], True, True),
                (src.ids, pos_only_s, src.changed[pos_only_s], True, False),
                (dst.ids, pos_only_d, dst.changed[pos_only_d], False, True),
            ],
            partial(_run, parallel=big),
            may_be_in=may_be_in,
        )
    else:
        nm = empty_near_misses()
    report = make_report(
        parts,
        take,
        source=SideStats(src.rows, src.anonymous, src.valid - n_s_unique, n_s_unique),
        destination=SideStats(dst.rows, dst.anonymous, dst.valid - n_d_unique, n_d_unique),
        near_misses=nm,
        labels=labels,
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


@overload
def keep_in_destination(
    df: SparkDataFrame,
    destination: Any,
    id_col: str = ...,
    *,
    destination_col: str | None = ...,
    placeholders: Iterable[str] | None = ...,
) -> SparkDataFrame: ...
@overload
def keep_in_destination(
    df: pd.DataFrame,
    destination: Any,
    id_col: str = ...,
    *,
    destination_col: str | None = ...,
    placeholders: Iterable[str] | None = ...,
) -> pd.DataFrame: ...
def keep_in_destination(
    df: pd.DataFrame | SparkDataFrame,
    destination: Any,
    id_col: str = "uid",
    *,
    destination_col: str | None = None,
    placeholders: Iterable[str] | None = None,
) -> pd.DataFrame | SparkDataFrame:
    """Rows of ``df`` whose id exists in ``destination`` (a frame, Series or ids, or any
    Arrow input :func:`overlap` takes).

    The seed flow needs users that exist in both apps: the Cohort Sync API never
    creates users, so ids unknown to the destination would be accepted and then
    silently ignored. Anonymous rows are dropped too (they exist nowhere).

    ``df`` may be an Arrow table too (a Polars DataFrame, a DuckDB relation, a pyarrow
    Table...): its rows are picked in Arrow and only those kept become the pandas
    DataFrame returned. With a Spark DataFrame on either side the ids are matched in
    Spark; a Spark ``df`` gives a (lazy) Spark DataFrame of its rows.

    This is the export-based filter; :func:`moecohort.keep_in_destination` also takes the
    destination app itself (it looks the ids up) and comes here for an export.
    """
    if isinstance(destination, (str, AppCredentials)):
        raise InputError(
            "destination is an app, not an export: use moecohort.keep_in_destination, "
            "which looks the ids up in the app (or pass an export of the app here).",
            param="destination",
        )
    if is_spark_frame(df) or is_spark_frame(destination):
        from .spark import keep_in_destination_spark

        return keep_in_destination_spark(
            df, destination, id_col, destination_col or id_col, placeholders=placeholders
        )
    if not isinstance(df, pd.DataFrame) and arrow_kind(df) == "table":
        return _keep_arrow_rows(df, destination, id_col, destination_col, placeholders)
    df = cast(pd.DataFrame, df)  # not a Spark DataFrame (require_column checks the rest)
    require_column(df, id_col)
    dst = _side(
        destination, destination_col or id_col, placeholders, "The destination", "destination_col"
    )
    return keep_rows(df, id_col, dst.ids)


def _keep_arrow_rows(
    df: Any,
    destination: Any,
    id_col: str,
    destination_col: str | None,
    placeholders: Iterable[str] | None,
) -> pd.DataFrame:
    """:func:`keep_in_destination` of an Arrow table: rows picked in Arrow, those kept
    converted to pandas."""
    table = read_table(df)
    ids = _side(table, id_col, placeholders, "The frame", "id_col").ids
    dst = _side(
        destination, destination_col or id_col, placeholders, "The destination", "destination_col"
    )
    allowed = pc.drop_null(dst.ids)  # anonymous ids are masked as null
    value_set = allowed.combine_chunks() if len(allowed) else pa.array([], pa.large_string())
    keep = pc.fill_null(pc.is_in(ids, value_set=value_set), False)
    return table.filter(keep).to_pandas()


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
    elif arrow_kind(obj) is not None:  # Arrow in, Arrow ids: no pandas copy
        hints: dict[str, Any] = {"param": param, "suggest": suggest}
        ids = read_ids(obj, column, where=where, **hints)
    else:
        series = as_series(obj)
        ids = to_arrow_ids(series, column=column)
    ids = as_large(ids)
    reasons, shape = classify_with_shape(ids, placeholders)
    changed = near_miss_changes_of(ids, shape) if changes else None
    ok = reasons == OK
    n_anon = len(ok) - int(np.count_nonzero(ok))
    if n_anon:
        ids = mask_rows(ids, ok)
    return _Side(ids, len(ids), n_anon, shape, changed)


def _run(tasks: list[Callable[[], Any]], *, parallel: bool) -> list[Any]:
    """Results of ``tasks`` in order, run in threads when ``parallel`` (errors in order too)."""
    if not parallel or _workers() < 2:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(len(tasks), _workers())) as pool:
        futures = [pool.submit(task) for task in tasks]
        return [future.result() for future in futures]


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
        return importlib.import_module("moecohort.matching.engines.numba")
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
    big = src.valid + dst.valid >= PARTITION_ROWS
    if engine == "duckdb":
        return duck.presence(src.ids, dst.ids, min(_workers(), 8) if big else 1)
    return arrow.presence(src.ids, dst.ids, src.shape, dst.shape, _workers() if big else 1)


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


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
    rows' layout, by the compiled kernels (``kernels``:
    :mod:`moecohort.matching.engines.numba`)."""
    workers = _workers() if big else 1
    run = partial(_run, parallel=big)
    rows = kernels.Rows([src.ids, dst.ids], run)
    valid = np.concatenate([valid_rows(src.ids), valid_rows(dst.ids)])
    code = kernels.codes(rows, valid, src.rows, run, workers)
    return kernels.split(code, run, workers), rows
