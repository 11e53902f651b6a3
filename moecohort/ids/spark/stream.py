"""A Spark DataFrame's distinct ids, for a push or a sync: de-duplicated and filtered in
Spark, then streamed to the driver part by part.

:func:`distinct_ids` groups the canonical ids in Spark, classifies each distinct id
(:func:`~moecohort.ids.spark.rules.classify_distinct`) and counts every input row there:
rows, anonymous rows by reason, repeats, distinct ids. Only those counts come back at
once. The ids follow with :meth:`SparkIds.parts`: range-partitioned into Spark partitions
of at most :data:`PART_ROWS` ids, sorted, and fetched one partition at a time
(``toLocalIterator``), so the driver holds one partition whatever the table's size.
:func:`moecohort.input.spool` writes them to its table on disk (in id order, the cheapest
order for it), and push and sync go on from there as for any streamed input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..anonymous import OK, REASON_NAMES
from .rules import (
    Classified,
    canonical_id,
    classify_distinct,
    reporting_bad_ids,
    require_spark_column,
)

__all__ = ["CHUNK_ROWS", "PART_ROWS", "SparkIds", "distinct_ids"]

#: Ids per Spark partition, the most the driver fetches at once.
PART_ROWS = 200_000
#: Ids per chunk :meth:`SparkIds.parts` yields: 10,000 keep the driver's peak about 15 MiB
#: lower than 50,000 (each chunk lives as Python strings, an Arrow array, then strings again
#: in the spool), at no cost in speed, the ids coming sorted.
CHUNK_ROWS = 10_000


@dataclass
class SparkIds:
    """The counts of a Spark DataFrame's id column, and its distinct non-anonymous ids
    (cached on the executors until :meth:`close`)."""

    column: str
    rows: int
    anonymous_by_reason: dict[str, int]
    unique: int
    classified: Classified

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())

    @property
    def duplicates(self) -> int:
        return self.rows - self.anonymous - self.unique

    def _valid(self) -> DataFrame:
        return self.classified.table.where(F.col("reason") == OK)

    def parts(self, chunk_rows: int | None = None) -> Iterator[pa.ChunkedArray]:
        """The distinct ids in id order, ``chunk_rows`` (:data:`CHUNK_ROWS`) at a time,
        fetched from Spark one partition (at most :data:`PART_ROWS` ids) at a time."""
        chunk_rows = chunk_rows or CHUNK_ROWS
        n_parts = max(1, -(-self.unique // PART_ROWS))
        ordered = self._valid().select("id").repartitionByRange(n_parts, "id")
        chunk: list[str] = []
        for row in ordered.sortWithinPartitions("id").toLocalIterator(prefetchPartitions=False):
            chunk.append(row[0])
            if len(chunk) >= chunk_rows:
                yield pa.chunked_array([pa.array(chunk, pa.large_string())])
                chunk = []
        if chunk:
            yield pa.chunked_array([pa.array(chunk, pa.large_string())])

    def in_first_row_order(self) -> pa.Array:
        """Every distinct id at once, in the order of their first rows (as far as the
        DataFrame has an order: its partitions in turn). Needs ``distinct_ids(...,
        ordered=True)``."""
        table = self._valid().orderBy("first").select("id").toArrow()
        return table.column(0).cast(pa.large_string()).combine_chunks()

    def close(self) -> None:
        """Free what Spark cached."""
        self.classified.unpersist()

    def __enter__(self) -> SparkIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def distinct_ids(
    df: DataFrame,
    column: str,
    *,
    placeholders: Iterable[str] | None = None,
    ordered: bool = False,
) -> SparkIds:
    """Count the ids of ``df[column]`` and find its distinct non-anonymous ids, in Spark.

    Raises :class:`~moecohort.InputError` for a missing column or a row that holds no id
    (a fractional number, a boolean...). With ``ordered``, the first row of each id is
    kept too (for :meth:`SparkIds.in_first_row_order`)."""
    require_spark_column(df, column)
    ids = canonical_id(df, column)
    rows = df.select(ids.checked.alias("id"), F.monotonically_increasing_id().alias("pos"))
    counts = [F.count(F.lit(1)).alias("n")]
    if ordered:
        counts.append(F.min("pos").alias("first"))
    grouped = rows.groupBy("id").agg(*counts)
    with reporting_bad_ids(df, ids):
        found = classify_distinct(grouped, placeholders, {"rows": F.sum("n")})
    return SparkIds(
        column=column,
        rows=found.total("rows"),
        anonymous_by_reason={
            name: found.total("rows", [code]) for code, name in REASON_NAMES.items()
        },
        unique=found.total("distinct", [OK]),
        classified=found,
    )
