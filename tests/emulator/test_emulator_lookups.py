"""The Get User API: POST /v1/customers/export?app_id=... (FACTS.md, "Looking users up")."""

from __future__ import annotations

import io
import json
import re

import pytest
import requests

from moecohort.emulator import Emulator

KEY = "lookup-key-000000"
LONG = "x" * 199 + "é"  # 200 characters
USERS = {
    "u1": {"first_name": "Ana", "email": "ana@example.com", "plan": "pro", "id": "a" * 24},
    "u2": {"first_name": "Bo", "orders": 3, "tags": ["a", "b"]},
    "007": None,
    " u4": {"first_name": "Spacey"},
    "Zoë": {"country": "Deutschland"},
    LONG: {"plan": "free"},
}
HEADER_REQUIRED = "Authentication Header Required"
KEY_MISMATCH = "App Secret key mismatch. Please login to the dashboard to verify key"
APPKEY_MISMATCH = "App key mismatch in params and authentication"


@pytest.fixture
def lk(make_api, clock):
    """An emulator (fake clock) with workspace L holding USERS, and an Api for it."""
    with Emulator(seed=0, clock=clock) as emu:
        emu.add_workspace("L", KEY, USERS)
        yield emu, make_api(emu, "L", KEY)


def _rate(r: requests.Response) -> tuple[str, str, str]:
    return (
        r.headers["x-ratelimit-limit"],
        r.headers["x-ratelimit-remaining"],
        r.headers["x-ratelimit-reset"],
    )


def _found(r: requests.Response) -> list[str]:
    return [u["user_attributes"]["customer_id"] for u in r.json()["data"]["users"]]


def _missing(r: requests.Response) -> list[str]:
    return [m["identifier"] for m in r.json()["data"]["users_not_found"]]


# --- 200 ------------------------------------------------------------------------------------
def test_success_envelope_exactly(lk):
    _, api = lk
    r = api.lookup(["u1", "nobody"])
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {
        "status": "success",
        "type": "export_users",
        "data": {
            "users_not_found": [{"identifier_type": "customer_id", "identifier": "nobody"}],
            "users": [
                {
                    "user_attributes": {
                        "customer_id": "u1",
                        "id": "a" * 24,
                        "first_name": "Ana",
                        "email": "ana@example.com",
                        "plan": "pro",
                    }
                }
            ],
        },
    }
    assert _rate(r) == ("1000", "998", "60")


@pytest.mark.parametrize(
    ("identifier", "found"),
    [
        ("007", True),
        ("7", False),  # numeric-looking text is text: "007" is not "7"
        ("07", False),
        (" u4", True),  # the stray space is part of the uid
        ("u4", False),
        (" u4 ", False),
        ("U1", False),  # no case folding
        ("u1 ", False),
        ("Zoë", True),
        ("zoë", False),
        ("Zoe\u0308", False),  # the same text decomposed (NFD) is another string
        (LONG, True),
        (LONG[:-1], False),
    ],
)
def test_customer_id_matches_exactly(lk, identifier, found):
    _, api = lk
    r = api.lookup([identifier])
    assert r.status_code == 200
    assert _found(r) == ([identifier] if found else [])
    assert _missing(r) == ([] if found else [identifier])


def test_identifier_type_id(lk):
    emu, api = lk
    derived = emu.user("L", "u2")["id"]
    assert re.fullmatch(r"[0-9a-f]{24}", derived)
    r = api.lookup([("id", "a" * 24), ("id", derived), ("id", "u1"), ("id", "A" * 24)])
    assert _found(r) == ["u1", "u2"]
    assert r.json()["data"]["users_not_found"] == [
        {"identifier_type": "id", "identifier": "u1"},  # a uid is not an internal id
        {"identifier_type": "id", "identifier": "A" * 24},
    ]


def test_derived_ids_are_stable_and_per_workspace():
    with Emulator() as a, Emulator() as b:
        a.add_workspace("W1", KEY, ["u1"])
        b.add_workspace("W1", KEY, ["u1"])
        b.add_workspace("W2", KEY, ["u1"])
        assert a.user("W1", "u1")["id"] == b.user("W1", "u1")["id"]
        assert b.user("W1", "u1")["id"] != b.user("W2", "u1")["id"]


def test_requested_fields(lk):
    _, api = lk
    r = api.lookup(["u1", "u2", "007"], fields=["plan", "orders", "first_name", "nope"])
    users = [u["user_attributes"] for u in r.json()["data"]["users"]]
    assert users == [
        {"customer_id": "u1", "id": "a" * 24, "plan": "pro", "first_name": "Ana"},
        {"customer_id": "u2", "id": users[1]["id"], "orders": 3, "first_name": "Bo"},
        {"customer_id": "007", "id": users[2]["id"]},  # fields it lacks are left out
    ]
    r = api.lookup(["u1"], fields=[])
    assert r.json()["data"]["users"] == [{"user_attributes": {"customer_id": "u1", "id": "a" * 24}}]
    r = api.lookup(["u2"], fields=["customer_id", "tags"])
    assert r.json()["data"]["users"][0]["user_attributes"]["tags"] == ["a", "b"]


