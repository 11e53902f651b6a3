"""Packing: as many members as fit in each request body, never above the limit.

Packing puts as many members as fit in each request body without going above
:data:`~moecohort._constants.MAX_BODY_BYTES` (128,000 bytes of UTF-8 JSON). Byte
accounting is exact: every member is encoded once, with JSON escaping, into one
pyarrow buffer (``{"uid":"..."},`` per member), so a body is its envelope plus a
contiguous slice of that buffer, and batch boundaries come from a cumulative
sum of member sizes (one binary search per batch). Nothing is encoded twice and
no Python object is made per member, which is what keeps encoding well above
2 million members per second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._constants import MAX_BODY_BYTES
from ..errors import InputError
from .envelope import Envelope

__all__ = [
    "Batch",
    "ChunkSource",
    "EncodedMembers",
    "MemberSizes",
    "Plan",
    "StreamedPlan",
    "pack",
]

_MEMBER_HEAD = '{"uid":'
_NEEDS_ESCAPE = '["\\\\\x00-\x1f]'  # what JSON must escape inside a string
#: Bytes of ``{"uid":""},`` around an id that needs no escaping.
_MEMBER_FRAME = len(_MEMBER_HEAD) + 4


class MemberSizes:
    """The sizes of a list's members as packing counts them (cumulative ``offsets``:
    member i takes ``offsets[i + 1] - offsets[i]`` bytes, comma included), without
    their bytes: what counting the pages of a streamed plan needs (:meth:`of`)."""

    def __init__(self, offsets: np.ndarray) -> None:
        self.offsets = offsets

    @classmethod
    def of(cls, ids: pa.Array) -> MemberSizes:
        """The sizes :class:`EncodedMembers` would give ``ids`` (large_string, no nulls),
        from their byte lengths: only ids JSON must escape (found by a scan of the bytes
        for ``"``, ``\\`` and control characters) are encoded, one by one."""
        n = len(ids)
        offsets = np.zeros(n + 1, dtype=np.int64)
        if n:
            _, offsets_buf, data_buf = ids.buffers()
            ends = np.frombuffer(offsets_buf, dtype=np.int64)[ids.offset : ids.offset + n + 1]
            sizes = np.diff(ends) + _MEMBER_FRAME
            data = np.frombuffer(data_buf, dtype=np.uint8)[ends[0] : ends[-1]] if n else None
            if data is not None and (
                (data < 0x20).any() or (data == 0x22).any() or (data == 0x5C).any()
            ):
                needs = pc.match_substring_regex(ids, _NEEDS_ESCAPE)
                where = np.flatnonzero(needs.to_numpy(zero_copy_only=False))
                for i, text in zip(where, ids.take(pa.array(where)).to_pylist(), strict=True):
                    quoted = json.dumps(text, ensure_ascii=False).encode("utf-8")
                    sizes[i] = len(quoted) + _MEMBER_FRAME - 2
            np.cumsum(sizes, out=offsets[1:])
        return cls(offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def part_size(self, a: int, b: int) -> int:
        """Bytes of members a..b-1 joined by commas (0 when empty)."""
        return int(self.offsets[b] - self.offsets[a]) - 1 if b > a else 0

    def fit(self, a: int, budget: int) -> int:
        """Largest b such that members a..b-1 take at most ``budget`` bytes."""
        # part_size(a, b) = offsets[b] - offsets[a] - 1 <= budget
        b = int(np.searchsorted(self.offsets, self.offsets[a] + budget + 1, side="right")) - 1
        return max(a, min(b, len(self)))


class EncodedMembers(MemberSizes):
    """Members of one list, each encoded once as ``{"uid":"..."},`` in one buffer."""

    def __init__(self, ids: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
        if not pa.types.is_large_string(ids.type):
            ids = ids.cast(pa.large_string())
        if ids.null_count:
            raise InputError("Internal error: missing ids reached the encoder.")
        self.ids: pa.LargeStringArray = ids
        quoted = _json_quote(ids)
        encoded = pc.binary_join_element_wise(
            pa.scalar(_MEMBER_HEAD, pa.large_string()),
            quoted,
            pa.scalar("},", pa.large_string()),
            pa.scalar("", pa.large_string()),
        )
        bufs = encoded.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int64)[
            encoded.offset : encoded.offset + len(encoded) + 1
        ]
        #: Cumulative byte offsets: member i spans offsets[i]:offsets[i+1] (comma included).
        super().__init__(offsets - offsets[0])
        self._base = int(offsets[0])
        self._data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
        self._keep = encoded  # keeps the buffers alive

    def __len__(self) -> int:
        return len(self.ids)

    def part(self, a: int, b: int) -> bytes:
        """Members a..b-1 joined by commas, ready to go between ``[`` and ``]``."""
        if b <= a:
            return b""
        lo = self._base + int(self.offsets[a])
        hi = self._base + int(self.offsets[b]) - 1
        return self._data[lo:hi].tobytes()


def _json_quote(ids: pa.LargeStringArray) -> pa.LargeStringArray:
    """Each id as a JSON string literal (quotes and escapes), UTF-8, like json.dumps
    with ensure_ascii=False. Ids that need escaping go through the json module."""
    quote = pa.scalar('"', pa.large_string())
    empty = pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, ids, quote, empty)
    if len(ids) == 0:
        return quoted
    needs = pc.match_substring_regex(ids, _NEEDS_ESCAPE)
    if not pc.any(needs).as_py():
        return quoted
    where = np.flatnonzero(needs.to_numpy(zero_copy_only=False))
    escaped = pa.array(
        [json.dumps(s, ensure_ascii=False) for s in ids.take(pa.array(where)).to_pylist()],
        pa.large_string(),
    )
    mask = np.zeros(len(ids), dtype=bool)
    mask[where] = True
    return pc.replace_with_mask(quoted, pa.array(mask), escaped)


# --------------------------------------------------------------------------- plans
@dataclass(frozen=True)
class Batch:
    """One request: a range of the add list and a range of the remove list."""

    index: int
    add_start: int
    add_stop: int
    remove_start: int
    remove_stop: int
    nbytes: int
    page: int = 1

    @property
    def n_add(self) -> int:
        return self.add_stop - self.add_start

    @property
    def n_remove(self) -> int:
        return self.remove_stop - self.remove_start

    @property
    def members(self) -> int:
        return self.n_add + self.n_remove


@dataclass
class Plan:
    """Packed requests for one push or sync, plus the members too large to send."""

    envelope: Envelope
    adds: EncodedMembers
    removes: EncodedMembers
    batches: list[Batch]
    total_pages: int
    limit: int = MAX_BODY_BYTES
    #: Positions (in adds / removes) of ids too large to fit in a body on their own.
    oversize_adds: list[int] = field(default_factory=list)
    oversize_removes: list[int] = field(default_factory=list)

    def body(self, batch: Batch) -> bytes:
        return self.envelope.render(
            self.adds.part(batch.add_start, batch.add_stop),
            self.removes.part(batch.remove_start, batch.remove_stop),
            page=batch.page,
            total=self.total_pages,
        )

    def ids(self, batch: Batch) -> tuple[pa.Array, pa.Array]:
        """The ids (added, removed) carried by a batch."""
        return (
            self.adds.ids.slice(batch.add_start, batch.n_add),
            self.removes.ids.slice(batch.remove_start, batch.n_remove),
        )

    def split(self, batch: Batch) -> tuple[Batch, Batch] | None:
        """Two halves of a batch (for a 413), or None for a single member."""
        if batch.members <= 1:
            return None
        half = batch.members // 2
        if half <= batch.n_add:
            cut = batch.add_start + half
            first = (batch.add_start, cut, batch.remove_start, batch.remove_start)
            second = (cut, batch.add_stop, batch.remove_start, batch.remove_stop)
        else:
            cut = batch.remove_start + half - batch.n_add
            first = (batch.add_start, batch.add_stop, batch.remove_start, cut)
            second = (batch.add_stop, batch.add_stop, cut, batch.remove_stop)
        return self._batch(batch, *first), self._batch(batch, *second)

    def _batch(self, parent: Batch, a0: int, a1: int, r0: int, r1: int) -> Batch:
        spans = (a0, a1, r0, r1)
        return _sized_batch(self.envelope, self.adds, self.removes, self.total_pages, parent, spans)

    @property
    def members(self) -> int:
        return sum(b.members for b in self.batches)

    def to_frame(self, batches: Iterable[Batch] | None = None) -> pd.DataFrame:
        """One row per request (numbered by page): members added/removed, bytes, and
        fill of the 128,000 limit. ``batches`` defaults to all of them."""
        rows = [
            (b.page, b.n_add, b.n_remove, b.nbytes, b.nbytes / self.limit)
            for b in (self.batches if batches is None else batches)
        ]
        return pd.DataFrame(
            rows, columns=["request", "add_members", "remove_members", "bytes", "fill"]
        ).set_index("request")

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.batches)


