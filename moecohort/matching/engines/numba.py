"""Compiled set work for :func:`moecohort.overlap` (``engine="numba"``,
``pip install moecohort[fast]``).

Why hand-written: the overlap needs, per distinct id of two columns, the row where it
first appears and whether the other side has it. pyarrow, DuckDB and polars all answer
with a general hash aggregate over strings, which on many distinct ids costs 2-3x a plain
join (benchmarks/bench_overlap.py). This module does only what the overlap needs, on the
Arrow buffers as they are (no string is copied until the report's Indexes are cut):

1. *hash*: one 64-bit hash per row, from the bytes in place;
2. *partition*: rows are split by the hash's top bits into parts small enough that each
   part's hash table stays in the CPU cache; within a part rows keep their order;
3. *classify*: per part, an open-addressing table on the hash marks each row that is the
   first of its id, whether it is a source or a destination row, and (on the source's
   first row) whether a destination row has the same id;
4. *verify*: every pair of rows taken as equal (same 64-bit hash) has its bytes compared,
   in batches so the memory reads overlap. Should two different ids share a hash (about
   once in 10^5 runs of 20 million ids), step 3 is redone comparing bytes on every hash
   match, so the answer is always exact.

Every kernel is single-threaded and releases the GIL; the caller spreads the work over
threads (numba's own parallel layer is not safe to enter from several threads at once).
Compiled kernels are cached on disk, so only the first call on a machine compiles.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
from llvmlite import ir
from numba import config, njit, types, uint64
from numba.extending import intrinsic

from ...ids._arrow import chunk_bytes
from . import Runner

if config.DISABLE_JIT:  # the kernels read memory through compiled intrinsics only
    raise ImportError("numba's JIT is switched off (NUMBA_DISABLE_JIT)")

#: Rows per part: a part's table (16 bytes a slot, 2 slots a row) stays within L2 cache.
PART_ROWS = 4096
#: Pairs compared per batch in the verify step: enough independent reads to overlap.
BATCH = 256
#: Applied to every hash. Tests narrow it to force collisions; never narrowed otherwise.
HASH_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)

_M1 = 0x9E3779B97F4A7C15
_M2 = 0xBF58476D1CE4E5B9
_M3 = 0x94D049BB133111EB


# --------------------------------------------------------------------------- memory access
# Arrow keeps each chunk's characters in its own buffer; rows are addressed by (address,
# length) so one kernel reads rows of any chunk without concatenating the chunks (which
# would copy every string). The caller keeps the buffers alive while kernels run.
@intrinsic
def _u8_at(typingctx: Any, address: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], ir.IntType(8).as_pointer())
        return builder.load(ptr)

    return types.uint8(types.uint64), codegen


@intrinsic
def _u64_at(typingctx: Any, address: Any) -> Any:
    """Eight bytes at ``address`` (any alignment), little-endian."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return types.uint64(types.uint64), codegen


@intrinsic
def _put_u64(typingctx: Any, address: Any, value: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        builder.store(args[1], ptr, align=1)
        return context.get_dummy_value()

    return types.void(types.uint64, types.uint64), codegen


@intrinsic
def _put_u8(typingctx: Any, address: Any, value: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], ir.IntType(8).as_pointer())
        builder.store(args[1], ptr)
        return context.get_dummy_value()

    return types.void(types.uint64, types.uint8), codegen


@njit(nogil=True, cache=True, inline="always")
def _at(address: int, k: int) -> int:
    """``address + k`` in unsigned 64-bit arithmetic. (numba would type ``uint64 + int64``
    as float64, exact only below 2**53: fine for today's addresses, wrong for tagged or
    57-bit pointers.)"""
    return uint64(address) + uint64(k)


@njit(nogil=True, cache=True, inline="always")
def _tail(address: int, n: int) -> int:
    """The last ``n`` (< 8) bytes of a string as one word; never reads past the string."""
    w = uint64(0)
    for k in range(n):
        w |= uint64(_u8_at(_at(address, k))) << uint64(8 * k)
    return w


@njit(nogil=True, cache=True, inline="always")
def _hash(address: int, n: int) -> int:
    h = uint64(n) * uint64(_M1)
    k = 0
    while k + 8 <= n:
        h = (h ^ _u64_at(_at(address, k))) * uint64(_M2)
        h ^= h >> uint64(31)
        k += 8
    if k < n:
        h = (h ^ _tail(_at(address, k), n - k)) * uint64(_M2)
        h ^= h >> uint64(31)
    h ^= h >> uint64(30)
    h *= uint64(_M2)
    h ^= h >> uint64(27)
    h *= uint64(_M3)
    return h ^ (h >> uint64(31))