def test_duplicates_are_answered_once(lk):
    emu, api = lk
    r = api.lookup(["u1", "u1", ("id", "a" * 24), "ghost", "ghost", ("id", "ghost")])
    assert _found(r) == ["u1"]
    assert r.json()["data"]["users_not_found"] == [
        {"identifier_type": "customer_id", "identifier": "ghost"},
        {"identifier_type": "id", "identifier": "ghost"},
    ]
    # ... but every identifier sent counts
    assert r.headers["x-ratelimit-remaining"] == "994"
    entry = emu.request_log(endpoint="get_user")[-1]
    assert (entry["identifiers"], entry["found"], entry["not_found"]) == (6, 1, 2)


# --- 400 ------------------------------------------------------------------------------------
def test_twenty_identifiers_pass_twenty_one_breach_the_limit(lk):
    emu, api = lk
    assert api.lookup(["u1"] * 20).status_code == 200
    r = api.lookup([f"x{i}" for i in range(21)])
    assert r.status_code == 400
    assert r.json() == {
        "status": "fail",
        "error": {
            "attribute": "users",
            "message": "max limit allowed is 20",
            "type": "LimitBreached",
            "request_id": r.headers["x-request-id"],
        },
    }
    assert r.headers["x-ratelimit-remaining"] == "980"  # refused: costs nothing
    assert emu.request_log()[-1]["error_type"] == "LimitBreached"


MALFORMED = "Could not decode the request body. The JSON was incorrect or not encoded as UTF-8."


@pytest.mark.parametrize(
    ("raw", "type_", "attribute", "message"),
    [
        (b"{", "Malformed JSON", None, MALFORMED),
        (b"\xff\xfe{}", "Malformed JSON", None, MALFORMED),
        (b'{"data": NaN}', "Malformed JSON", None, MALFORMED),
        (b"[]", "InvalidAttributeError", None, None),
        (b"{}", "MissingAttributeError", "data", "data is not found in the payload"),
        (b'{"data": null}', "MissingAttributeError", "data", "data is not found in the payload"),
        (b'{"data": []}', "InvalidAttributeError", "data", None),
        (
            b'{"data": {}}',
            "MissingAttributeError",
            "identifiers",
            "identifiers is not found in the payload",
        ),
        (b'{"data": {"identifiers": "u1"}}', "InvalidAttributeError", "identifiers", None),
        (b'{"data": {"identifiers": []}}', "InvalidAttributeError", "identifiers", None),
        (b'{"data": {"identifiers": ["u1"]}}', "InvalidAttributeError", "identifiers", None),
        (
            b'{"data": {"identifiers": [{"identifier": "u1"}]}}',
            "MissingAttributeError",
            "identifier_type",
            "identifier_type is not found in the payload",
        ),
        (
            b'{"data": {"identifiers": [{"identifier_type": "uid", "identifier": "u1"}]}}',
            "InvalidAttributeError",
            "identifier_type",
            None,
        ),
        (
            b'{"data": {"identifiers": [{"identifier_type": "customer_id"}]}}',
            "MissingAttributeError",
            "identifier",
            "identifier is not found in the payload",
        ),
        (
            b'{"data": {"identifiers": [{"identifier_type": "customer_id", "identifier": 7}]}}',
            "InvalidAttributeError",
            "identifier",
            None,
        ),
        (
            b'{"data": {"identifiers": [{"identifier_type": "customer_id", "identifier": ""}]}}',
            "InvalidAttributeError",
            "identifier",
            None,
        ),
        (
            b'{"data": {"identifiers": [{"identifier_type": "id", "identifier": "u1"}], '
            b'"user_fields_to_export": "name"}}',
            "InvalidAttributeError",
            "user_fields_to_export",
            None,
        ),
    ],
)
def test_body_validation(lk, raw, type_, attribute, message):
    _, api = lk
    r = api.lookup(raw=raw)
    assert r.status_code == 400
    err = api.error_of(r)
    assert (err["type"], err["attribute"]) == (type_, attribute)
    if message is not None:
        assert err["message"] == message
    assert r.headers["x-ratelimit-remaining"] == "1000"


