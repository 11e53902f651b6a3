""":func:`~moecohort.overlap` and :func:`~moecohort.keep_in_destination` on Spark DataFrames:
the set work runs in Spark.

:func:`overlap_spark` hands Spark one aggregation: both sides' canonical ids together,
grouped by id (per distinct id: its rows on each side and its first row on each side). Each
distinct id is then classified and the table cached on the executors
(:func:`~moecohort.ids.spark.rules.classify_distinct`) and counted per reason (one small
result). When the near-miss key changes some ids, Spark keeps the ids that share a key with
one of them, on both sides, and the driver pairs those up (:func:`near_miss_pairs`). Only
the counts and the near misses come to the driver; the three sets stay Spark DataFrames
(:class:`~moecohort.matching.spark.report.SparkOverlapReport`).

A side that is not a Spark DataFrame (a pandas frame, a Series, a list) is made canonical
by the in-memory rules and handed to Spark with its row order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ...ids import OK, as_series, require_column, to_arrow_ids
from ...ids.spark import is_spark_frame
from ...ids.spark.rules import (
    REASONS,
    Classified,
    canonical_id,
    classify_distinct,
    ensure_ids,
    reporting_bad_ids,
    require_spark_column,
)
from ..columns import keep_rows
from ..near_miss import empty_near_misses, pair_near_misses
from ..report import SideStats
from .report import SparkOverlapReport

__all__ = ["BROADCAST_KEYS", "keep_in_destination_spark", "near_miss_pairs", "overlap_spark"]

log = logging.getLogger("moecohort")

#: Up to this many ids that the near-miss key changes, their keys are broadcast to every
#: Spark task looking for near misses (the table is not shuffled); above, Spark shuffles.
BROADCAST_KEYS = 1_000_000

Suggest = Callable[[Any], str]


def overlap_spark(
    source: Any,
    destination: Any,
    columns: tuple[str, str],
    *,
    placeholders: Iterable[str] | None = None,
    near_misses: bool = True,
    labels: tuple[str, str] = ("source", "destination"),
) -> SparkOverlapReport:
    """:func:`~moecohort.overlap` with the set work in Spark (one side at least is a Spark
    DataFrame; ``columns`` are the source's and the destination's id columns)."""
    src_col, dst_col = columns
    spark = _session(source, destination)
    src, src_check = _side(
        spark, source, src_col, 0, "The source", lambda c: f"on=({c!r}, {dst_col!r})"
    )
    dst, dst_check = _side(
        spark, destination, dst_col, 1, "The destination", lambda c: f"on=({src_col!r}, {c!r})"
    )
    side, pos = F.col("side"), F.col("pos")
    grouped = (
        src.unionByName(dst)
        .groupBy("id")
        .agg(
            F.count_if(side == 0).alias("n_s"),
            F.count_if(side == 1).alias("n_d"),
            F.min(F.when(side == 0, pos)).alias("first_s"),
            F.min(F.when(side == 1, pos)).alias("first_d"),
        )
    )
    in_s, in_d = F.col("n_s") > 0, F.col("n_d") > 0
    sums = {
        "rows_s": F.sum("n_s"),
        "rows_d": F.sum("n_d"),
        "unique_s": F.count_if(in_s),
        "unique_d": F.count_if(in_d),
        "both": F.count_if(in_s & in_d),
    }
    with src_check, dst_check:
        found = classify_distinct(grouped, placeholders, sums, keys=near_misses)
    try:
        changed = found.total("changed", [OK]) if near_misses else 0
        pairs = near_miss_pairs(found.table, changed) if near_misses else empty_near_misses()
    except BaseException:
        found.unpersist()
        raise
    report = SparkOverlapReport(
        classified=found,
        columns=(src_col, dst_col),
        source=_stats(found, "s"),
        destination=_stats(found, "d"),
        n_in_both=found.total("both", [OK]),
        n_only_source=found.total("unique_s", [OK]) - found.total("both", [OK]),
        n_only_destination=found.total("unique_d", [OK]) - found.total("both", [OK]),
        near_misses=pairs,
        source_label=labels[0],
        destination_label=labels[1],
    )
    log.info(
        "overlap (Spark): %s in both, %s only in %s, %s only in %s, %s near misses",
        f"{report.n_in_both:,}",
        f"{report.n_only_source:,}",
        labels[0],
        f"{report.n_only_destination:,}",
        labels[1],
        f"{len(pairs):,}",
    )
    return report


def keep_in_destination_spark(
    df: Any,
    destination: Any,
    id_col: str,
    destination_col: str,
    *,
    placeholders: Iterable[str] | None = None,
) -> Any:
    """:func:`~moecohort.keep_in_destination` with a Spark DataFrame on either side: a Spark
    DataFrame of ``df``'s rows (lazy) when ``df`` is one, else a pandas frame."""
    spark = _session(df, destination)
    dst, dst_check = _side(spark, destination, destination_col, 1, "The destination")
    with dst_check:
        found = classify_distinct(dst.select("id").distinct(), placeholders, {}, keys=False)
    try:
        allowed = found.table.where(F.col("reason") == OK).select(F.col("id").alias("_kept_id"))
        if is_spark_frame(df):
            require_spark_column(df, id_col)
            ids = canonical_id(df, id_col)
            ensure_ids(df, ids)
            # Lazy: the destination's ids are read again when the rows are (nothing cached).
            return df.join(allowed, ids.value == F.col("_kept_id"), "left_semi")
        # A pandas frame: its distinct ids go to Spark, those the destination has come back.
        require_column(df, id_col)
        local = _unique(to_arrow_ids(df[id_col], column=id_col, frame=df))
        mine = spark.createDataFrame(pa.table({"id": local}))
        kept = mine.join(allowed, F.col("id") == F.col("_kept_id"), "left_semi").toArrow()
        return keep_rows(df, id_col, kept.column(0))
    finally:
        found.unpersist()


