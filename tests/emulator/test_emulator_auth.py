"""Authentication (401), account state (403) and the order of the checks."""

from __future__ import annotations

import pytest

HEADER_REQUIRED = "Authentication Header Required"
KEY_MISMATCH = "App Secret key mismatch. Please login to the dashboard to verify key"
APPKEY_MISMATCH = "App key mismatch in params and authentication"


def test_success_envelope_and_headers(api):
    r = api.add("c1", ["u1"])
    assert r.status_code == 200
    assert r.json() == {
        "status": "success",
        "message": "Your request has been accepted and will be processed soon.",
    }
    assert r.headers["Content-Type"] == "application/json"
    assert len(r.headers["x-request-id"]) == 32
    assert r.headers["x-ratelimit-limit"] == "300"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + "bm9jb2xvbg==",  # "nocolon"
        "Basic " + "OnNlY3JldA==",  # ":secret" (empty user)
    ],
)
def test_missing_or_unreadable_basic_header(api, authorization):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), authorization=authorization)
    assert r.status_code == 401
    err = api.error_of(r)
    assert err["message"] == HEADER_REQUIRED
    assert err["type"] == "Unauthorized"
    assert err["attribute"] is None
    assert "x-ratelimit-limit" not in r.headers


def test_basic_scheme_is_case_insensitive(api):
    r = api.post(
        api.partner_body("add_members", "c1", ["u1"]),
        authorization=api.basic(api.ws, api.key).replace("Basic", "bAsIc"),
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("ws", "key"),
    [
        ("WS-TEST", "wrong-key"),
        ("NO-SUCH-WS", "test-key-0123456789"),
        ("ws-test", "test-key-0123456789"),
    ],
)
def test_unknown_workspace_or_wrong_key(api, ws, key):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), ws=ws, key=key)
    assert r.status_code == 401
    err = api.error_of(r)
    assert err["message"] == KEY_MISMATCH
    assert err["type"] == "Unauthorized"
    assert "x-ratelimit-remaining" not in r.headers


@pytest.mark.parametrize("appkey", [None, "OTHER", "ws-test", "WS-TEST "])
def test_appkey_header_missing_or_different(api, appkey):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), appkey=appkey)
    assert r.status_code == 401
    err = api.error_of(r)
    assert err["type"] == "Authentication Mismatch"
    assert err["message"] == APPKEY_MISMATCH


def test_key_checked_before_appkey(api):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), key="bad", appkey=None)
    assert api.error_of(r)["message"] == KEY_MISMATCH


@pytest.mark.parametrize(
    ("suspended", "expected"),
    [
        (True, "Account Suspended"),
        ("Account Suspended", "Account Suspended"),
        ("BlockedClient", "BlockedClient"),
        ("Account Temporarily Suspended", "Account Temporarily Suspended"),
    ],
)
def test_suspended_workspace(api, emu, suspended, expected):
    emu.add_workspace(api.ws, api.key, api.users, suspended=suspended)
    r = api.add("c1", ["u1"])
    assert r.status_code == 403
    err = api.error_of(r)
    assert err["type"] == expected
    assert err["message"]
    # suspended requests pass authentication, so they are counted
    assert r.headers["x-ratelimit-remaining"] == "299"
    assert emu.cohorts(api.ws) == []


def test_invalid_suspension_value(emu):
    with pytest.raises(ValueError, match="suspended"):
        emu.add_workspace("X", "k", suspended="Nope")


def test_unsuspending_keeps_cohorts(api, emu):
    assert api.add("c1", ["u1"]).status_code == 200
    emu.add_workspace(api.ws, api.key, api.users, suspended=True)
    assert api.add("c1", ["u2"]).status_code == 403
    emu.add_workspace(api.ws, api.key, api.users)
    assert api.add("c1", ["u2"]).status_code == 200
    assert emu.cohort_members(api.ws, "c1") == {"u1", "u2"}


# --- check order ----------------------------------------------------------------------------
def test_bad_auth_beats_bad_body(api):
    r = api.post(raw=b"{not json", key="wrong", content_type="text/plain")
    assert r.status_code == 401


def test_missing_auth_beats_oversize(api):
    r = api.post(raw=b"x" * 200_000, authorization=None)
    assert r.status_code == 401
    assert api.error_of(r)["message"] == HEADER_REQUIRED


def test_suspended_beats_bad_content_type(api, emu):
    emu.add_workspace(api.ws, api.key, api.users, suspended="BlockedClient")
    r = api.post(raw=b"{", content_type="text/plain")
    assert r.status_code == 403
    assert api.error_of(r)["type"] == "BlockedClient"


def test_content_type_beats_oversize(api):
    r = api.post(raw=b"x" * 200_000, content_type="text/csv")
    assert r.status_code == 415


def test_oversize_beats_malformed(api):
    r = api.post(raw=b"{" + b"x" * 128_001)
    assert r.status_code == 413


def test_malformed_beats_rate_limit(make_api, clock):
    from moecohort.emulator import Emulator

    with Emulator(clock=clock) as emu:
        emu.add_workspace("W", "k" * 12, ["u1"], requests_per_minute=1)
        api = make_api(emu)
        body = api.partner_body("add_members", "c", ["u1"])
        assert api.post(body, ws="W", key="k" * 12).status_code == 200
        assert api.post(raw=b"{", ws="W", key="k" * 12).status_code == 400
        assert api.post(body, ws="W", key="k" * 12).status_code == 429
