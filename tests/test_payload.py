"""Tests of moecohort.payload: cohort names, stable ids, envelopes and exact-byte packing."""

from __future__ import annotations

import json
import math
import uuid

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ids as uuids

from moecohort._constants import FORBIDDEN_COHORT_NAME_CHARS, MAX_BODY_BYTES
from moecohort.errors import CohortNameError, InputError
from moecohort.payload import EncodedMembers as Members
from moecohort.payload import (
    Envelope,
    Plan,
    cohort_id_for,
    pack,
    suggest_cohort_name,
    validate_cohort_name,
)


def member_bytes(uid: str) -> int:
    """Bytes of ``{"uid":"..."}`` as MoEngage reads it (UTF-8, JSON escaping), no comma."""
    return len(json.dumps({"uid": uid}, ensure_ascii=False, separators=(",", ":")).encode())


def arr(ids: list[str]) -> pa.Array:
    return pa.array(ids, pa.large_string())


def parse(plan: Plan, batch) -> tuple[str | None, list[str], list[str], dict]:
    """(action, added ids, removed ids, parsed body) of one batch's body."""
    doc = json.loads(plan.body(batch))
    if plan.envelope.wire_format == "segment_sync":
        data = doc["data"]
        adds = [m["uid"] for m in data["add_users"]]
        removes = [m["uid"] for m in data["remove_users"]]
        for m in data["add_users"] + data["remove_users"]:
            assert list(m) == ["uid"]
        return None, adds, removes, doc
    members = doc["parameters"]["members"]
    for m in members:
        assert list(m) == ["uid"]
    uids = [m["uid"] for m in members]
    if doc["action"] == "add_members":
        return "add", uids, [], doc
    assert doc["action"] == "remove_members"
    return "remove", [], uids, doc


def check_plan(plan: Plan, adds: list[str], removes: list[str], limit: int) -> None:
    """Every property a packed plan must have (see pack's docstring and the issue)."""
    wire = plan.envelope.wire_format
    na, nr = len(adds), len(removes)
    assert plan.total_pages == max(1, len(plan.batches))
    big_a, big_r = set(plan.oversize_adds), set(plan.oversize_removes)

    # Oversize members really do not fit alone, and are never sent. (The page numbers of
    # the body they would have had may add up to 2 bytes per extra digit.)
    slack = 2 * (len(str(plan.total_pages + len(big_a) + len(big_r))) - 1)
    for i in big_a:
        assert plan.envelope.overhead(action="add") + member_bytes(adds[i]) > limit - slack
    for i in big_r:
        assert plan.envelope.overhead(action="remove") + member_bytes(removes[i]) > limit - slack

    # Batches partition the input exactly, in order (oversize members set aside).
    a_cur = r_cur = 0
    seen_remove_only = False
    for k, b in enumerate(plan.batches):
        assert b.index == k
        assert b.page == k + 1
        assert b.members >= 1
        while a_cur in big_a:
            a_cur += 1
        if b.n_add:
            assert not seen_remove_only, "additions after a removal-only body"
            assert b.add_start == a_cur
            a_cur = b.add_stop
        else:
            assert b.add_start == b.add_stop
        if b.n_remove:
            if wire == "cohort_sync":
                assert b.n_add == 0, "cohort_sync bodies carry one action"
            while r_cur in big_r:
                r_cur += 1
            assert b.remove_start == r_cur
            r_cur = b.remove_stop
            if b.n_add == 0:
                seen_remove_only = True
            else:
                assert b.add_stop == na, "removals ride along only after the last addition"
    while a_cur in big_a:
        a_cur += 1
    while r_cur in big_r:
        r_cur += 1
    assert (a_cur, r_cur) == (na, nr)
    sent = sum(b.members for b in plan.batches)
    assert sent + len(big_a) + len(big_r) == na + nr
    assert plan.members == sent

    # A segment_sync count that flips across a power of ten (members that fit only with the
    # narrower page numbers, set aside as oversize) leaves at most one byte of slack.
    n_big = len(big_a) + len(big_r)
    flipped = len(str(plan.total_pages + n_big)) > len(str(plan.total_pages))
    allowance = 1 if (wire == "segment_sync" and flipped) else 0
    for b in plan.batches:
        body = plan.body(b)
        # Never above the limit; nbytes is the exact body size.
        assert len(body) <= limit
        assert b.nbytes == len(body)
        # Valid UTF-8 JSON that round-trips the ids.
        action, got_a, got_r, doc = parse(plan, b)
        assert got_a == adds[b.add_start : b.add_stop]
        assert got_r == removes[b.remove_start : b.remove_stop]
        if wire == "segment_sync":
            assert doc["pagination"] == {"total_pages": plan.total_pages, "page_count": b.page}
        else:
            assert action == ("add" if b.n_add else "remove")
        # The plan's own view of the ids agrees.
        pa_a, pa_r = plan.ids(b)
        assert pa_a.to_pylist() == got_a
        assert pa_r.to_pylist() == got_r

        # Tight: the next member in line would not have fitted.
        nxt = sep = None
        if b.n_add and b.add_stop < na:
            nxt, sep = adds[b.add_stop], 1
        elif b.remove_stop < nr and (wire == "segment_sync" or b.n_add == 0):
            nxt, sep = removes[b.remove_stop], 1 if b.n_remove else 0
        if nxt is not None:
            assert len(body) + sep + member_bytes(nxt) > limit - allowance, (
                f"batch {b.index} ({len(body)} bytes) could have taken {nxt!r}"
            )


