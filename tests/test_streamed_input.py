"""The streamed spool (moecohort/input/): exact de-duplication on disk, first-appearance
order, every row counted, the same requests as in memory, and the sync's desired set.

Expected results come from plain Python (``dict.fromkeys`` keeps the first appearance of
each id) and from the in-memory path, which the streamed path must equal request for
request.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ids

import moecohort as mc
from moecohort.input import IdSpool, id_chunks, prepare_ids, spool
from moecohort.payload import EncodedMembers, Envelope, StreamedPlan, pack
from moecohort.payload.packing import MemberSizes

dedup = importlib.import_module("moecohort.input.dedup")
spooling = importlib.import_module("moecohort.input.spooling")

KEY = "stream-test-key-5e01"
POOL = [
    "u1",
    " u1",
    "u1 ",
    "U1",
    "é",
    "e\u0301",
    "日本語",
    'quote"d',
    "back\\slash",
    "tab\there",
    "nul\x00byte",
    "1004821",
    "00123",
    "123",
    "x" * 300,  # longer than LONG_BYTES: hashed on its own
    "x" * 299 + "y",
    "y" * 40,
    "a",
]
texts = st.one_of(st.sampled_from(POOL), st.text(min_size=1, max_size=12))


def distinct_in_order(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def spooled(values: list[str], piece: int = 7, **spool_kw) -> tuple[IdSpool, list[str]]:
    store = IdSpool(**spool_kw)
    for start in range(0, len(values), piece):
        store.add(pa.chunked_array([pa.array(values[start : start + piece], pa.large_string())]))
    store.finish()
    return store, [u for chunk in store.chunks(5) for u in chunk.to_pylist()]


# --------------------------------------------------------------------------- the spool
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(texts, max_size=120),
    piece=st.integers(1, 40),
    partitions=st.sampled_from([1, 2, 64]),
    mask=st.sampled_from([0xFFFF_FFFF_FFFF_FFFF, 0xF000_0000_0000_0003, 0]),
    partition_rows=st.sampled_from([1 << 19, 3]),
)
def test_spool_gives_the_distinct_ids_in_first_appearance_order(
    values, piece, partitions, mask, partition_rows
):
    """Whatever the pieces, the partitions, hash collisions (a narrowed hash: many, or
    every id sharing one) and partition splits, the result is exact."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup, "HASH_MASK", np.uint64(mask))
        mp.setattr(spooling, "READ_ROWS", piece)
        mp.setattr(spooling, "PARTITION_ROWS", partition_rows)
        store, got = spooled(values, piece=piece, partitions=partitions)
    store.close()
    anonymous = mc.is_anonymous(pd.Series(values, dtype=object)).tolist()
    usable = [v for v, anon in zip(values, anonymous, strict=True) if not anon]
    assert got == distinct_in_order(usable)
    assert store.rows == len(values) and store.unique == len(got)
    assert store.anonymous == sum(anonymous)
    assert store.duplicates == len(usable) - len(got)


def test_an_id_hashes_the_same_in_every_kind_of_piece():
    """Pieces of equal-length ids take another path than mixed ones: same hash anyway."""
    uuid_like = ids(5)
    mixed = [*uuid_like, "short", "x" * 300]
    equal = dedup.hash_ids(pa.array(uuid_like, pa.large_string()))
    varied = dedup.hash_ids(pa.array(mixed, pa.large_string()))
    sliced = dedup.hash_ids(pa.array(["pad", *mixed], pa.string()).slice(1))
    assert equal.tolist() == varied[:5].tolist() == sliced[:5].tolist()
    assert varied[6] == dedup.hash_ids(pa.array(["x" * 300] * 2, pa.large_string()))[0]
    assert len(set(varied.tolist())) == len(mixed)


def test_one_id_repeated_everywhere_fills_no_partition():
    """Each piece keeps one copy of an id, so an id on every row cannot make a partition
    grow past what splitting can handle."""
    values = ["same"] * 5000 + ["other"] + ["same"] * 5000
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spooling, "READ_ROWS", 1000)
        mp.setattr(spooling, "PARTITION_ROWS", 4)
        store, got = spooled(values, piece=1000, partitions=2)
    assert got == ["same", "other"] and store.duplicates == 9999
    store.close()


