"""What accepted requests do to cohorts, in both wire formats."""

from __future__ import annotations

import pytest


def test_partner_add_and_remove(api, emu):
    assert api.add("c1", ["u1", "u2", "u3"], name="Shoppers", cohort_description="d").ok
    assert emu.cohort_members(api.ws, "c1") == {"u1", "u2", "u3"}
    assert api.remove("c1", ["u2"], name="Shoppers").ok
    assert emu.cohort_members(api.ws, "c1") == {"u1", "u3"}
    assert emu.cohort_members(api.ws, "Shoppers") == {"u1", "u3"}  # by name too
    (cohort,) = emu.cohorts(api.ws)
    assert cohort["cohort_id"] == "c1"
    assert cohort["name"] == "Shoppers"
    assert cohort["description"] == "d"
    assert cohort["members"] == 2
    assert cohort["unmatched"] == 0
    assert cohort["format"] == "partner"
    assert cohort["partner"] == "pytest"
    assert cohort["created_at"].endswith("Z")
    assert cohort["updated_at"] >= cohort["created_at"]


def test_segment_sync_add_and_remove(api, emu):
    assert api.segment("s1", add=["u1", "u2"], name="Segment A").ok
    assert emu.cohort_members(api.ws, "s1") == {"u1", "u2"}
    assert api.segment("s1", add=["u3"], remove=["u1"], name="Segment A").ok
    assert emu.cohort_members(api.ws, "s1") == {"u2", "u3"}
    assert api.segment("s1", remove=["u3"], name="Segment A").ok
    assert api.segment("s1", add=[], remove=[], name="Segment A").ok
    assert api.segment("s1", name="Segment A").ok  # both lists absent
    assert emu.cohort_members(api.ws, "s1") == {"u2"}
    (cohort,) = emu.cohorts(api.ws)
    assert (cohort["format"], cohort["partner"], cohort["name"]) == (
        "segment_sync",
        "moengage",
        "Segment A",
    )
    entry = emu.request_log()[0]
    assert entry["format"] == "segment_sync"
    assert entry["action"] == "segment_sync"
    assert entry["page"] == {"page_count": 1, "total_pages": 1}


def test_segment_header_value_is_case_insensitive(api, emu):
    r = api.post(
        api.segment_body("s1", add=["u1"]), headers={"MOE-DESTINATION-PARTNER": "MoEngage"}
    )
    assert r.status_code == 200
    assert emu.cohort_members(api.ws, "s1") == {"u1"}


def test_unknown_users_never_added_and_counted_unmatched(api, emu):
    r = api.add("c1", ["u1", "ghost-1", "ghost-2", "ghost-1"])
    assert r.status_code == 200  # accepted like the real API
    assert emu.cohort_members(api.ws, "c1") == {"u1"}
    cohort = emu.cohort(api.ws, "c1")
    assert cohort["members"] == 1
    assert cohort["unmatched"] == 2  # distinct uids
    assert emu.cohort_unmatched(api.ws, "c1") == {"ghost-1", "ghost-2"}
    entry = emu.request_log()[-1]
    assert (entry["members"], entry["unmatched"]) == (4, 3)
    # a retry of the same request does not inflate the count
    api.add("c1", ["u1", "ghost-1", "ghost-2"])
    assert emu.cohort(api.ws, "c1")["unmatched"] == 2
    # removing them is accepted and forgets them
    assert api.remove("c1", ["ghost-1"]).ok
    assert emu.cohort(api.ws, "c1")["unmatched"] == 1


def test_uids_match_exactly(api, emu):
    # users are u1, U1, " u4" and "user 5"; no trimming, no case folding
    api.add("c1", ["U1", "u4", " u4", "u1 ", "USER 5", "user 5"])
    assert emu.cohort_members(api.ws, "c1") == {"U1", " u4", "user 5"}
    assert emu.cohort_unmatched(api.ws, "c1") == {"u4", "u1 ", "USER 5"}


def test_moengage_distinct_id_is_ignored(api, emu):
    body = api.segment_body("s1", add=["u1"])
    body["data"]["add_users"].append({"moengage_distinct_id": "u2", "uid": "u3"})
    assert api.post(body, segment=True).ok
    assert emu.cohort_members(api.ws, "s1") == {"u1", "u3"}


def test_remove_from_unknown_cohort_creates_it_empty(api, emu):
    assert api.remove("new", ["u1"]).ok
    assert emu.cohort(api.ws, "new")["members"] == 0


def test_same_id_new_name_renames(api, emu):
    api.add("c1", ["u1"], name="Old")
    api.add("c1", ["u2"], name="New")
    (cohort,) = emu.cohorts(api.ws)
    assert cohort["name"] == "New"
    assert emu.cohort_members(api.ws, "New") == {"u1", "u2"}
    with pytest.raises(KeyError):
        emu.cohort_members(api.ws, "Old")


def test_description_kept_when_not_sent(api, emu):
    api.add("c1", ["u1"], cohort_description="first")
    api.add("c1", ["u2"])
    assert emu.cohort(api.ws, "c1")["description"] == "first"


def test_ambiguous_name_lookup(api, emu):
    api.add("c1", ["u1"], name="Same")
    api.add("c2", ["u2"], name="Same")
    with pytest.raises(ValueError, match="use the cohort id"):
        emu.cohort_members(api.ws, "Same")
    assert emu.cohort_members(api.ws, "c2") == {"u2"}


def test_workspaces_are_isolated(api, emu):
    emu.add_workspace("OTHER", "other-key-000000", ["u1", "u2"])
    api.add("c1", ["u1"])
    r = api.post(api.partner_body("add_members", "c1", ["u2"]), ws="OTHER", key="other-key-000000")
    assert r.ok
    assert emu.cohort_members(api.ws, "c1") == {"u1"}
    assert emu.cohort_members("OTHER", "c1") == {"u2"}
    assert [e["workspace"] for e in emu.request_log("OTHER")] == ["OTHER"]


def test_readding_workspace_replaces_users_keeps_cohorts(api, emu):
    api.add("c1", ["u1"])
    emu.add_workspace(api.ws, "new-key-000000000", ["z9"])
    assert api.add("c1", ["u2"]).status_code == 401  # old key no longer works
    r = api.post(api.partner_body("add_members", "c1", ["u2", "z9"]), key="new-key-000000000")
    assert r.ok
    assert emu.cohort_members(api.ws, "c1") == {"u1", "z9"}


def test_unknown_workspace_or_cohort_raise_keyerror(emu):
    with pytest.raises(KeyError):
        emu.cohorts("NOPE")
    with pytest.raises(KeyError):
        emu.cohort_members("WS-TEST", "nope")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"workspace_id": "", "api_key": "k"}, ValueError),
        ({"workspace_id": "a:b", "api_key": "k"}, ValueError),
        ({"workspace_id": "W", "api_key": ""}, ValueError),
        ({"workspace_id": "W", "api_key": "k", "users": "u1"}, TypeError),
        ({"workspace_id": "W", "api_key": "k", "users": [1]}, TypeError),
        ({"workspace_id": "W", "api_key": "k", "requests_per_minute": 0}, ValueError),
    ],
)
def test_add_workspace_validation(emu, kwargs, error):
    with pytest.raises(error):
        emu.add_workspace(**kwargs)
