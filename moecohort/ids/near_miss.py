"""Near misses: ids that only match after trimming, case folding or NFC normalisation.

Used by :mod:`moecohort.overlap`, which reports such pairs and never merges them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._arrow import (
    ASCII_SPACE,
    SLICE_ROWS,
    Shape,
    chunk_bytes,
    has_ascii_upper,
    shape_of,
    take_rows,
    text_chunks,
)

__all__ = ["near_miss_changes", "near_miss_changes_of", "near_miss_kind", "normalise_for_near_miss"]


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
    stop = 0
    for chunk in ids.chunks:
        start, stop = stop, stop + len(chunk)
        if start == stop:
            continue
        offsets, data = chunk_bytes(chunk)
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