def near_miss_pairs(table: DataFrame, changed: int) -> pd.DataFrame:
    """Near misses among classified distinct ids (columns id, n_s, n_d, reason, changed,
    key; ``changed`` ids change under the near-miss key): pairs of a source id and a
    destination id that differ but share a key, unless each is also on the other side.

    Two different ids share a key only if one of them changed, so Spark keeps the ids
    whose key is the key of a changed id (the keys are broadcast when there are no more
    than :data:`BROADCAST_KEYS`: no shuffle of the table), then only the keys held by both
    sides; the driver pairs those up."""
    if not changed:
        return empty_near_misses()
    ok = table.where(F.col("reason") == OK)
    keys = ok.where(F.col("changed")).select("key").distinct()
    if changed <= BROADCAST_KEYS:
        keys = F.broadcast(keys)
    involved = ok.join(keys, "key", "left_semi").select(
        "id", "key", (F.col("n_s") > 0).alias("in_s"), (F.col("n_d") > 0).alias("in_d")
    )
    group = Window.partitionBy("key")
    marked = involved.select(
        "*",
        F.max("in_s").over(group).alias("s_any"),
        F.max("in_d").over(group).alias("d_any"),
        F.count(F.lit(1)).over(group).alias("ids"),
    )
    shared = marked.where(F.col("s_any") & F.col("d_any") & (F.col("ids") > 1))
    return pair_near_misses(shared.select("id", "key", "in_s", "in_d").toArrow())


# --------------------------------------------------------------------------- internals
def _session(*sides: Any) -> SparkSession:
    """The session of the first side that is a Spark DataFrame."""
    return next(side.sparkSession for side in sides if is_spark_frame(side))


def _side(
    spark: SparkSession,
    obj: Any,
    column: str,
    side: int,
    where: str,
    suggest: Suggest | None = None,
) -> tuple[DataFrame, contextlib.AbstractContextManager[None]]:
    """One side's rows: canonical id, side (0 or 1), position (for the order of first
    appearance); and the context that reports a row holding no id."""
    if is_spark_frame(obj):
        param = "on" if suggest else "destination_col"
        require_spark_column(obj, column, param=param, where=where, suggest=suggest)
        ids = canonical_id(obj, column)
        rows = obj.select(
            ids.checked.alias("id"),
            F.lit(side).alias("side"),
            F.monotonically_increasing_id().alias("pos"),
        )
        return rows, reporting_bad_ids(obj, ids)
    if isinstance(obj, pd.DataFrame):
        param = "on" if suggest else "destination_col"
        require_column(obj, column, param=param, where=where, suggest=suggest)
        local = to_arrow_ids(obj[column], column=column, frame=obj)
    else:
        series = as_series(obj)
        local = to_arrow_ids(series, column=column)
    table = pa.table({"id": local.cast(pa.large_string()), "pos": np.arange(len(local))})
    rows = spark.createDataFrame(table).select("id", F.lit(side).alias("side"), "pos")
    return rows, contextlib.nullcontext()


def _stats(found: Classified, side: str) -> SideStats:
    rows = found.total(f"rows_{side}", REASONS)
    valid = found.total(f"rows_{side}", [OK])
    unique = found.total(f"unique_{side}", [OK])
    return SideStats(rows, rows - valid, valid - unique, unique)


def _unique(ids: pa.ChunkedArray) -> pa.Array:
    """The distinct values of a column (a null counts as one), as large_string."""
    unique = pc.unique(ids.cast(pa.large_string()))
    return unique.combine_chunks() if isinstance(unique, pa.ChunkedArray) else unique
