"""Near misses: ids that only match after trimming, case folding or NFC normalisation.

The overlap reports such pairs and never merges them. Here: the loose key
(:func:`normalise_for_near_miss`), which ids it changes (:func:`near_miss_changes`, read
from the ids' bytes where it can), what separates two ids (:func:`near_miss_kind`) and
the search for the pairs among the report's sets (:func:`find_near_misses`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..ids._arrow import (
    ASCII_SPACE,
    SLICE_ROWS,
    Shape,
    chunks_with_bytes,
    has_ascii_upper,
    shape_of,
    take_rows,
    text_chunks,
)
from .engines import Runner

__all__ = [
    "NearMissSet",
    "empty_near_misses",
    "find_near_misses",
    "near_miss_changes",
    "near_miss_changes_of",
    "near_miss_kind",
    "normalise_for_near_miss",
    "pair_near_misses",
]


def normalise_for_near_miss(ids: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The loose key used to find near misses: trimmed, NFC-normalised, lower-cased.

    Never used for matching, only to point out ids that differ by those alone.
    """
    if len(ids) and pc.all(pc.string_is_ascii(ids)).as_py():
        # utf8 trim: ASCII \x1c-\x1f are whitespace too (str.strip, classify), not for ascii_trim.
        return pc.ascii_lower(pc.utf8_trim_whitespace(ids))
    return pc.utf8_lower(pc.utf8_normalize(pc.utf8_trim_whitespace(ids), "NFC"))


def near_miss_changes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per id, whether :func:`normalise_for_near_miss` would change it (False when missing).

    Without normalising every id: ASCII ids change only when they start or end with
    whitespace or hold an upper-case letter, so only non-ASCII ids are normalised.
    """
    ids = text_chunks(ids)
    return near_miss_changes_of(ids, shape_of(ids))


def near_miss_changes_of(ids: pa.ChunkedArray, shape: Shape) -> np.ndarray:
    """:func:`near_miss_changes` of text ids whose :class:`Shape` the caller already has."""
    changed = ASCII_SPACE[shape.first]
    changed |= ASCII_SPACE[shape.last]
    # Upper-case letters: a fast byte scan of each slice of rows, and only where the scan
    # finds one, the exact per-id comparison with its lower-cased copy.
    for start, _, chunk, offsets, data in chunks_with_bytes(ids):
        for lo in range(0, len(chunk), SLICE_ROWS):
            hi = min(lo + SLICE_ROWS, len(chunk))
            if not has_ascii_upper(data[offsets[lo] : offsets[hi]]):
                continue
            piece = chunk.slice(lo, hi - lo)
            upper = pc.not_equal(pc.ascii_lower(piece), piece).fill_null(False)
            changed[start + lo : start + hi] |= upper.to_numpy(zero_copy_only=False)
    if shape.ascii is not None:
        other = np.flatnonzero(~shape.ascii & ~changed)
        if len(other):
            sub = take_rows(ids, other)
            differs = pc.not_equal(normalise_for_near_miss(sub), sub).fill_null(False)
            changed[other] = differs.to_numpy(zero_copy_only=False)
    changed[shape.missing] = False
    return changed


def near_miss_kind(a: str, b: str) -> str:
    """Describe what separates two ids that share a loose key, e.g. ``"whitespace+case"``."""
    import unicodedata

    kinds = []
    a2, b2 = a.strip(), b.strip()
    # Whitespace both ids share (" x" and " X") does not separate them; neither does one form.
    if (a[: len(a) - len(a.lstrip())], a[len(a.rstrip()) :]) != (
        b[: len(b) - len(b.lstrip())],
        b[len(b.rstrip()) :],
    ):
        kinds.append("whitespace")
    if a2.lower() != b2.lower():
        kinds.append("unicode")
    if unicodedata.normalize("NFC", a2) != unicodedata.normalize("NFC", b2):
        kinds.append("case")
    return "+".join(kinds) or "identical"


#: One set of the report, for :func:`find_near_misses`: its side's ids, its positions there
#: (ascending), per id whether its key differs from it, whether the set is in the source,
#: whether it is in the destination.
NearMissSet = tuple[pa.ChunkedArray, np.ndarray, np.ndarray, bool, bool]


def find_near_misses(
    sets: list[NearMissSet],
    run: Runner,
    may_be_in: Callable[[int, pa.Array], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Near misses among the report's sets (see :data:`NearMissSet`), one task per set
    handed to ``run``. ``may_be_in(i, keys)``, when given, rules out most ids of set ``i``
    that are none of ``keys`` faster than comparing strings (the rest are compared)."""
    if not any(changed.any() for _, _, changed, _, _ in sets):
        return empty_near_misses()
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

    tables = run([partial(involved, i, *s) for i, s in enumerate(sets) if len(s[1])])
    return pair_near_misses(pa.concat_tables(tables))


def pair_near_misses(table: pa.Table) -> pd.DataFrame:
    """The near-miss pairs among the ids of ``table`` (columns ``id``, ``key``, ``in_s``,
    ``in_d``): a source id and a destination id that share a key but differ, and that are
    not both in both apps. Also the last step of the Spark overlap."""
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
        return empty_near_misses()
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


def empty_near_misses() -> pd.DataFrame:
    """The near misses of a report that has none (the columns, no rows)."""
    return pd.DataFrame(
        {
            "source_id": pd.array([], dtype="string"),
            "destination_id": pd.array([], dtype="string"),
            "differs_by": pd.array([], dtype="string"),
        }
    )