@njit(nogil=True, cache=True, inline="always")
def _same(a: int, b: int, n: int) -> bool:
    """Whether the ``n`` bytes at ``a`` and at ``b`` are equal."""
    k = 0
    while k + 8 <= n:
        if _u64_at(_at(a, k)) != _u64_at(_at(b, k)):
            return False
        k += 8
    return k >= n or _tail(_at(a, k), n - k) == _tail(_at(b, k), n - k)


# --------------------------------------------------------------------------- kernels
@njit(nogil=True, cache=True)
def _layout(offsets, base, start, address, length, hashes, mask):
    """Address, length and hash of the rows of one chunk, stored from row ``start``."""
    for i in range(len(offsets) - 1):
        a = _at(base, offsets[i])
        n = offsets[i + 1] - offsets[i]
        address[start + i] = a
        length[start + i] = n
        hashes[start + i] = _hash(a, n) & mask


@njit(nogil=True, cache=True)
def _histogram(hashes, valid, lo, hi, shift, counts):
    for i in range(lo, hi):
        if valid[i]:
            counts[hashes[i] >> shift] += 1


@njit(nogil=True, cache=True)
def _scatter(hashes, valid, lo, hi, shift, fill, part_hash, part_row):
    for i in range(lo, hi):
        if valid[i]:
            p = hashes[i] >> shift
            k = fill[p]
            part_hash[k] = hashes[i]
            part_row[k] = i
            fill[p] = k + 1


@njit(nogil=True, cache=True)
def _classify(starts, part_hash, part_row, p_lo, p_hi, n_s, address, length, exact, code, match):
    """Mark rows by part, for parts ``p_lo`` to ``p_hi``. ``code`` per row: 1 the source's
    first row of an id only the source has, 3 of an id both have, 2 the destination's first
    row of an id only it has, 0 any other row. ``match[r]``: for a row that is not first,
    the first row it was taken as equal to (compared now when ``exact``, later otherwise)."""
    biggest = 0
    for p in range(p_lo, p_hi):
        biggest = max(biggest, starts[p + 1] - starts[p])
    size = 16
    while size < 2 * biggest:
        size *= 2
    slot_hash = np.empty(size, np.uint64)
    slot_row = np.empty(size, np.int64)
    for p in range(p_lo, p_hi):
        lo = starts[p]
        hi = starts[p + 1]
        used = 16
        while used < 2 * (hi - lo):
            used *= 2
        mask = used - 1
        slot_row[:used] = -1
        for k in range(lo, hi):
            r = part_row[k]
            h = part_hash[k]
            s = h & mask
            while True:
                q = slot_row[s]
                if q < 0:
                    slot_row[s] = r
                    slot_hash[s] = h
                    code[r] = 1 if r < n_s else 2
                    break
                if slot_hash[s] == h and (
                    not exact
                    or (length[q] == length[r] and _same(address[q], address[r], length[r]))
                ):
                    match[r] = q
                    if q < n_s and r >= n_s:
                        code[q] = 3
                    break
                s = (s + 1) & mask


@njit(nogil=True, cache=True)
def _mismatches(address, length, match, lo, hi):
    """How many rows in ``lo:hi`` differ from the row they were taken as equal to. Pairs
    go in batches: the first loop's reads do not depend on each other, so the CPU has
    many in flight, instead of waiting on each row's bytes in turn."""
    rows = np.empty(BATCH, np.int64)
    firsts = np.empty(BATCH, np.int64)
    head = np.empty(BATCH, np.uint64)
    bad = 0
    r = lo
    while r < hi:
        m = 0
        while r < hi and m < BATCH:
            if match[r] >= 0:
                rows[m] = r
                firsts[m] = match[r]
                m += 1
            r += 1
        for i in range(m):
            b = firsts[i]
            head[i] = _u8_at(address[b]) if length[b] else 0
        for i in range(m):
            a = rows[i]
            b = firsts[i]
            n = length[a]
            if n != length[b] or (
                n and (_u8_at(address[a]) != head[i] or not _same(address[a], address[b], n))
            ):
                bad += 1
    return bad


@njit(nogil=True, cache=True)
def _count_codes(code, lo, hi):
    """How many rows of ``lo:hi`` hold code 3, 1 and 2."""
    a = b = c = 0
    for r in range(lo, hi):
        x = code[r]
        a += x == 3
        b += x == 1
        c += x == 2
    return a, b, c


