"""Users with attributes, the control routes for users and segments, SQLite persistence of
the new state, and the sample apps' attributes."""

from __future__ import annotations

import csv
import math
import re
import sqlite3
from pathlib import Path

import pytest
from support import SAMPLES

from moecohort.emulator import DEMO_DEST_KEY, DEMO_DEST_WORKSPACE, Emulator, load_samples
from moecohort.emulator.samples import ATTRIBUTE_COLUMNS, read_users, snake_case

KEY = "users-key-0000000"


# --- the users argument ---------------------------------------------------------------------
def test_users_as_uids_mapping_and_dicts():
    with Emulator() as emu:
        emu.add_workspace("A", KEY, ["u1", "u2", "u1"])
        emu.add_workspace("B", KEY, {"u1": {"name": "Ana", "id": "f" * 24}, "u2": None})
        emu.add_workspace(
            "C", KEY, [{"customer_id": "u1", "plan": "pro"}, "u2", {"customer_id": "u3"}]
        )
        assert [u["customer_id"] for u in emu.users("A")] == ["u1", "u2"]
        assert emu.user("B", "u1") == {"customer_id": "u1", "id": "f" * 24, "name": "Ana"}
        assert set(emu.user("B", "u2")) == {"customer_id", "id"}
        assert emu.user("C", "u1")["plan"] == "pro"
        assert [u["customer_id"] for u in emu.users("C")] == ["u1", "u2", "u3"]
        assert {w["workspace_id"]: w["users"] for w in emu.workspaces()} == {"A": 2, "B": 2, "C": 3}


def test_user_views_are_copies():
    with Emulator() as emu:
        emu.add_workspace("W", KEY, {"u1": {"tags": ["a"]}})
        emu.user("W", "u1")["tags"].append("b")
        assert emu.user("W", "u1")["tags"] == ["a"]


@pytest.mark.parametrize(
    ("users", "error", "match"),
    [
        ("u1", TypeError, "single string"),
        ([1], TypeError, "str"),
        ({"u1": "not a mapping"}, TypeError, "mapping"),
        ({"u1": {"customer_id": "u2"}}, ValueError, "differs"),
        ({"u1": {"id": ""}}, ValueError, "id"),
        ({"u1": {"id": 5}}, ValueError, "id"),
        ({"u1": {"": 1}}, ValueError, "names"),
        ({"u1": {"x": math.nan}}, ValueError, "JSON"),
        ({"u1": {"x": object()}}, ValueError, "JSON"),
        ({"u1": {"id": "same"}, "u2": {"id": "same"}}, ValueError, "same id"),
        ([{"customer_id": "u1", "a": 1}, {"customer_id": "u1"}], ValueError, "twice"),
        ([{"customer_id": "u1", "a": 1}, "u1"], ValueError, "twice"),
        ([{"plan": "pro"}], ValueError, "customer_id"),
    ],
)
def test_bad_users(users, error, match):
    with Emulator() as emu, pytest.raises(error, match=match):
        emu.add_workspace("W", KEY, users)


def test_unknown_user_and_workspace():
    with Emulator() as emu:
        emu.add_workspace("W", KEY, ["u1"])
        with pytest.raises(KeyError):
            emu.user("W", "u2")
        with pytest.raises(KeyError):
            emu.users("NOPE")


def test_replacing_a_workspace_replaces_users_and_keeps_segments(make_api):
    with Emulator() as emu:
        emu.add_workspace("W", KEY, {"u1": {"a": 1}})
        emu.add_segment("W", "VIP")
        emu.add_workspace("W", KEY, {"u2": {"b": 2}}, lookups=False, lookups_per_minute=5)
        assert [u["customer_id"] for u in emu.users("W")] == ["u2"]
        assert [s["name"] for s in emu.segments("W")] == ["VIP"]
        (ws,) = emu.workspaces()
        assert (ws["lookups"], ws["lookups_per_minute"], ws["segments"]) == (False, 5, 1)
        with pytest.raises(ValueError, match="lookups_per_minute"):
            emu.add_workspace("W", KEY, lookups_per_minute=0)
        with pytest.raises(ValueError, match="lookups"):
            emu.add_workspace("W", KEY, lookups="no")