# --------------------------------------------------------------------------- cohort names
@pytest.mark.parametrize(
    "name",
    ["VIP users", "Q3-2024_high.value", "Größe ✓ 日本", "a", "x.y.", "  padded  ", "100% & more"],
)
def test_valid_cohort_names_pass_through_unchanged(name):
    assert validate_cohort_name(name) == name


@pytest.mark.parametrize("char", sorted(FORBIDDEN_COHORT_NAME_CHARS))
def test_each_forbidden_character_is_rejected_with_a_suggestion(char):
    name = f"VIP{char}users"
    with pytest.raises(CohortNameError) as info:
        validate_cohort_name(name)
    err = info.value
    assert isinstance(err, InputError)
    assert err.name == name
    assert err.suggestion == "VIP users"
    assert char in str(err)
    assert "VIP users" in str(err)


def test_forbidden_set_is_the_documented_one():
    assert set('|*?\\:<>=$"()') == set(FORBIDDEN_COHORT_NAME_CHARS)


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_empty_names_are_rejected(name):
    with pytest.raises(CohortNameError, match="empty") as info:
        validate_cohort_name(name)
    assert info.value.suggestion is None


@pytest.mark.parametrize("name", [".hidden", "..x", ". x"])
def test_leading_period_is_rejected(name):
    with pytest.raises(CohortNameError, match="starts with") as info:
        validate_cohort_name(name)
    suggestion = info.value.suggestion
    assert suggestion is not None and not suggestion.startswith(".")
    assert validate_cohort_name(suggestion) == suggestion


@pytest.mark.parametrize("name", [None, 3, b"bytes", ["x"]])
def test_non_text_names_are_rejected(name):
    with pytest.raises(CohortNameError, match="text"):
        validate_cohort_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("VIP (US): Q3", "VIP US Q3"),
        ("a|b*c?d", "a b c d"),
        ('say "hi"', "say hi"),
        ("..hidden", "hidden"),
        (". .x", "x"),  # a leading period after the first one is stripped too
        ("  . . a . b ", "a . b"),
        ("()", None),
        ("...", None),
        ("ok name", "ok name"),
    ],
)
def test_suggest_cohort_name(name, expected):
    assert suggest_cohort_name(name) == expected


@given(st.text(max_size=40))
def test_suggestions_are_always_valid(name):
    suggestion = suggest_cohort_name(name)
    if suggestion is not None:
        assert validate_cohort_name(suggestion) == suggestion


@given(st.text(max_size=40))
def test_validation_agrees_with_the_rules(name):
    bad = (
        not name.strip()
        or name.startswith(".")
        or any(c in FORBIDDEN_COHORT_NAME_CHARS for c in name)
    )
    if bad:
        with pytest.raises(CohortNameError):
            validate_cohort_name(name)
    else:
        assert validate_cohort_name(name) == name