@njit(nogil=True, cache=True)
def _split(code, lo, hi, both, only_s, only_d, a, b, c):
    """Rows of ``lo:hi`` whose code is 3, 1 and 2, written from ``a``, ``b`` and ``c``."""
    for r in range(lo, hi):
        x = code[r]
        if x == 3:
            both[a] = r
            a += 1
        elif x == 1:
            only_s[b] = r
            b += 1
        elif x == 2:
            only_d[c] = r
            c += 1


@njit(nogil=True, cache=True)
def _packed_offsets(offsets, rows, out, start):
    """``out[start + 1 + i]``: where row ``rows[i]``'s bytes end once packed after
    ``out[start]``."""
    total = out[start]
    for i in range(len(rows)):
        total += offsets[rows[i] + 1] - offsets[rows[i]]
        out[start + 1 + i] = total


@njit(nogil=True, cache=True)
def _copy_rows(offsets, base, rows, out_offsets, start, out_base):
    """Copy the bytes of ``rows`` (of a chunk at ``base``) to where ``out_offsets`` says."""
    for i in range(len(rows)):
        src = _at(base, offsets[rows[i]])
        n = offsets[rows[i] + 1] - offsets[rows[i]]
        dst = _at(out_base, out_offsets[start + i])
        k = 0
        while k + 8 <= n:
            _put_u64(_at(dst, k), _u64_at(_at(src, k)))
            k += 8
        while k < n:
            _put_u8(_at(dst, k), _u8_at(_at(src, k)))
            k += 1


@njit(nogil=True, cache=True)
def _member(hashes, rows, keys, out):
    """``out[i]``: whether the hash of row ``rows[i]`` is one of ``keys`` (sorted). A bit
    per low 16 bits of the hash rules out almost every row before the binary search."""
    seen = np.zeros(1 << 16, np.bool_)
    for k in keys:
        seen[k & 0xFFFF] = True
    for i in range(len(rows)):
        h = hashes[rows[i]]
        if seen[h & 0xFFFF]:
            j = np.searchsorted(keys, h)
            out[i] = j < len(keys) and keys[j] == h


# --------------------------------------------------------------------------- driver
class Rows:
    """Both sides' rows, addressed in place: row ``i`` of the source is row ``i``, row
    ``j`` of the destination is row ``n_s + j``. Holds the Arrow chunks alive."""

    def __init__(self, sides: Sequence[pa.ChunkedArray], run: Runner) -> None:
        chunks = [c for side in sides for c in side.chunks if len(c)]
        n = sum(len(c) for c in chunks)
        self._chunks = chunks
        self.n = n
        self.address = np.empty(n, dtype=np.uint64)
        # A string is never longer than its chunk's buffer: 4 bytes hold every length then.
        wide = any(c.buffers()[2] is not None and c.buffers()[2].size >= 2**31 for c in chunks)
        self.length = np.empty(n, dtype=np.int64 if wide else np.int32)
        self.hashes = np.empty(n, dtype=np.uint64)
        starts = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in chunks], out=starts[1:])

        def lay(i: int) -> None:
            offsets, data = chunk_bytes(chunks[i])
            base = data.ctypes.data
            _layout(offsets, base, starts[i], self.address, self.length, self.hashes, HASH_MASK)

        run([lambda i=i: lay(i) for i in range(len(chunks))])

    def may_be_in(self, rows: np.ndarray, values: pa.ChunkedArray) -> np.ndarray:
        """Per row of ``rows``, whether its id may be one of ``values`` (it is not, where
        False; where True, the caller compares the strings)."""
        keys = np.unique(Rows([values], lambda tasks: [task() for task in tasks]).hashes)
        out = np.zeros(len(rows), dtype=bool)
        _member(self.hashes, rows, keys, out)
        return out