def test_an_oversized_partition_is_split_and_its_file_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(spooling, "PARTITION_ROWS", 50)
    split = []
    original = IdSpool._split
    monkeypatch.setattr(IdSpool, "_split", lambda self, *a: (split.append(a), original(self, *a)))
    values = [f"user-{i % 700}" for i in range(2000)]
    store, got = spooled(values, piece=100, partitions=2)
    assert got == distinct_in_order(values) and split
    assert sorted(p.name for p in Path(store._folder).iterdir()) == ["rows-0.arrow"]
    store.close()
    assert not Path(store._folder).exists()


def test_anonymous_ids_are_counted_by_reason_and_never_kept():
    chunk = pa.chunked_array([pa.array(["u1", None, "", "  ", "guest", "u1", "u2"])])
    store = IdSpool()
    store.add(chunk)
    store.add(chunk)
    store.finish()
    assert [u for c in store.chunks() for u in c.to_pylist()] == ["u1", "u2"]
    assert store.anonymous_by_reason == {"missing": 2, "blank": 4, "placeholder": 2}
    assert (store.rows, store.unique, store.duplicates) == (14, 2, 4)
    store.close()


def test_a_spool_of_nothing_usable():
    store = spool(pd.DataFrame({"uid": [None, ""]}), "uid", allow_empty=True)
    assert (store.rows, store.unique, list(store.chunks())) == (2, 0, [])
    store.close()
    with pytest.raises(mc.AllAnonymousError):
        spool(pd.DataFrame({"uid": [None, ""]}), "uid")
    with pytest.raises(mc.EmptyInputError):
        spool(iter([]), "uid")


@pytest.mark.parametrize(
    ("rows", "partitions"),
    [(None, 64), (0, 1), (1, 1), (262_144, 1), (262_145, 2), (1_000_000, 4), (10**9, 64)],
)
def test_small_inputs_get_few_partitions(rows, partitions):
    assert spooling.partitions_for(rows) == partitions


def test_the_spool_files_are_removed_by_close(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    store = spool(pd.DataFrame({"uid": ids(1000)}), "uid")
    assert list(tmp_path.glob("moecohort-*"))
    store.close()
    store.close()  # twice is harmless
    assert list(tmp_path.glob("moecohort-*")) == []
    assert store.unique == 1000  # the counts stay


# --------------------------------------------------------------------------- packing
@settings(max_examples=100, deadline=None)
@given(values=st.lists(texts, max_size=30), start=st.integers(0, 5))
def test_member_sizes_are_the_encoded_sizes(values, start):
    arr = pa.array(["pad"] * 5 + values, pa.large_string()).slice(start)
    assert MemberSizes.of(arr).offsets.tolist() == EncodedMembers(arr).offsets.tolist()


@pytest.mark.parametrize("wire_format", ["segment_sync", "cohort_sync"])
def test_a_streamed_plan_counts_the_pages_the_in_memory_plan_has(wire_format):
    rng = np.random.default_rng(3)
    quotes = rng.integers(0, 3, 9000)
    values = [("é" if i % 7 == 0 else "") + 'q"' * int(quotes[i]) + f"u{i}" for i in range(9000)]
    arr = pa.array(values, pa.large_string())
    env = Envelope(wire_format, "Counted", mc.cohort_id_for("Counted"))
    whole = pack(env, arr)
    streamed = StreamedPlan(env, lambda: [arr.slice(i, 1234) for i in range(0, len(arr), 1234)])
    assert streamed.total_pages == whole.total_pages
    sent = [batch for _, batches in streamed.pieces() for batch in batches]
    assert [b.nbytes for b in sent] == [b.nbytes for b in whole.batches]


# --------------------------------------------------------------------------- streamed = in memory
@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    users = ids(30_000, seed=4)
    picks = rng.integers(0, len(users), 45_000)
    values = [users[i] for i in picks] + [None, "", "guest", " ", "1004821", 'a"b']
    return pd.DataFrame({"uid": values, "other": range(len(values))})


def test_streamed_ids_come_back_as_prepare_ids_gives_them(frame, tmp_path, monkeypatch):
    monkeypatch.setattr(spooling, "PARTITION_TARGET", 2000)  # several partitions
    path = tmp_path / "users.parquet"
    frame.to_parquet(path)
    store = spool(str(path), "uid")
    prepared = prepare_ids(frame, "uid")
    assert pa.concat_arrays(list(store.chunks())).equals(prepared.unique)
    assert (store.rows, store.anonymous_by_reason, store.duplicates) == (
        prepared.rows,
        prepared.anonymous_by_reason,
        prepared.duplicates,
    )
    store.close()


def streamed_inputs(frame: pd.DataFrame, tmp_path: Path) -> dict[str, object]:
    import polars as pl

    parquet, csv = tmp_path / "u.parquet", tmp_path / "u.csv.gz"
    frame.to_parquet(parquet)
    frame.to_csv(csv, index=False)
    return {
        "parquet": str(parquet),
        "csv": csv,
        "chunks": (frame.iloc[i : i + 4000] for i in range(0, len(frame), 4000)),
        "reader": pa.Table.from_pandas(frame).to_reader(max_chunksize=5000),
        "polars": pl.from_pandas(frame),
    }


def test_a_streamed_dry_run_plans_the_requests_of_the_same_push_in_memory(frame, tmp_path):
    expected = mc.push_cohort(frame, None, "Same", dry_run=True)
    for name, data in streamed_inputs(frame, tmp_path).items():
        plan = mc.push_cohort(data, None, "Same", dry_run=True)
        pd.testing.assert_frame_equal(plan.plan, expected.plan, obj=name)
        assert (plan.input_rows, plan.skipped_anonymous, plan.skipped_duplicates) == (
            expected.input_rows,
            expected.skipped_anonymous,
            expected.skipped_duplicates,
        ), name


def test_a_streamed_push_sends_the_same_bodies_in_the_same_order(moe_emulator, frame, tmp_path):
    moe_emulator.add_workspace("WS", KEY, requests_per_minute=1_000_000)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    path = tmp_path / "u.parquet"
    frame.to_parquet(path)
    sent = {}
    for name, data in (("memory", frame), ("streamed", str(path))):
        mark = len(moe_emulator.request_log("WS"))
        result = mc.push_cohort(
            data, app, f"Order {name}", requests_per_minute=60_000, max_in_flight=1, progress=False
        )
        assert result.ok
        sent[name] = [(e["page"], e["members"]) for e in moe_emulator.request_log("WS")[mark:]]
    assert sent["memory"] == sent["streamed"]


@pytest.mark.parametrize("wire_format", ["segment_sync", "cohort_sync"])
def test_streamed_bodies_are_the_in_memory_bodies_byte_for_byte(frame, tmp_path, wire_format):
    path = tmp_path / "u.parquet"
    frame.to_parquet(path)
    env = Envelope(wire_format, "Bytes", mc.cohort_id_for("Bytes"))
    whole = pack(env, prepare_ids(frame, "uid").unique)
    with spool(str(path), "uid") as store:
        streamed = StreamedPlan(env, store.chunks)
        bodies = [plan.body(b) for plan, batches in streamed.pieces() for b in batches]
    assert bodies == [whole.body(b) for b in whole.batches]


def test_id_chunks_of_a_parquet_file_are_canonical(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"uid": pa.array([1, None, 1004821], pa.int64())}), path)
    assert [c.to_pylist() for c in id_chunks(str(path), "uid")] == [["1", None, "1004821"]]


