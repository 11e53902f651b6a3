"""Exact de-duplication of Arrow string ids, with numpy only (no compiled extension).

The streamed spool (:mod:`~moecohort.input.spooling`) finds the distinct ids of an input
far larger than memory in hash partitions. Everything here works on one piece at a time:

* :func:`hash_ids`: a 64-bit hash of each id's bytes, read from the Arrow buffers as
  8-byte words (one vectorised pass per word of the longest id);
* :func:`first_rows`: the first row of each distinct id. Each row's key is the top bits
  of its hash with its row number in the low bits, so one sort of integers (numpy's
  fastest sort: far faster than a sort or a hash table of strings) puts equal hashes
  side by side, each group's first row first. Every row of a group is then compared,
  byte for byte, with that first row: should two different ids ever share the hash bits
  the key holds, the piece is grouped again by exact dictionary codes, so the answer is
  always exact.

numba's kernels (:mod:`moecohort.matching.engines.numba`) would hash and group faster,
but loading them costs about 150 MB of memory, more than the whole spool of ten million
ids needs: the streamed path keeps to numpy and pyarrow (see benchmarks/results.md).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ids._arrow import chunk_bytes

__all__ = ["HASH_MASK", "LONG_BYTES", "first_rows", "hash_ids"]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
#: The bytes of a word's first k bytes, for k = 0..7 (the last, partial word of an id).
_TAIL = np.array([(1 << (8 * k)) - 1 for k in range(8)], dtype=np.uint64)
#: Ids longer than this are hashed one by one: the vectorised hash makes one pass over the
#: rows per 8 bytes of the longest id, which one very long id would make costly.
LONG_BYTES = 256
#: Every bit of a hash.
_ALL_BITS = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
#: Applied to every hash. Tests narrow it to force different ids to share a hash; never
#: narrowed otherwise.
HASH_MASK = _ALL_BITS


def _mix(h: np.ndarray, word: np.ndarray, spare: np.ndarray) -> None:
    """Fold ``word`` into ``h`` in place (``spare``: scratch of the same size)."""
    h ^= word
    h *= _M2
    np.right_shift(h, _S31, out=spare)
    h ^= spare


def hash_ids(ids: pa.Array) -> np.ndarray:
    """A 64-bit hash (uint64) of each id's UTF-8 bytes; ``ids`` is a string or
    large_string array without nulls. Equal ids always get equal hashes."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets, data = chunk_bytes(ids)
    lo, hi = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets).astype(np.int64)
    with np.errstate(over="ignore"):
        h = lengths.astype(np.uint64) * _M1
        spare = np.empty(n, dtype=np.uint64)
        if hi - lo == n * int(lengths[0]) and (lengths == lengths[0]).all():
            _hash_equal_lengths(h, data[lo:hi], int(lengths[0]), spare)
        else:
            _hash_any_lengths(h, data[lo:hi], offsets[:-1] - lo, lengths, spare)
        np.right_shift(h, _S30, out=spare)
        h ^= spare
        h *= _M2
        np.right_shift(h, _S27, out=spare)
        h ^= spare
        h *= _M3
        np.right_shift(h, _S31, out=spare)
        h ^= spare
    if HASH_MASK != _ALL_BITS:
        h &= HASH_MASK
    return h


def _hash_equal_lengths(h: np.ndarray, data: np.ndarray, width: int, spare: np.ndarray) -> None:
    """Every id has ``width`` bytes (UUIDs, fixed-width codes): words are read in place,
    column by column, with no index arrays."""
    n = len(h)
    if width > LONG_BYTES:
        _hash_long(h, data, np.arange(n, dtype=np.int64) * width, np.full(n, width), spare)
        return
    for k in range(width // 8):
        word = np.ndarray((n,), dtype="<u8", buffer=data, offset=8 * k, strides=(width,))
        _mix(h, word, spare)
    rest = width & 7
    if rest:
        tail = np.zeros((n, 8), dtype=np.uint8)
        tail[:, :rest] = np.ndarray(
            (n, rest), dtype=np.uint8, buffer=data, offset=width - rest, strides=(width, 1)
        )
        _mix(h, tail.view("<u8").reshape(n), spare)


def _hash_any_lengths(
    h: np.ndarray, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, spare: np.ndarray
) -> None:
    long_rows = np.flatnonzero(lengths > LONG_BYTES)
    if len(long_rows):
        _hash_long(h, data, starts, lengths, spare, long_rows)
        lengths = np.where(lengths > LONG_BYTES, 0, lengths)
    # A copy with 8 spare bytes, so the last id's last word can be read whole.
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    words = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    full = lengths >> 3
    at = starts.copy()  # where each id's next word starts
    everyone = int(full.min())
    for _ in range(everyone):
        _mix(h, words[at], spare)
        at += 8
    rows = np.flatnonzero(full > everyone)
    for k in range(everyone, int(full.max())):
        rows = rows[full[rows] > k]
        part = h[rows]
        _mix(part, words[at[rows]], np.empty_like(part))
        h[rows] = part
        at[rows] += 8
    rest = lengths & 7
    tail = np.flatnonzero(rest)
    if len(tail):
        part = h[tail]
        _mix(part, words[at[tail]] & _TAIL[rest[tail]], np.empty_like(part))
        h[tail] = part


def _hash_long(
    h: np.ndarray,
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    spare: np.ndarray,
    rows: np.ndarray | None = None,
) -> None:
    """Ids over :data:`LONG_BYTES` bytes (rare): one blake2b digest each."""
    for i in range(len(h)) if rows is None else rows:
        a = int(starts[i])
        digest = hashlib.blake2b(data[a : a + int(lengths[i])].tobytes(), digest_size=8)
        h[i] = np.frombuffer(digest.digest(), dtype="<u8")[0]


def first_rows(ids: pa.Array, hashes: np.ndarray, shared_bits: int = 0) -> np.ndarray:
    """Positions of the first row of each distinct id of ``ids`` (with their
    :func:`hash_ids`), in the order of their hashes when no two different ids share
    hash bits, else in any order. ``shared_bits``: leading hash bits every row has in
    common (a partition's), left out of the keys."""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits = max(1, (n - 1).bit_length())
    low = np.uint64((1 << bits) - 1)
    keys = hashes << np.uint64(shared_bits) if shared_bits else hashes.copy()
    keys &= ~low
    keys |= np.arange(n, dtype=np.uint64)
    keys.sort()
    rows = (keys & low).astype(np.int64)
    keys >>= np.uint64(bits)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    first = rows[new]
    if len(first) < n:
        starts = np.flatnonzero(new)
        later = np.flatnonzero(~new)  # rows taken as repeats of their group's first row
        lead = first[np.searchsorted(starts, later, side="right") - 1]
        same = pc.equal(ids.take(pa.array(rows[later])), ids.take(pa.array(lead)))
        if not pc.all(same).as_py():  # different ids share the key's hash bits
            return _exact_first_rows(ids)
    return first


def _exact_first_rows(ids: pa.Array) -> np.ndarray:
    """:func:`first_rows` by pyarrow's dictionary codes (exact, slower)."""
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    # Codes are handed out in order of first appearance: a row brings a new code when its
    # code is larger than every code before it.
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    np.greater(codes[1:], np.maximum.accumulate(codes)[:-1], out=new[1:])
    return np.flatnonzero(new)