def take(ids: pa.ChunkedArray, positions: np.ndarray) -> pa.LargeStringArray:
    """The strings at ``positions`` (ascending) of ``ids`` (large_string), as one new
    array: what ``ChunkedArray.take`` does, without first concatenating the chunks."""
    chunks = [c for c in ids.chunks if len(c)]
    starts = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in chunks], out=starts[1:])
    cuts = np.searchsorted(positions, starts)
    pieces = []
    for i, chunk in enumerate(chunks):
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        if hi > lo:
            offsets, data = chunk_bytes(chunk)
            rows = (positions[lo:hi] - starts[i]).astype(np.int64)
            pieces.append((offsets, data.ctypes.data, rows, lo))
    out_offsets = np.empty(len(positions) + 1, dtype=np.int64)
    out_offsets[0] = 0
    for offsets, _, rows, lo in pieces:
        _packed_offsets(offsets, rows, out_offsets, lo)
    out = np.empty(int(out_offsets[-1]), dtype=np.uint8)
    if len(out):
        for offsets, base, rows, lo in pieces:
            _copy_rows(offsets, base, rows, out_offsets, lo, out.ctypes.data)
    return pa.LargeStringArray.from_buffers(
        len(positions), pa.py_buffer(out_offsets), pa.py_buffer(out)
    )


def _row_type(n: int) -> type:
    return np.int32 if n < 2**31 else np.int64


def split(code: np.ndarray, run: Runner, workers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (ascending) of the ids in both and only in the source (source rows) and only in
    the destination (counted from the start of the source, like every row here). Blocks of
    rows are counted, then written, in parallel."""
    cuts = np.linspace(0, len(code), 2 * workers + 1).astype(np.int64)
    blocks = list(itertools.pairwise(cuts))
    counts = np.array(run([partial(_count_codes, code, lo, hi) for lo, hi in blocks]))
    counts = counts.reshape(len(blocks), 3)
    starts = np.cumsum(counts, axis=0) - counts
    kind = _row_type(len(code))
    both, only_s, only_d = (np.empty(int(k), dtype=kind) for k in counts.sum(axis=0))
    run(
        [
            partial(_split, code, lo, hi, both, only_s, only_d, *map(int, starts[i]))
            for i, (lo, hi) in enumerate(blocks)
        ]
    )
    return both, only_s, only_d


def codes(rows: Rows, valid: np.ndarray, n_s: int, run: Runner, workers: int) -> np.ndarray:
    """``code`` per row (see :func:`_classify`), exact."""
    n = rows.n
    code = np.zeros(n, dtype=np.int8)
    n_valid = int(np.count_nonzero(valid))
    if n_valid == 0:
        return code
    # 2 ** bits parts of about PART_ROWS rows each, by the hash's top bits.
    bits = min(20, max(1, int(np.ceil(np.log2(max(2.0, n_valid / PART_ROWS))))))
    n_parts = 1 << bits
    shift = np.uint64(64 - bits)

    # Partition: each block of rows counts, then writes, its rows per part, so the rows of
    # a part stay in order (blocks in order, rows in order within a block).
    cuts = np.linspace(0, n, workers + 1).astype(np.int64)
    counts = np.zeros((workers, n_parts), dtype=np.int64)
    run(
        [
            lambda b=b: _histogram(rows.hashes, valid, cuts[b], cuts[b + 1], shift, counts[b])
            for b in range(workers)
        ]
    )
    fill = np.cumsum(counts.T.reshape(-1)).reshape(n_parts, workers).T - counts
    starts = np.concatenate([fill[0], [n_valid]]).astype(np.int64)
    fill = np.ascontiguousarray(fill)
    part_hash = np.empty(n_valid, dtype=np.uint64)
    part_row = np.empty(n_valid, dtype=_row_type(n))
    run(
        [
            lambda b=b: _scatter(
                rows.hashes, valid, cuts[b], cuts[b + 1], shift, fill[b], part_hash, part_row
            )
            for b in range(workers)
        ]
    )

    def classify(exact: bool) -> np.ndarray:
        code[:] = 0
        match = np.full(n, -1, dtype=_row_type(n))
        p_cuts = np.linspace(0, n_parts, 4 * workers + 1).astype(np.int64)
        run(
            [
                lambda lo=lo, hi=hi: _classify(
                    starts,
                    part_hash,
                    part_row,
                    lo,
                    hi,
                    n_s,
                    rows.address,
                    rows.length,
                    exact,
                    code,
                    match,
                )
                for lo, hi in itertools.pairwise(p_cuts)
                if hi > lo
            ]
        )
        return match

    match = classify(exact=False)
    r_cuts = np.linspace(0, n, 16 * workers + 1).astype(np.int64)
    bad = run(
        [
            lambda lo=lo, hi=hi: _mismatches(rows.address, rows.length, match, lo, hi)
            for lo, hi in itertools.pairwise(r_cuts)
        ]
    )
    if sum(bad):
        classify(exact=True)  # two different ids share a hash: compare bytes throughout
    return code
