"""The result of :func:`~moecohort.matching.overlap`: :class:`OverlapReport` and its
:class:`SideStats`, with the text and notebook (HTML) views.

The report holds its three sets of ids as row positions in the sides' own strings; each
set's pandas Index is cut the first time it is read. :func:`make_report` builds one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import _html
from ..ids._arrow import string_index, take_rows
from .columns import keep_rows
from .venn import VennCounts, draw_venn

__all__ = ["OverlapReport", "OverlapViews", "SetRows", "SideStats", "TakeRows", "make_report"]

#: Cuts the strings at row positions (ascending) out of a side's ids.
TakeRows = Callable[[pa.ChunkedArray, np.ndarray], Any]
#: One set of the report: its side's ids, its row positions there (ascending), the name
#: of its Index (the side's id column).
SetRows = tuple[pa.ChunkedArray, np.ndarray, Any]


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

    def __init__(self, parts: list[SetRows], take: TakeRows) -> None:
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


class OverlapViews:
    """What both overlap reports (this one, and the Spark one in
    :mod:`moecohort.matching.spark.report`) show of their counts: the match rate, the
    summary, the text and notebook views, the Venn diagram. A report provides the counts,
    the near misses and the labels, and :meth:`_sample` (the first ids of a set)."""

    source: SideStats
    destination: SideStats
    near_misses: pd.DataFrame
    source_label: str
    destination_label: str
    #: Said after "OverlapReport" and "Overlap" in the titles (e.g. " (Spark)").
    _flavour = ""

    def _set_sizes(self) -> tuple[int, int, int]:
        """How many ids are in both apps, only in the source, only in the destination."""
        raise NotImplementedError

    def _sample(self, i: int, k: int) -> list[str]:
        """The first ``k`` ids of set ``i`` (in both, only in the source, only in the
        destination)."""
        raise NotImplementedError

    def _more_lines(self) -> list[str]:
        """Lines the text view adds at its end."""
        return []

    @property
    def match_rate(self) -> float:
        """Share of the source's unique ids that exist in the destination (0..1)."""
        both = self._set_sizes()[0]
        return both / self.source.unique if self.source.unique else 0.0

    def summary(self) -> pd.DataFrame:
        """Counts per side, as a DataFrame (rows: metrics, columns: the two sides)."""
        s, d = self.source, self.destination
        both, only_s, only_d = self._set_sizes()
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
                    both,
                    only_s,
                    nm,
                ],
                self.destination_label: [
                    d.rows,
                    d.anonymous,
                    d.duplicates,
                    d.unique,
                    both,
                    only_d,
                    nm,
                ],
            },
            index=pd.Index(index, name="ids"),
        )

    def _near_misses_shown(self) -> pd.DataFrame:
        """Near misses with ids quoted, so stray whitespace is visible."""
        return self.near_misses.assign(
            source_id=self.near_misses["source_id"].map(lambda v: _html.shorten(repr(v))),
            destination_id=self.near_misses["destination_id"].map(lambda v: _html.shorten(repr(v))),
        )

    def __repr__(self) -> str:
        lines = [
            f"OverlapReport{self._flavour}: {self._set_sizes()[0]:,} ids in both apps "
            f"({self.match_rate:.1%} of {self.source_label}'s {self.source.unique:,} unique ids)",
        ]
        summary = self.summary()
        lines.append(summary.to_string())
        if len(self.near_misses):
            lines.append(
                f"{len(self.near_misses):,} near misses (not merged), e.g.:\n"
                + self._near_misses_shown().head(5).to_string(index=False)
            )
        lines += self._more_lines()
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
        counts = self._set_sizes()
        labels = ["in both apps", f"only in {self.source_label}"]
        labels.append(f"only in {self.destination_label}")
        for i, (label, n) in enumerate(zip(labels, counts, strict=True)):
            if n:
                shown = ", ".join(_html.esc(_html.shorten(repr(v))) for v in self._sample(i, 10))
                more = " …" if n > 10 else ""
                sections.append((f"sample ids {label}", f"<div class='note'>{shown}{more}</div>"))
        details = "".join(
            f"<details><summary>{_html.esc(s)}</summary>{c}</details>" for s, c in sections
        )
        return (
            f"{_html.STYLE}<div class='moecohort-report'>"
            f"<h4>Overlap{self._flavour}: {counts[0]:,} ids in both apps "
            f"({self.match_rate:.1%} of {_html.esc(self.source_label)})</h4>"
            f"<table><thead>{head}</tr></thead><tbody>{body}</tbody></table>{details}</div>"
        )

    def plot(self, ax: Any = None, *, title: str | None = None) -> Any:
        """A bar chart of the overlap (needs matplotlib: ``pip install moecohort[widgets]``):
        the linear Venn diagram of :func:`~moecohort.matching.venn.draw_venn`, on ``ax`` or a
        new figure, under ``title`` or the default one. Returns the matplotlib Axes."""
        s, d = self.source, self.destination
        both, only_s, only_d = self._set_sizes()
        counts = VennCounts(
            labels=(self.source_label, self.destination_label),
            only_source=only_s,
            in_both=both,
            only_destination=only_d,
            unique=(s.unique, d.unique),
            anonymous=(s.anonymous, d.anonymous),
            duplicates=(s.duplicates, d.duplicates),
            near_misses=len(self.near_misses),
            match_rate=self.match_rate,
        )
        return draw_venn(counts, ax, title=title)


@dataclass(frozen=True, repr=False, eq=False)
class OverlapReport(OverlapViews):
    """Result of :func:`~moecohort.matching.overlap`.

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

    def keep(self, df: pd.DataFrame, id_col: str | None = None) -> pd.DataFrame:
        """Rows of ``df`` (a source frame) whose id is in both apps. ``id_col``
        defaults to the source column the overlap was computed on."""
        column = id_col if id_col is not None else (self._sets.name(0) or "uid")
        return keep_rows(df, column, self.in_both)

    def _set_sizes(self) -> tuple[int, int, int]:
        return self._sets.count(0), self._sets.count(1), self._sets.count(2)

    def _sample(self, i: int, k: int) -> list[str]:
        return self._sets.head(i, k)


def make_report(
    sets: list[SetRows],
    take: TakeRows,
    source: SideStats,
    destination: SideStats,
    near_misses: pd.DataFrame,
    labels: tuple[str, str],
) -> OverlapReport:
    """A report whose three sets (in both, only in the source, only in the destination)
    are given as row positions; ``take`` cuts their strings when an Index is first read."""
    return OverlapReport(
        _sets=_Sets(sets, take),
        source=source,
        destination=destination,
        near_misses=near_misses,
        source_label=labels[0],
        destination_label=labels[1],
    )
