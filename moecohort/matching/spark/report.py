"""The result of :func:`~moecohort.overlap` on Spark DataFrames: :class:`SparkOverlapReport`.

Its counts, ``summary()``, near misses, text and notebook views and ``plot()`` are those of
the pandas :class:`~moecohort.OverlapReport`. Its three sets stay Spark DataFrames: reading
them as pandas Indexes (:meth:`~SparkOverlapReport.to_index`) or turning the whole report
into the pandas one (:meth:`~SparkOverlapReport.to_pandas`) brings their ids to the driver,
and only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ... import _html
from ...ids import OK
from ...ids._arrow import string_index, take_rows
from ...ids.spark.rules import Classified, canonical_id, ensure_ids, require_spark_column
from ..report import OverlapReport, SideStats, make_report
from ..venn import VennCounts, draw_venn

__all__ = ["SET_NAMES", "SetName", "SparkOverlapReport"]

SetName = Literal["in_both", "only_source", "only_destination"]
SET_NAMES: tuple[SetName, ...] = ("in_both", "only_source", "only_destination")
_SAMPLE = 10


@dataclass(frozen=True, repr=False, eq=False)
class SparkOverlapReport:
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
    @property
    def match_rate(self) -> float:
        """Share of the source's unique ids that exist in the destination (0..1)."""
        return self.n_in_both / self.source.unique if self.source.unique else 0.0

    def summary(self) -> pd.DataFrame:
        """Counts per side, as a DataFrame (rows: metrics, columns: the two sides)."""
        nm = len(self.near_misses)
        sides = [
            (self.source_label, self.source, self.n_only_source),
            (self.destination_label, self.destination, self.n_only_destination),
        ]
        return pd.DataFrame(
            {
                label: [s.rows, s.anonymous, s.duplicates, s.unique, self.n_in_both, only, nm]
                for label, s, only in sides
            },
            index=pd.Index(
                [
                    "rows",
                    "anonymous rows",
                    "duplicate rows",
                    "unique ids",
                    "in both apps",
                    "only in this app",
                    "near misses",
                ],
                name="ids",
            ),
        )

    def _near_misses_shown(self) -> pd.DataFrame:
        return self.near_misses.assign(
            source_id=self.near_misses["source_id"].map(repr),
            destination_id=self.near_misses["destination_id"].map(repr),
        )

    def __repr__(self) -> str:
        lines = [
            f"OverlapReport (Spark): {self.n_in_both:,} ids in both apps "
            f"({self.match_rate:.1%} of {self.source_label}'s {self.source.unique:,} unique ids)",
            self.summary().to_string(),
        ]
        if len(self.near_misses):
            lines.append(
                f"{len(self.near_misses):,} near misses (not merged), e.g.:\n"
                + self._near_misses_shown().head(5).to_string(index=False)
            )
        lines.append("The sets are Spark DataFrames: .in_both, .only_source, .only_destination.")
        return "\n".join(lines)

    def sample(self, which: SetName) -> list[str]:
        """The first ids of a set (ten at most), read from Spark once and kept."""
        if which not in self._samples:
            self._samples[which] = self._ordered(which, _SAMPLE).to_pylist()
        return self._samples[which]

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
        counts = (self.n_in_both, self.n_only_source, self.n_only_destination)
        labels = ["in both apps", f"only in {self.source_label}"]
        labels.append(f"only in {self.destination_label}")
        for which, label, n in zip(SET_NAMES, labels, counts, strict=True):
            if n:
                shown = ", ".join(_html.esc(repr(v)) for v in self.sample(which))
                more = " …" if n > _SAMPLE else ""
                sections.append((f"sample ids {label}", f"<div class='note'>{shown}{more}</div>"))
        details = "".join(
            f"<details><summary>{_html.esc(s)}</summary>{c}</details>" for s, c in sections
        )
        return (
            f"{_html.STYLE}<div class='moecohort-report'>"
            f"<h4>Overlap (Spark): {self.n_in_both:,} ids in both apps "
            f"({self.match_rate:.1%} of {_html.esc(self.source_label)})</h4>"
            f"<table><thead>{head}</tr></thead><tbody>{body}</tbody></table>{details}</div>"
        )

    def plot(self, ax: Any = None, *, title: str | None = None) -> Any:
        """The linear Venn diagram of :meth:`moecohort.OverlapReport.plot` (needs
        matplotlib: ``pip install moecohort[widgets]``). Returns the matplotlib Axes."""
        s, d = self.source, self.destination
        counts = VennCounts(
            labels=(self.source_label, self.destination_label),
            only_source=self.n_only_source,
            in_both=self.n_in_both,
            only_destination=self.n_only_destination,
            unique=(s.unique, d.unique),
            anonymous=(s.anonymous, d.anonymous),
            duplicates=(s.duplicates, d.duplicates),
            near_misses=len(self.near_misses),
            match_rate=self.match_rate,
        )
        return draw_venn(counts, ax, title=title)
