"""Identifier overlap between two apps: who is in both, who is only on one side.

The seed flow needs users that exist in both apps under the same ``uid``. This
module tells how many do, lists them, and points out "near misses" (ids that
would only match after trimming, case folding or Unicode normalisation), which
are reported and never merged.

Speed: ids are hash-encoded once with pyarrow (one pass over both sides, no
Python objects per id), and presence is counted with numpy. ``engine="duckdb"``
(``pip install moecohort[fast]``) does the set work in DuckDB instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _html
from .errors import InputError
from .identifiers import (
    OK,
    classify,
    near_miss_kind,
    normalise_for_near_miss,
    require_column,
    string_index,
    to_arrow_ids,
)

__all__ = ["OverlapReport", "keep_in_destination", "overlap"]

log = logging.getLogger("moecohort")

Engine = Literal["auto", "pyarrow", "duckdb"]


@dataclass(frozen=True)
class SideStats:
    """Counts for one side of an overlap."""

    rows: int
    anonymous: int
    duplicates: int
    unique: int


@dataclass(frozen=True, repr=False, eq=False)
class OverlapReport:
    """Result of :func:`overlap`.

    ``in_both``, ``only_source`` and ``only_destination`` are pandas Indexes of
    unique canonical ids (anonymous ids are in none of them), in order of first
    appearance.
    """

    in_both: pd.Index
    only_source: pd.Index
    only_destination: pd.Index
    source: SideStats
    destination: SideStats
    #: Pairs of ids that only match after trimming, case folding or NFC
    #: normalisation: columns ``source_id``, ``destination_id``, ``differs_by``.
    near_misses: pd.DataFrame = field(default_factory=pd.DataFrame)
    source_label: str = "source"
    destination_label: str = "destination"

    @property
    def n_in_both(self) -> int:
        return len(self.in_both)

    @property
    def n_only_source(self) -> int:
        return len(self.only_source)

    @property
    def n_only_destination(self) -> int:
        return len(self.only_destination)

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
        column = id_col if id_col is not None else (self.in_both.name or "uid")
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
        for label, ids in (
            ("in both apps", self.in_both),
            (f"only in {self.source_label}", self.only_source),
            (f"only in {self.destination_label}", self.only_destination),
        ):
            if len(ids):
                sample = ", ".join(_html.esc(repr(v)) for v in ids[:10])
                more = " …" if len(ids) > 10 else ""
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
    """
    src_col, dst_col = _pair(on)
    s_ids, s_stats_rows, s_anon = _side(source, src_col, placeholders, "The source")
    d_ids, d_stats_rows, d_anon = _side(destination, dst_col, placeholders, "The destination")

    uniq, in_s, in_d = _presence(s_ids, d_ids, engine)
    both_mask = in_s & in_d
    in_both = uniq.filter(pa.array(both_mask))
    only_s = uniq.filter(pa.array(in_s & ~in_d))
    only_d = uniq.filter(pa.array(~in_s & in_d))
    n_s_unique = int(in_s.sum())
    n_d_unique = int(in_d.sum())

    nm = _near_misses(uniq, in_s, in_d) if near_misses else _empty_near_misses()
    report = OverlapReport(
        in_both=string_index(in_both, name=src_col),
        only_source=string_index(only_s, name=src_col),
        only_destination=string_index(only_d, name=dst_col),
        source=SideStats(s_stats_rows, s_anon, len(s_ids) - n_s_unique, n_s_unique),
        destination=SideStats(d_stats_rows, d_anon, len(d_ids) - n_d_unique, n_d_unique),
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
    d_ids, _, _ = _side(
        destination, destination_col or id_col, placeholders, "The destination", "destination_col"
    )
    return _keep_rows(df, id_col, d_ids)


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


def _side(
    obj: Any,
    column: str,
    placeholders: Iterable[str] | None,
    where: str = "The frame",
    param: str = "on",
) -> tuple[pa.ChunkedArray, int, int]:
    """Canonical non-anonymous ids of one side, with its row and anonymous counts."""
    if isinstance(obj, pd.DataFrame):
        require_column(obj, column, param=param, where=where)
        ids = to_arrow_ids(obj[column], column=column, frame=obj)
    else:
        from .identifiers import _as_series

        series = _as_series(obj)
        ids = to_arrow_ids(series, column=column)
    reasons = classify(ids, placeholders)
    ok = reasons == OK
    n_anon = int(len(ok) - ok.sum())
    valid = ids if n_anon == 0 else ids.filter(pa.array(ok))
    return _large(valid), len(ids), n_anon


def _large(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    return ids if pa.types.is_large_string(ids.type) else ids.cast(pa.large_string())


def _presence(
    s_ids: pa.ChunkedArray, d_ids: pa.ChunkedArray, engine: Engine
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Unique ids of both sides (first-appearance order) and, per unique id, whether
    it occurs in the source and in the destination."""
    if engine not in ("auto", "pyarrow", "duckdb"):
        raise InputError(f"engine must be 'auto', 'pyarrow' or 'duckdb', not {engine!r}")
    if engine == "duckdb":
        from ._duck import presence

        return presence(s_ids, d_ids)
    return _presence_arrow(s_ids, d_ids)


def _presence_arrow(
    s_ids: pa.ChunkedArray, d_ids: pa.ChunkedArray
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    # One hash pass over both sides: dictionary-encoding a ChunkedArray shares one
    # dictionary across its chunks, so codes are comparable between the two sides.
    chunks = [c for c in s_ids.chunks if len(c)] + [c for c in d_ids.chunks if len(c)]
    n_s_chunks = sum(1 for c in s_ids.chunks if len(c))
    if not chunks:
        return pa.array([], pa.large_string()), np.zeros(0, bool), np.zeros(0, bool)
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.large_string()))
    dictionary = encoded.chunks[-1].dictionary
    k = len(dictionary)

    def present(parts: list[pa.DictionaryArray]) -> np.ndarray:
        if not parts:
            return np.zeros(k, dtype=bool)
        codes = np.concatenate([p.indices.to_numpy(zero_copy_only=False) for p in parts])
        return np.bincount(codes, minlength=k).astype(bool)

    in_s = present(encoded.chunks[:n_s_chunks])
    in_d = present(encoded.chunks[n_s_chunks:])
    return dictionary, in_s, in_d


def _near_misses(uniq: pa.Array, in_s: np.ndarray, in_d: np.ndarray) -> pd.DataFrame:
    if len(uniq) == 0:
        return _empty_near_misses()
    key = normalise_for_near_miss(uniq)
    changed = pc.not_equal(key, uniq).to_numpy(zero_copy_only=False)
    if not changed.any():
        return _empty_near_misses()
    # Two different ids can only share a key if at least one of them changed.
    interesting = pc.unique(key.filter(pa.array(changed)))
    involved = pc.is_in(key, value_set=interesting).to_numpy(zero_copy_only=False)
    pos = np.flatnonzero(involved)
    table = pa.table(
        {
            "id": uniq.take(pa.array(pos)),
            "key": key.take(pa.array(pos)),
            "in_s": pa.array(in_s[pos]),
            "in_d": pa.array(in_d[pos]),
        }
    )
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
    value_set = (
        _large(allowed).combine_chunks() if len(allowed) else pa.array([], pa.large_string())
    )
    mask = pc.is_in(_large(ids), value_set=value_set).to_numpy(zero_copy_only=False)
    return df.loc[mask].copy()