# --------------------------------------------------------------------------- the sync
def test_a_sync_of_ids_json_must_escape_is_exact(moe_emulator, tmp_path):
    """The desired set reaches SQLite as JSON arrays: quotes, backslashes, control
    characters and non-ASCII text come back as they were."""
    tricky = ['q"uote', "back\\slash", "tab\tx", "new\nline", "bell\x07", "日本語", "é", "a\u2028b"]
    users = [*ids(200), *tricky]
    moe_emulator.add_workspace("WS", KEY, users=users, requests_per_minute=1_000_000)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    state = tmp_path / "state.sqlite"
    first = mc.sync_cohort(pd.DataFrame({"uid": users}), app, "Tricky", state=state, progress=False)
    assert first.ok and first.to_add == len(users)
    again = mc.sync_cohort(
        pd.DataFrame({"uid": users[::-1]}), app, "Tricky", state=state, progress=False
    )
    assert (again.to_add, again.to_remove, again.unchanged) == (0, 0, len(users))
    fewer = mc.sync_cohort(
        pd.DataFrame({"uid": users[:100] + tricky[:3]}), app, "Tricky", state=state, progress=False
    )
    assert fewer.to_remove == 100 + len(tricky) - 3
    assert moe_emulator.cohort_members("WS", "Tricky") == set(users[:100] + tricky[:3])


def test_a_sync_leaves_no_spool_behind(moe_emulator, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    moe_emulator.add_workspace("WS", KEY, requests_per_minute=1_000_000)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    result = mc.sync_cohort(
        pd.DataFrame({"uid": ids(500)}), app, "Clean", state=tmp_path / "s.sqlite", progress=False
    )
    assert result.ok and list((tmp_path / "tmp").iterdir()) == []