def pack(
    envelope: Envelope,
    adds: pa.Array | pa.ChunkedArray | EncodedMembers,
    removes: pa.Array | pa.ChunkedArray | EncodedMembers | None = None,
    *,
    limit: int = MAX_BODY_BYTES,
    first_page: int = 1,
    total_pages: int | None = None,
    page_digits: int | None = None,
) -> Plan:
    """Pack canonical, de-duplicated ids into request bodies of at most ``limit`` bytes.

    ``segment_sync`` bodies may carry additions and removals together (additions
    first); ``cohort_sync`` sends them in separate requests. Every batch is as
    full as it can be: none could have taken the next member in line.

    A streamed plan is packed piece by piece: ``first_page`` numbers this piece's
    pages, ``total_pages`` is the count of the whole stream (known from a first
    counting pass) and ``page_digits`` the page-number width that pass packed with.
    """
    add_m = adds if isinstance(adds, EncodedMembers) else EncodedMembers(adds)
    if removes is None:
        removes = pa.array([], pa.large_string())
    rem_m = removes if isinstance(removes, EncodedMembers) else EncodedMembers(removes)
    if total_pages is not None:
        digits = page_digits or len(str(total_pages))
        batches, big_a, big_r = _pack(envelope, add_m, rem_m, limit, 10 ** (digits - 1), first_page)
        if len(str(total_pages)) != digits:
            batches = _sized(batches, envelope, add_m, rem_m, total_pages)
        return Plan(envelope, add_m, rem_m, batches, total_pages, limit, big_a, big_r)
    batches, big_a, big_r, digits = _settle_pages(
        lambda width: _pack(envelope, add_m, rem_m, limit, 10 ** (width - 1), first_page)
    )
    total = max(1, len(batches))
    if len(str(total)) != digits:  # size each body as it will be rendered
        batches = _sized(batches, envelope, add_m, rem_m, total)
    return Plan(envelope, add_m, rem_m, batches, total, limit, big_a, big_r)