# --- 401, 403 -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "type_", "message"),
    [
        ({"authorization": None}, "Unauthorized", HEADER_REQUIRED),
        ({"authorization": "Bearer x"}, "Unauthorized", HEADER_REQUIRED),
        ({"key": "wrong-key"}, "Unauthorized", KEY_MISMATCH),
        ({"ws": "NOPE", "app_id": "NOPE"}, "Unauthorized", KEY_MISMATCH),
        ({"app_id": None}, "Authentication Mismatch", APPKEY_MISMATCH),
        ({"app_id": "OTHER"}, "Authentication Mismatch", APPKEY_MISMATCH),
        ({"app_id": "l"}, "Authentication Mismatch", APPKEY_MISMATCH),
    ],
)
def test_401(lk, kwargs, type_, message):
    emu, api = lk
    r = api.lookup(["u1"], **kwargs)
    assert r.status_code == 401
    err = api.error_of(r)
    assert (err["type"], err["message"], err["attribute"]) == (type_, message, None)
    assert "x-ratelimit-limit" not in r.headers
    assert KEY not in r.text
    entry = emu.request_log()[-1]
    assert (entry["endpoint"], entry["authenticated"], entry["status"]) == ("get_user", False, 401)


@pytest.mark.parametrize(
    "kind", ["Account Suspended", "Account Temporarily Suspended", "BlockedClient"]
)
def test_403_suspended(lk, kind):
    emu, api = lk
    emu.add_workspace("L", KEY, USERS, suspended=kind)
    r = api.lookup(["u1"])
    assert r.status_code == 403
    assert api.error_of(r)["type"] == kind
    assert _rate(r) == ("1000", "1000", "60")


def test_403_lookups_not_enabled(lk):
    emu, api = lk
    emu.add_workspace("L", KEY, USERS, lookups=False)
    assert emu.workspaces()[0]["lookups"] is False
    emu.set_faults(error_500=1.0)  # faults come after the account checks
    r = api.lookup(["u1"])
    assert r.status_code == 403
    err = api.error_of(r)
    assert err["type"] == "Forbidden"
    assert "not enabled for this workspace" in err["message"]
    # Cohort Sync still works in that workspace
    emu.set_faults()
    assert api.add("c1", ["u1"]).status_code == 200


# --- 413, 415, 405 --------------------------------------------------------------------------
def _padded(size: int) -> bytes:
    body = json.dumps(
        {"data": {"identifiers": [{"identifier_type": "customer_id", "identifier": "u1"}]}}
    ).encode()
    return body + b" " * (size - len(body))


def test_413_over_128000_bytes(lk):
    _, api = lk
    assert api.lookup(raw=_padded(128_000)).status_code == 200
    r = api.lookup(raw=_padded(128_001))
    assert r.status_code == 413
    err = api.error_of(r)
    assert (err["type"], err["message"]) == ("PayloadTooLarge", "Payload size exceeds 128 KB")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_415(lk, content_type):
    _, api = lk
    r = api.lookup(["u1"], content_type=content_type)
    assert r.status_code == 415
    assert api.error_of(r)["message"] == "Content type is not supported"


def test_charset_parameter_is_fine(lk):
    _, api = lk
    assert api.lookup(["u1"], content_type="application/json; charset=utf-8").ok


def test_check_order_media_before_size_before_body(lk):
    _, api = lk
    assert api.lookup(raw=b"{" * 130_000, content_type="text/plain").status_code == 415
    assert api.lookup(raw=b"{" * 130_000).status_code == 413
    assert api.lookup(raw=b"{", key="bad").status_code == 401


def test_other_methods_get_405(lk):
    emu, api = lk
    r = api.session.get(emu.lookup_endpoint, timeout=5)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


# --- log, keys ------------------------------------------------------------------------------
def test_log_entries_and_the_endpoint_filter(lk):
    emu, api = lk
    api.add("c1", ["u1"])
    api.lookup(["u1", "u2", "nobody"])
    (entry,) = emu.request_log(endpoint="get_user")
    assert entry["endpoint"] == "get_user"
    assert entry["format"] == "export_users"
    assert (entry["identifiers"], entry["found"], entry["not_found"]) == (3, 2, 1)
    assert entry["status"] == 200
    assert entry["body_bytes"] > 0
    assert [e["endpoint"] for e in emu.request_log()] == ["cohortsync", "get_user"]
    assert [e["format"] for e in emu.request_log(endpoint="cohortsync")] == ["partner"]
    body = api.control("GET", "/requests?endpoint=get_user").json()
    assert [e["seq"] for e in body["requests"]] == [2]


def test_no_key_in_any_log_or_response(make_api):
    stream = io.StringIO()
    with Emulator(access_log=stream) as emu:
        emu.add_workspace("L", "very-secret-key-42", USERS)
        api = make_api(emu, "L", "very-secret-key-42")
        texts = [
            api.lookup(["u1"]).text,
            api.lookup(["u1"], key="other-secret-key").text,
            api.lookup(["u1"], app_id="X").text,
            api.control("GET", "/workspaces").text,
            api.control("GET", "/workspaces/L/users").text,
        ]
        log = json.dumps(emu.request_log())
    for text in [*texts, log, stream.getvalue()]:
        assert "secret" not in text
    assert '"POST /v1/customers/export?app_id=L" 200 L get_user identifiers=1 found=1' in (
        stream.getvalue()
    )