# --- control API ----------------------------------------------------------------------------
def test_control_workspace_with_attributes_and_lookups(api, emu):
    r = api.control(
        "POST",
        "/workspaces",
        {
            "workspace_id": "NEW",
            "api_key": "new-key-0000000000",
            "users": [{"customer_id": "a", "first_name": "Ana"}, "b"],
            "lookups": False,
            "lookups_per_minute": 40,
        },
    )
    assert r.status_code == 200
    ws = r.json()["workspace"]
    assert (ws["lookups"], ws["lookups_per_minute"], ws["users"]) == (False, 40, 2)
    r = api.control(
        "POST",
        "/workspaces",
        {"workspace_id": "MAP", "api_key": "k", "users": {"a": {"x": 1}, "b": None}},
    )
    assert r.json()["workspace"]["users"] == 2
    body = api.control("GET", "/workspaces/NEW/users").json()
    assert body["count"] == 2
    assert body["users"][0]["first_name"] == "Ana"
    user = api.control("GET", "/workspaces/MAP/users/a").json()
    assert (user["customer_id"], user["x"]) == ("a", 1)
    assert re.fullmatch(r"[0-9a-f]{24}", user["id"])
    assert api.control("GET", "/workspaces/MAP/users/zzz").status_code == 404
    assert api.control("GET", "/workspaces/NOPE/users").status_code == 404


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        ({"workspace_id": "W", "api_key": "k", "users": "abc"}, "users"),
        ({"workspace_id": "W", "api_key": "k", "users": [{"customer_id": "a", "id": 3}]}, None),
        ({"workspace_id": "W", "api_key": "k", "lookups": "yes"}, None),
        ({"workspace_id": "W", "api_key": "k", "lookups_per_minute": 0}, None),
    ],
)
def test_control_workspace_errors(api, body, attribute):
    r = api.control("POST", "/workspaces", body)
    assert r.status_code == 400
    assert api.error_of(r)["attribute"] == attribute


def test_control_segments(api, emu):
    r = api.control("POST", f"/workspaces/{api.ws}/segments", {"name": "VIP"})
    assert r.status_code == 200
    made = r.json()["segment"]
    assert (made["name"], made["type"], made["source"]) == ("VIP", "ELASTIC_SEARCH", "DASHBOARD")
    r = api.control(
        "POST",
        f"/workspaces/{api.ws}/segments",
        {
            "name": "Uploaded",
            "source": "FILE",
            "type": "FILE_UPLOAD",
            "id": "f1",
            "created_time": "2023-01-02T03:04:05",
        },
    )
    assert r.json()["segment"] == {
        "name": "Uploaded",
        "id": "f1",
        "created_time": "2023-01-02T03:04:05.000000",
        "type": "FILE_UPLOAD",
        "source": "FILE",
    }
    body = api.control("GET", f"/workspaces/{api.ws}/segments").json()
    assert [s["name"] for s in body["segments"]] == ["Uploaded", "VIP"]
    assert body["segments"] == emu.segments(api.ws)
    for bad, attribute in [
        ({}, "name"),
        ({"name": "VIP"}, None),  # taken
        ({"name": "X", "colour": "red"}, "colour"),
        ({"name": "X", "source": "ELSEWHERE"}, None),
    ]:
        r = api.control("POST", f"/workspaces/{api.ws}/segments", bad)
        assert r.status_code == 400
        assert api.error_of(r)["attribute"] == attribute
    assert api.control("POST", "/workspaces/NOPE/segments", {"name": "X"}).status_code == 404
    assert api.control("DELETE", f"/workspaces/{api.ws}/segments").status_code == 405
    # the conflict, shown through HTTP only
    r = api.add("c1", ["u1"], name="VIP")
    assert r.status_code == 400


def test_summary_and_workspace_views(api):
    ws = api.control("GET", f"/workspaces/{api.ws}").json()
    assert (ws["lookups"], ws["lookups_per_minute"], ws["segments"]) == (True, 1000, 0)


# --- persistence ----------------------------------------------------------------------------
def test_sqlite_keeps_users_segments_and_lookups(tmp_path, make_api):
    db = tmp_path / "emu.sqlite"
    users = {"u2": {"first_name": "Bo", "tags": ["x"], "id": "b" * 24}, "u1": None}
    with Emulator(db=db) as emu:
        emu.add_workspace("W", KEY, users, lookups_per_minute=None)
        emu.add_workspace("OFF", KEY, ["u1"], lookups=False, lookups_per_minute=7)
        emu.add_segment("W", "VIP", created_time="2022-12-01T13:17:46.409000")
        api = make_api(emu, "W", KEY)
        api.add("c1", ["u1"], name="Cohort")
        api.lookup(["u1", "nope"])
        api.segments(name="VIP")
        before = (emu.users("W"), emu.segments("W"), emu.workspaces(), emu.request_log())
    with Emulator(db=db) as emu:
        assert (emu.users("W"), emu.segments("W"), emu.workspaces(), emu.request_log()) == before
        assert [u["customer_id"] for u in emu.users("W")] == ["u2", "u1"]  # order kept
        api = make_api(emu, "W", KEY)
        r = api.lookup([("id", "b" * 24)])
        assert r.json()["data"]["users"][0]["user_attributes"]["tags"] == ["x"]
        assert "x-ratelimit-limit" not in r.headers  # lookups_per_minute=None survived
        assert api.lookup(["u1"], ws="OFF").status_code == 403
        assert api.add("c2", ["u1"], name="VIP").status_code == 400  # the segment survived
        assert [e["endpoint"] for e in emu.request_log()][-2:] == ["get_user", "cohortsync"]
        emu.reset()
    with Emulator(db=db) as emu:
        assert emu.segments("W") == []
        assert len(emu.users("W")) == 2  # users stay with their workspace
        emu.remove_workspace("W")
    with Emulator(db=db) as emu:
        assert [w["workspace_id"] for w in emu.workspaces()] == ["OFF"]


