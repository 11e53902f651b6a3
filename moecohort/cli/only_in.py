"""``push/sync --only-in DEST_EXPORT``: keep the users the destination has, as
:func:`moecohort.keep_in_destination` does (ids compared in their canonical form,
anonymous users dropped), for a source of any size: the source is streamed in chunks,
the destination's distinct ids are held in memory (one hash index, built once)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .files import Layout

__all__ = ["OnlyIn", "destination_ids"]


def destination_ids(layout: Layout, column: str) -> pd.Index:
    """The distinct, non-anonymous canonical ids of the destination export."""
    import pandas as pd
    import pyarrow.compute as pc

    from ..ids import to_arrow_ids, without_anonymous
    from .files import read_ids

    if layout.empty:
        raise click.ClickException(f"--only-in {layout.name} is empty: no header, no rows")
    frame = read_ids(layout, column)
    valid, _ = without_anonymous(to_arrow_ids(frame[column], column=column, frame=frame))
    unique = pc.unique(valid)
    return pd.Index(unique.to_numpy(zero_copy_only=False), dtype=object)


@dataclass
class OnlyIn:
    """Filters chunks of the source to the users in ``known`` (the destination's ids),
    counting what it leaves out; says so on stderr once the source is read, which
    ``push_cohort`` and ``sync_cohort`` do before they send anything."""

    known: pd.Index
    label: str
    rows: int = 0
    kept: int = 0
    anonymous: int = 0

    def filter(self, chunks: Iterator[pd.DataFrame], id_col: str) -> Iterator[pd.DataFrame]:
        from ..ids import OK, classify, to_arrow_ids

        for chunk in chunks:
            ids = to_arrow_ids(chunk[id_col], column=id_col, frame=chunk)
            real = classify(ids) == OK
            known = self.known.get_indexer(ids.to_numpy(zero_copy_only=False)) >= 0
            keep = real & known
            self.rows += len(chunk)
            self.kept += int(keep.sum())
            self.anonymous += int((~real).sum())
            yield chunk.loc[keep]
        click.echo(self.summary(), err=True)

    def summary(self) -> str:
        left_out = self.rows - self.kept
        unknown = left_out - self.anonymous
        return (
            f"--only-in {self.label}: {self.kept:,} of {self.rows:,} rows kept; {left_out:,} "
            f"left out ({unknown:,} of users {self.label} does not have, "
            f"{self.anonymous:,} anonymous)"
        )