def test_cohort_id_is_stable_and_distinct():
    a = cohort_id_for("VIP users")
    assert a == cohort_id_for("VIP users")
    assert a != cohort_id_for("VIP Users")
    assert a != cohort_id_for("VIP users ")
    assert str(uuid.UUID(a)) == a


# --------------------------------------------------------------------------- encoding
ESCAPES = [
    'q"uote',
    "back\\slash",
    "nul\x00",
    "tab\t",
    "nl\n",
    "\x1f",
    "\x7f",
    "é",
    "日本",
    "🎉",
    "\u2028",
]


def test_member_encoding_matches_json_byte_for_byte():
    members = Members(arr(ESCAPES))
    for i, uid in enumerate(ESCAPES):
        part = members.part(i, i + 1)
        assert part == json.dumps({"uid": uid}, ensure_ascii=False, separators=(",", ":")).encode()
        assert members.part_size(i, i + 1) == member_bytes(uid) == len(part)
    joined = members.part(0, len(ESCAPES))
    assert json.loads(b"[" + joined + b"]") == [{"uid": u} for u in ESCAPES]
    assert members.part_size(0, len(ESCAPES)) == len(joined)
    assert members.part(3, 3) == b"" and members.part_size(3, 3) == 0


def test_members_accept_string_chunked_and_sliced_arrays():
    ids = ["a", "b\\", "c", "d"]
    for given_ids in (
        pa.array(ids, pa.string()),
        pa.chunked_array([ids[:2], ids[2:]]),
        pa.array(["zz", *ids], pa.large_string()).slice(1),
    ):
        members = Members(given_ids)
        assert len(members) == 4
        assert json.loads(b"[" + members.part(0, 4) + b"]") == [{"uid": u} for u in ids]
        assert members.part(1, 3) == b'{"uid":"b\\\\"},{"uid":"c"}'


def test_empty_member_list():
    members = Members(arr([]))
    assert len(members) == 0
    assert members.part(0, 0) == b""
    assert members.fit(0, 1000) == 0


def test_missing_ids_never_reach_the_encoder():
    with pytest.raises(InputError):
        Members(pa.array(["a", None]))


def test_fit_is_the_largest_prefix_within_budget():
    ids = ["a" * n for n in (1, 5, 2, 9, 3)]
    members = Members(arr(ids))
    for start in range(len(ids)):
        for budget in range(0, 80):
            stop = members.fit(start, budget)
            assert members.part_size(start, stop) <= budget
            if stop < len(ids):
                assert members.part_size(start, stop + 1) > budget


# --------------------------------------------------------------------------- envelopes
def test_segment_sync_body_shape():
    env = Envelope("segment_sync", "VIP users", "cid-1")
    plan = pack(env, arr(["u1", "u2"]), arr(["u3"]))
    assert len(plan.batches) == 1
    doc = json.loads(plan.body(plan.batches[0]))
    assert doc == {
        "type": "segment_sync",
        "pagination": {"total_pages": 1, "page_count": 1},
        "data": {
            "moengage_sync_id": "cid-1",
            "moengage_sync_name": "VIP users",
            "moengage_execution_id": env.execution_id,
            "moengage_integration_id": env.integration_id,
            "add_users": [{"uid": "u1"}, {"uid": "u2"}],
            "remove_users": [{"uid": "u3"}],
        },
    }
    # The execution id is fresh per push; the integration id is stable.
    other = Envelope("segment_sync", "VIP users", "cid-1")
    assert other.execution_id != env.execution_id
    assert other.integration_id == env.integration_id