OLD_SCHEMA = """
CREATE TABLE workspaces (workspace_id TEXT PRIMARY KEY, api_key TEXT NOT NULL,
    requests_per_minute INTEGER, suspended TEXT, created_at REAL NOT NULL);
CREATE TABLE workspace_users (workspace_id TEXT NOT NULL, uid TEXT NOT NULL,
    PRIMARY KEY (workspace_id, uid)) WITHOUT ROWID;
INSERT INTO workspaces VALUES ('W', 'users-key-0000000', 300, NULL, 1700000000.0);
INSERT INTO workspace_users VALUES ('W', 'u1');
"""


def test_a_file_from_an_older_emulator_is_upgraded(tmp_path, make_api):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
    conn.close()
    with Emulator(db=db) as emu:
        (ws,) = emu.workspaces()
        assert (ws["lookups"], ws["lookups_per_minute"], ws["users"]) == (True, 1000, 1)
        api = make_api(emu, "W", KEY)
        r = api.lookup(["u1"])
        assert r.json()["data"]["users"][0]["user_attributes"]["customer_id"] == "u1"
        assert api.add("c1", ["u1"]).ok


# --- the sample apps ------------------------------------------------------------------------
def test_snake_case():
    assert snake_case("Push Opt-in") == "push_opt_in"
    assert snake_case(" First  Name ") == "first_name"
    assert snake_case("Lifetime Value (EUR)") == "lifetime_value_eur"


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_read_users(tmp_path):
    path = tmp_path / "export.csv"
    _write(
        path,
        ["ID", "MoEngage User ID", "First Name", "Orders", "Push Opt-in", "Favourite Colour"],
        [
            ["1001", "aaaaaaaaaaaaaaaaaaaaaaaa", "Ana", "3", "true", "blue"],
            ["", "bbbbbbbbbbbbbbbbbbbbbbbb", "", "0", "false", ""],  # anonymous
            ["guest", "cccccccccccccccccccccccc", "G", "1", "true", ""],  # placeholder
            [" 1002", "", "Bo", "n/a", "FALSE", ""],
            ["1001", "dddddddddddddddddddddddd", "Stale", "9", "false", ""],  # second profile
        ],
    )
    assert read_users(path) == {
        "1001": {
            "id": "a" * 24,
            "first_name": "Ana",
            "orders": 3,
            "push_opt_in": True,
            "favourite_colour": "blue",
        },
        " 1002": {"first_name": "Bo", "orders": "n/a", "push_opt_in": False},
    }


def test_real_sample_apps_have_attributes(make_api):
    if not (SAMPLES / "app_b_users.csv").is_file():
        pytest.skip("data/samples not generated")
    with Emulator() as emu:
        info = load_samples(emu, SAMPLES)
        assert info["destination"]["users"] == 4795  # README: b_distinct_valid_ids
        with open(SAMPLES / "app_b_users.csv", encoding="utf-8", newline="") as fh:
            first = next(csv.DictReader(fh))
        user = emu.user(DEMO_DEST_WORKSPACE, first["ID"])
        assert user["id"] == first["MoEngage User ID"]
        assert user["first_name"] == first["First Name"]
        assert user["membership_tier"] == first["Membership Tier"]
        assert user["points_balance"] == int(first["Points Balance"])
        assert user["lifetime_value"] == float(first["Lifetime Value"])
        source = emu.users("DEMO-SOURCE")[0]
        assert set(source) == {"customer_id", "id"} | {
            name
            for header, (name, _) in ATTRIBUTE_COLUMNS.items()
            if header not in ("Membership Tier", "Points Balance")
        }
        assert isinstance(source["push_opt_in"], bool)
        # the API answers the same user, by uid and by internal id
        api = make_api(emu, DEMO_DEST_WORKSPACE, DEMO_DEST_KEY)
        r = api.lookup([first["ID"], ("id", first["MoEngage User ID"])], fields=["email"])
        assert r.json()["data"]["users"] == [
            {
                "user_attributes": {
                    "customer_id": first["ID"],
                    "id": first["MoEngage User ID"],
                    "email": first["Email"],
                }
            }
        ]
        ids = [u["id"] for u in emu.users(DEMO_DEST_WORKSPACE)]
        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)


def test_whitespace_ids_of_the_sample_stay_distinct(make_api):
    if not (SAMPLES / "app_b_users.csv").is_file():
        pytest.skip("data/samples not generated")
    with Emulator() as emu:
        load_samples(emu, SAMPLES)
        uids = {u["customer_id"] for u in emu.users(DEMO_DEST_WORKSPACE)}
        spaced = sorted(uid for uid in uids if uid != uid.strip())
        assert len(spaced) == 20  # README: b_whitespace_ids
        api = make_api(emu, DEMO_DEST_WORKSPACE, DEMO_DEST_KEY)
        trimmed = [uid.strip() for uid in spaced if uid.strip() not in uids]
        assert trimmed
        r = api.lookup(spaced[:10] + trimmed[:10])
        data = r.json()["data"]
        assert [u["user_attributes"]["customer_id"] for u in data["users"]] == spaced[:10]
        assert [m["identifier"] for m in data["users_not_found"]] == trimmed[:10]