def _settle_pages(
    attempt: Callable[[int], tuple[list[Batch], list[int], list[int]]],
) -> tuple[list[Batch], list[int], list[int], int]:
    """Find the page-number width the packing agrees with.

    The width of the page count changes the envelope, which can change the count.
    If the count flips across a power of ten (a member fits only with the narrower
    numbers), the wider packing wins: its bodies fit either way.
    """
    digits = 1
    tried: dict[int, tuple[list[Batch], list[int], list[int]]] = {}
    for _ in range(6):
        tried[digits] = attempt(digits)
        width = len(str(max(1, len(tried[digits][0]))))
        if width == digits:
            break
        if width in tried:
            digits = max(digits, width)
            break
        digits = width
    return (*tried[digits], digits)


def _sized(
    batches: list[Batch], env: Envelope, adds: MemberSizes, removes: MemberSizes, total: int
) -> list[Batch]:
    """The same batches, each sized as it renders with ``total`` pages."""
    return [
        _sized_batch(
            env, adds, removes, total, b, (b.add_start, b.add_stop, b.remove_start, b.remove_stop)
        )
        for b in batches
    ]


def _sized_batch(
    env: Envelope,
    adds: MemberSizes,
    removes: MemberSizes,
    total: int,
    like: Batch,
    spans: tuple[int, int, int, int],
) -> Batch:
    """The batch of ``like``'s index and page holding members ``spans`` (add start, add
    stop, remove start, remove stop), with its size in bytes as it renders."""
    a0, a1, r0, r1 = spans
    action = "add" if a1 > a0 else "remove"
    size = (
        env.overhead(page=like.page, total=total, action=action)
        + adds.part_size(a0, a1)
        + removes.part_size(r0, r1)
    )
    return Batch(like.index, a0, a1, r0, r1, size, like.page)


def _pack(
    env: Envelope,
    adds: MemberSizes,
    removes: MemberSizes,
    limit: int,
    total: int,
    first_page: int = 1,
) -> tuple[list[Batch], list[int], list[int]]:
    batches: list[Batch] = []
    big_a: list[int] = []
    big_r: list[int] = []
    mixed = env.wire_format == "segment_sync"
    na, nr = len(adds), len(removes)
    a = r = 0
    while a < na:
        page = first_page + len(batches)
        budget = limit - env.overhead(page=page, total=total, action="add")
        b = adds.fit(a, budget)
        if b == a:
            big_a.append(a)  # too large to fit even alone
            a += 1
            continue
        used = adds.part_size(a, b)
        r1 = r
        if b == na and mixed and r < nr:
            r1 = removes.fit(r, budget - used)
            used += removes.part_size(r, r1)
        batches.append(Batch(len(batches), a, b, r, r1, limit - budget + used, page))
        a, r = b, r1
    while r < nr:
        page = first_page + len(batches)
        budget = limit - env.overhead(page=page, total=total, action="remove")
        r1 = removes.fit(r, budget)
        if r1 == r:
            big_r.append(r)
            r += 1
            continue
        used = removes.part_size(r, r1)
        batches.append(Batch(len(batches), na, na, r, r1, limit - budget + used, page))
        r = r1
    return batches, big_a, big_r