@pytest.mark.parametrize("description", [None, 'Größe "quoted"'])
def test_cohort_sync_body_shape(description):
    env = Envelope("cohort_sync", "Größe ✓", "cid-2", description)
    plan = pack(env, arr(["u1"]), arr(["u2", "u3"]))
    assert [(b.n_add, b.n_remove) for b in plan.batches] == [(1, 0), (0, 2)]
    add, remove = (json.loads(plan.body(b)) for b in plan.batches)
    params = {"cohort_name": "Größe ✓", "cohort_id": "cid-2"}
    if description is not None:
        params["cohort_description"] = description
    assert add == {
        "action": "add_members",
        "partner": "moengage",
        "parameters": {**params, "members": [{"uid": "u1"}]},
    }
    assert remove == {
        "action": "remove_members",
        "partner": "moengage",
        "parameters": {**params, "members": [{"uid": "u2"}, {"uid": "u3"}]},
    }
    for b in plan.batches:
        assert b.nbytes == len(plan.body(b))


@pytest.mark.parametrize("wire", ["segment_sync", "cohort_sync"])
def test_overhead_is_the_body_without_members(wire):
    env = Envelope(wire, "n", "i", "d")
    one = b'{"uid":"x"}'
    for action, adds, removes in (("add", one, b""), ("remove", b"", one)):
        body = env.render(adds, removes, page=7, total=12)
        json.loads(body)
        assert len(body) - len(one) == env.overhead(page=7, total=12, action=action)


# --------------------------------------------------------------------------- packing properties
# Any text arrow can hold: everything but lone surrogates, including controls, quotes,
# backslashes and non-ASCII.
id_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=25)
long_id_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
id_lists = st.lists(st.one_of(id_text, id_text, id_text, long_id_text), max_size=60)
names = st.sampled_from(["c", "VIP users Q3", "Größe ✓ 日本 🎉"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    adds=id_lists,
    removes=id_lists,
    wire=st.sampled_from(["segment_sync", "cohort_sync"]),
    name=names,
    limit=st.integers(min_value=330, max_value=1500),
)
def test_packing_properties_small_limit(adds, removes, wire, name, limit):
    env = Envelope(wire, name, cohort_id_for(name), "desc" if wire == "cohort_sync" else None)
    plan = pack(env, arr(adds), arr(removes), limit=limit)
    check_plan(plan, adds, removes, limit)


@settings(max_examples=60, deadline=None)
@given(
    adds=st.lists(st.text(alphabet='ab"\\\x01é日🎉', min_size=1, max_size=12), max_size=120),
    limit=st.integers(min_value=300, max_value=700),
)
def test_packing_properties_escape_heavy(adds, limit):
    env = Envelope("segment_sync", "c", "i")
    plan = pack(env, arr(adds), limit=limit)
    check_plan(plan, adds, [], limit)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wire=st.sampled_from(["segment_sync", "cohort_sync"]))
def test_packing_properties_at_the_real_limit(seed, wire):
    rng = np.random.default_rng(seed)
    alphabet = np.array(list('abcXYZ019-_."\\é日🎉\n'))
    lengths = rng.integers(1, 60, size=6000)
    ids = ["".join(rng.choice(alphabet, size=n)) for n in lengths]
    cut = int(rng.integers(0, len(ids)))
    env = Envelope(wire, "VIP", "cid")
    plan = pack(env, arr(ids[:cut]), arr(ids[cut:]))
    assert plan.limit == MAX_BODY_BYTES == 128_000
    check_plan(plan, ids[:cut], ids[cut:], MAX_BODY_BYTES)


