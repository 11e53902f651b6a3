"""The result of :func:`~moecohort.overlap` on Spark DataFrames: :class:`SparkOverlapReport`.

Its counts, ``summary()``, near misses, text and notebook views and ``plot()`` are those of
the pandas :class:`~moecohort.OverlapReport`. Its three sets stay Spark DataFrames: reading
them as pandas Indexes (:meth:`~SparkOverlapReport.to_index`) or turning the whole report
into the pandas one (:meth:`~SparkOverlapReport.to_pandas`) brings their ids to the driver,
and only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ...ids import OK
from ...ids._arrow import string_index, take_rows
from ...ids.spark.rules import Classified, canonical_id, ensure_ids, require_spark_column
from ..report import OverlapReport, OverlapViews, SideStats, make_report

__all__ = ["SET_NAMES", "SetName", "SparkOverlapReport"]

SetName = Literal["in_both", "only_source", "only_destination"]
SET_NAMES: tuple[SetName, ...] = ("in_both", "only_source", "only_destination")
_SAMPLE = 10


@dataclass(frozen=True, repr=False, eq=False)
class SparkOverlapReport(OverlapViews):
    """Result of :func:`~moecohort.overlap` when a side is a Spark DataFrame.

    ``in_both``, ``only_source`` and ``only_destination`` are Spark DataFrames of distinct
    canonical ids (one column, named after the side's id column; no order), computed from
    a table Spark keeps cached until :meth:`unpersist`. Everything else (the counts,
    ``summary()``, ``near_misses``, the text and notebook views, ``plot()``) is as for
    :class:`~moecohort.OverlapReport`. :meth:`to_index` reads one set as a pandas Index and
    :meth:`to_pandas` the whole report as an :class:`~moecohort.OverlapReport`, in order of
    first appearance (as far as the DataFrames have an order: their partitions in turn).
    """

    #: One row per distinct id (id, n_s, n_d, first_s, first_d, reason and key), cached.
    classified: Classified
    #: The id columns of the source and the destination (the sets' column names).
    columns: tuple[str, str]
    source: SideStats
    destination: SideStats
    n_in_both: int
    n_only_source: int
    n_only_destination: int
    #: Pairs of ids that only match after trimming, case folding or NFC
    #: normalisation: columns ``source_id``, ``destination_id``, ``differs_by``.
    near_misses: pd.DataFrame
    source_label: str = "source"
    destination_label: str = "destination"
    _samples: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ the sets
    @property
    def table(self) -> DataFrame:
        """The distinct ids of both sides, one row each, as Spark keeps them."""
        return self.classified.table

    def _rows(self, which: SetName) -> tuple[Column, str, str]:
        """Which rows of the table hold the set, the column ordering them, its name."""
        in_s, in_d = F.col("n_s") > 0, F.col("n_d") > 0
        ok = F.col("reason") == OK
        if which == "in_both":
            return ok & in_s & in_d, "first_s", self.columns[0]
        if which == "only_source":
            return ok & in_s & ~in_d, "first_s", self.columns[0]
        if which == "only_destination":
            return ok & in_d & ~in_s, "first_d", self.columns[1]
        raise ValueError(f"which must be one of {', '.join(SET_NAMES)}, not {which!r}")

    def ids(self, which: SetName) -> DataFrame:
        """One set as a Spark DataFrame (what ``in_both`` and the others return)."""
        rows, _, name = self._rows(which)
        return self.table.where(rows).select(F.col("id").alias(name))

    @property
    def in_both(self) -> DataFrame:
        """Ids in both apps (a Spark DataFrame)."""
        return self.ids("in_both")

    @property
    def only_source(self) -> DataFrame:
        """Ids only the source has (a Spark DataFrame)."""
        return self.ids("only_source")

    @property
    def only_destination(self) -> DataFrame:
        """Ids only the destination has (a Spark DataFrame)."""
        return self.ids("only_destination")

    def _ordered(self, which: SetName, limit: int | None = None) -> pa.ChunkedArray:
        rows, order, _ = self._rows(which)
        frame = self.table.where(rows).orderBy(order).select("id")
        table = (frame.limit(limit) if limit is not None else frame).toArrow()
        return table.column(0).cast(pa.large_string())

    def to_index(self, which: SetName) -> pd.Index:
        """One set as a pandas Index (Arrow-backed), in order of first appearance: this
        brings every id of the set to the driver."""
        return string_index(self._ordered(which), name=self._rows(which)[2])

    def to_pandas(self) -> OverlapReport:
        """The whole report as a pandas :class:`~moecohort.OverlapReport`: this brings the
        ids of the three sets to the driver."""
        parts = []
        for which in SET_NAMES:
            ids = self._ordered(which)
            parts.append((ids, np.arange(len(ids)), self._rows(which)[2]))
        return make_report(
            parts,
            take_rows,
            source=self.source,
            destination=self.destination,
            near_misses=self.near_misses.copy(),
            labels=(self.source_label, self.destination_label),
        )

    def keep(self, df: DataFrame, id_col: str | None = None) -> DataFrame:
        """Rows of ``df`` (a source Spark DataFrame) whose id is in both apps. ``id_col``
        defaults to the source column the overlap was computed on."""
        column = id_col if id_col is not None else self.columns[0]
        require_spark_column(df, column)
        ids = canonical_id(df, column)
        ensure_ids(df, ids)
        both = self.table.where(self._rows("in_both")[0]).select(F.col("id").alias("_kept_id"))
        return df.join(both, ids.value == F.col("_kept_id"), "left_semi")

    def unpersist(self) -> None:
        """Free the table Spark keeps cached (the sets stay readable: Spark recomputes them)."""
        self.classified.unpersist()

    # ------------------------------------------------------------------ the views
    _flavour = " (Spark)"

    def _set_sizes(self) -> tuple[int, int, int]:
        return self.n_in_both, self.n_only_source, self.n_only_destination

    def sample(self, which: SetName) -> list[str]:
        """The first ids of a set (ten at most), read from Spark once and kept."""
        if which not in self._samples:
            self._samples[which] = self._ordered(which, _SAMPLE).to_pylist()
        return self._samples[which]

    def _sample(self, i: int, k: int) -> list[str]:
        return self.sample(SET_NAMES[i])[:k]

    def _more_lines(self) -> list[str]:
        return ["The sets are Spark DataFrames: .in_both, .only_source, .only_destination."]