# --------------------------------------------------------------------------- streamed plans
ChunkSource = Callable[[], Iterable[pa.Array]]
_P = TypeVar("_P", Plan, None)


class StreamedPlan:
    """A plan over ids read piece by piece (from disk), for inputs too large to hold.

    Two passes over the sources: the first counts the pages (the page count is
    in every segment_sync body) from the members' sizes alone (:class:`MemberSizes`),
    the second yields ``(plan, batch)`` jobs, one piece at a time, encoding each member
    once. A piece's last body waits for the next piece, which may fill it, so bodies are
    as full as in an in-memory plan (the same bodies, for ids in the same order).
    """

    def __init__(
        self,
        envelope: Envelope,
        adds: ChunkSource | None,
        removes: ChunkSource | None = None,
        *,
        limit: int = MAX_BODY_BYTES,
        piece: int = 50_000,
    ) -> None:
        self.envelope = envelope
        self.adds = adds
        self.removes = removes
        self.limit = limit
        self.piece = piece

        def count(width: int) -> tuple[list[Batch], list[int], list[int]]:
            n = 0
            walk = self._walk(10 ** (width - 1), width, self._count_piece)
            for _, batches in walk:
                n += len(batches)
                if n >= 10**width:  # wider page numbers only make more pages: stop here
                    walk.close()
                    break
            return [Batch(0, 0, 0, 0, 0, 0)] * n, [], []  # only the count matters here

        placeholders, _, _, self.page_digits = _settle_pages(count)
        #: Bodies in the whole plan.
        self.total_pages = max(1, len(placeholders))

    def pieces(self) -> Iterator[tuple[Plan, list[Batch]]]:
        """Each piece's plan with the batches it sends (oversize ids are in the plan)."""
        return self._walk(self.total_pages, self.page_digits, self._plan_piece)

    def _plan_piece(
        self, adds: pa.Array, removes: pa.Array, page: int, total: int, digits: int
    ) -> tuple[Plan, list[Batch]]:
        plan = pack(
            self.envelope,
            adds,
            removes,
            limit=self.limit,
            first_page=page,
            total_pages=total,
            page_digits=digits,
        )
        return plan, plan.batches

    def _count_piece(
        self, adds: pa.Array, removes: pa.Array, page: int, total: int, digits: int
    ) -> tuple[None, list[Batch]]:
        """The batches :meth:`_plan_piece` would make (same boundaries), from sizes only."""
        sizes = MemberSizes.of(adds), MemberSizes.of(removes)
        batches, _, _ = _pack(self.envelope, *sizes, self.limit, 10 ** (digits - 1), page)
        return None, batches

    def _walk(
        self,
        total: int,
        digits: int,
        pack_piece: Callable[[pa.Array, pa.Array, int, int, int], tuple[_P, list[Batch]]],
    ) -> Generator[tuple[_P, list[Batch]], None, None]:
        page = 1
        left: dict[str, list[pa.Array]] = {"add": [], "remove": []}
        pending = 0
        empty = pa.array([], pa.large_string())

        def flush(final: bool) -> Iterator[tuple[_P, list[Batch]]]:
            nonlocal page, pending
            adds = pa.concat_arrays(left["add"]) if left["add"] else empty
            removes = pa.concat_arrays(left["remove"]) if left["remove"] else empty
            left["add"], left["remove"], pending = [], [], 0
            if not len(adds) and not len(removes):
                return
            plan, send = pack_piece(adds, removes, page, total, digits)
            if not final and send:
                last = send[-1]  # may have room for what comes next: carry it over
                send = send[:-1]
                if last.n_add:
                    left["add"].append(adds.slice(last.add_start, last.n_add))
                if last.n_remove:
                    left["remove"].append(removes.slice(last.remove_start, last.n_remove))
                pending = last.members
            page += len(send)
            yield plan, send

        for kind, source in (("add", self.adds), ("remove", self.removes)):
            if source is None:
                continue
            for chunk in source():
                if isinstance(chunk, pa.ChunkedArray):
                    chunk = chunk.combine_chunks()
                if not pa.types.is_large_string(chunk.type):
                    chunk = chunk.cast(pa.large_string())
                left[kind].append(chunk)
                pending += len(chunk)
                if pending >= self.piece:
                    yield from flush(final=False)
        yield from flush(final=True)