@pytest.mark.parametrize("wire", ["segment_sync", "cohort_sync"])
@pytest.mark.parametrize("unit", ["a", '"', "é", "🎉", "\x01"])
def test_a_body_of_exactly_the_limit_is_sent_one_byte_more_is_not(wire, unit):
    env = Envelope(wire, "c", "i")
    room = MAX_BODY_BYTES - env.overhead(action="add") - member_bytes("")
    per_unit = member_bytes(unit) - member_bytes("")
    fits = unit * (room // per_unit)
    pad = "a" * (room % per_unit)
    exact = pad + fits
    assert env.overhead(action="add") + member_bytes(exact) == MAX_BODY_BYTES
    plan = pack(env, arr([exact]))
    assert [b.nbytes for b in plan.batches] == [MAX_BODY_BYTES]
    assert len(plan.body(plan.batches[0])) == MAX_BODY_BYTES
    assert plan.oversize_adds == []

    too_big = exact + "a"
    plan = pack(env, arr(["small-1", too_big, "small-2"]))
    assert plan.oversize_adds == [1]
    assert plan.members == 2
    check_plan(plan, ["small-1", too_big, "small-2"], [], MAX_BODY_BYTES)


def test_oversize_removals_are_reported_too():
    env = Envelope("cohort_sync", "c", "i")
    huge = "x" * 200_000
    plan = pack(env, arr(["a", huge]), arr([huge, "b"]))
    assert plan.oversize_adds == [1]
    assert plan.oversize_removes == [0]
    check_plan(plan, ["a", huge], [huge, "b"], MAX_BODY_BYTES)


def test_page_count_width_is_settled_across_ten_pages():
    # Enough bodies that total_pages has two digits: every body must still fit.
    ids = [f"user-{i:04d}" for i in range(400)]
    env = Envelope("segment_sync", "c", "i")
    plan = pack(env, arr(ids), limit=420)
    assert plan.total_pages >= 10
    check_plan(plan, ids, [], 420)
    last = json.loads(plan.body(plan.batches[-1]))
    assert last["pagination"] == {"total_pages": plan.total_pages, "page_count": plan.total_pages}


def test_page_count_that_flips_across_a_power_of_ten():
    # Each "\\" member fits alone with one-digit page numbers (299 bytes) but not as page
    # 10 of 10 (301): packing must settle on a consistent plan, sized as rendered.
    env = Envelope("segment_sync", "c", "i")
    assert env.overhead(page=1, total=1) + member_bytes("\\") == 299
    ids = ["\\"] * 10
    plan = pack(env, arr(ids), limit=300)
    assert plan.total_pages == len(plan.batches) == 9
    assert plan.oversize_adds == [9]
    for b in plan.batches:
        body = plan.body(b)
        assert b.nbytes == len(body) <= 300
        assert json.loads(body)["pagination"]["total_pages"] == 9
    check_plan(plan, ids, [], 300)


def test_200k_uuid_ids_need_at_most_the_ideal_count_plus_one():
    ids = uuids(200_000)
    assert {len(x) for x in ids} == {36}
    env = Envelope("segment_sync", "VIP users", cohort_id_for("VIP users"))
    plan = pack(env, arr(ids))
    member_total = sum(member_bytes(x) + 1 for x in ids)  # {"uid":"..."} plus its comma
    assert member_total == 200_000 * 47
    bound = math.ceil(member_total / MAX_BODY_BYTES) + 1
    assert len(plan.batches) <= bound
    assert plan.members == 200_000
    for b in plan.batches:
        assert b.nbytes <= MAX_BODY_BYTES
    # Every body but the last is within one member of the limit.
    for b in plan.batches[:-1]:
        assert b.nbytes > MAX_BODY_BYTES - 47
    frame = plan.to_frame()
    assert len(frame) == len(plan.batches)
    assert list(frame.columns) == ["add_members", "remove_members", "bytes", "fill"]
    assert frame["add_members"].sum() == 200_000
    assert frame["fill"].max() <= 1.0


# --------------------------------------------------------------------------- 413 split
@settings(max_examples=60, deadline=None)
@given(
    adds=st.lists(id_text, min_size=0, max_size=40),
    removes=st.lists(id_text, min_size=0, max_size=40),
    wire=st.sampled_from(["segment_sync", "cohort_sync"]),
)
def test_split_halves_cover_the_batch(adds, removes, wire):
    env = Envelope(wire, "c", "i")
    plan = pack(env, arr(adds), arr(removes), limit=900)
    for b in plan.batches:
        halves = plan.split(b)
        if b.members == 1:
            assert halves is None
            continue
        assert halves is not None
        first, second = halves
        assert first.members + second.members == b.members
        assert first.members >= 1 and second.members >= 1
        got_a: list[str] = []
        got_r: list[str] = []
        for h in halves:
            body = plan.body(h)
            assert h.nbytes == len(body) <= b.nbytes
            _, ha, hr, _ = parse(plan, h)
            got_a += ha
            got_r += hr
        assert got_a == adds[b.add_start : b.add_stop]
        assert got_r == removes[b.remove_start : b.remove_stop]
