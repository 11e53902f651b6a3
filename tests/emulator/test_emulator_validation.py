"""Media type (415), size (413) and body (400) checks, for both wire formats."""

from __future__ import annotations

import json
import socket

import pytest

from moecohort.emulator.facts import FORBIDDEN_COHORT_NAME_CHARS, MAX_BODY_BYTES

MALFORMED = "Could not decode the request body. The JSON was incorrect or not encoded as UTF-8."


# --- 415 ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_content_types_accepted(api, content_type):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), content_type=content_type)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
def test_other_content_types_rejected(api, content_type):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), content_type=content_type)
    assert r.status_code == 415
    err = api.error_of(r)
    assert err["type"] == "Unsupported media type"
    assert err["message"] == "Content type is not supported"
    assert r.headers["x-ratelimit-remaining"] == "299"


# --- 413 ------------------------------------------------------------------------------------
def _padded(api, size: int) -> bytes:
    raw = json.dumps(api.partner_body("add_members", "c1", ["u1"])).encode()
    return raw + b" " * (size - len(raw))


def test_exactly_max_body_accepted(api, emu):
    raw = _padded(api, MAX_BODY_BYTES)
    assert len(raw) == 128_000
    r = api.post(raw=raw)
    assert r.status_code == 200
    assert emu.request_log()[-1]["body_bytes"] == 128_000


def test_one_byte_over_rejected(api, emu):
    r = api.post(raw=_padded(api, MAX_BODY_BYTES + 1))
    assert r.status_code == 413
    err = api.error_of(r)
    assert err["type"] == "Payload too large"
    assert err["message"] == "Payload can not exceed 128KB"
    assert emu.cohorts(api.ws) == []
    # the connection stays usable
    assert api.add("c1", ["u1"]).status_code == 200


def test_huge_declared_length_answered_without_reading(api):
    """Beyond the emulator's hard cap the body is never read: 413, then close."""
    host, port = api.emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = (
            f"POST /v1/integrations/cohortsync HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {api.basic(api.ws, api.key)}\r\nMOE-APPKEY: {api.ws}\r\n"
            "Content-Type: application/json\r\nContent-Length: 999999999\r\n\r\n"
        )
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in data


def test_chunked_body(api, emu):
    raw = json.dumps(api.partner_body("add_members", "c1", ["u1", "u2"])).encode()
    r = api.session.post(
        api.url,
        data=iter([raw[:10], raw[10:]]),
        headers={
            "Authorization": api.basic(api.ws, api.key),
            "MOE-APPKEY": api.ws,
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 200
    assert emu.cohort_members(api.ws, "c1") == {"u1", "u2"}


# --- 400: malformed -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"\xff\xfe{}", '{"a": "é"}'.encode("latin-1"), b'{"a": NaN}'],
)
def test_malformed_json(api, raw):
    r = api.post(raw=raw)
    assert r.status_code == 400
    err = api.error_of(r)
    assert err["type"] == "Malformed JSON"
    assert err["message"] == MALFORMED
    assert err["attribute"] is None


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
def test_body_must_be_an_object(api, raw):
    r = api.post(raw=raw)
    assert r.status_code == 400
    assert api.error_of(r)["type"] == "InvalidAttributeError"


# --- 400: partner format --------------------------------------------------------------------
def _without(body: dict, *path: str) -> dict:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("path", "attribute"),
    [
        (("action",), "action"),
        (("partner",), "partner"),
        (("parameters",), "parameters"),
        (("parameters", "cohort_name"), "cohort_name"),
        (("parameters", "cohort_id"), "cohort_id"),
        (("parameters", "members"), "members"),
    ],
)
def test_partner_missing_attribute(api, path, attribute):
    body = _without(api.partner_body("add_members", "c1", ["u1"]), *path)
    r = api.post(body)
    assert r.status_code == 400
    err = api.error_of(r)
    assert err["type"] == "MissingAttributeError"
    assert err["message"] == f"{attribute} is not found in the payload"
    assert err["attribute"] == attribute


def test_partner_missing_uid(api):
    body = api.partner_body("add_members", "c1", ["u1"])
    body["parameters"]["members"].append({"id": "u2"})
    r = api.post(body)
    err = api.error_of(r)
    assert (r.status_code, err["type"], err["attribute"]) == (400, "MissingAttributeError", "uid")
    assert err["message"] == "uid is not found in the payload"
    assert api.emu.cohorts(api.ws) == []  # nothing of a rejected request is applied


@pytest.mark.parametrize("action", ["add", "ADD_MEMBERS", "", 1, ["add_members"]])
def test_invalid_action(api, action):
    body = api.partner_body("add_members", "c1", ["u1"])
    body["action"] = action
    r = api.post(body)
    assert r.status_code == 400
    err = api.error_of(r)
    assert err["type"] == "InvalidAttributeError"
    assert err["attribute"] == "action"


@pytest.mark.parametrize("uid", ["", 123, True, ["u1"], {"x": 1}])
def test_uid_must_be_a_non_empty_string(api, uid):
    body = api.partner_body("add_members", "c1", [])
    body["parameters"]["members"] = [{"uid": uid}]
    r = api.post(body)
    assert r.status_code == 400
    assert api.error_of(r)["attribute"] == "uid"


@pytest.mark.parametrize(
    ("key", "value", "attribute"),
    [
        ("members", "u1", "members"),
        ("members", ["u1"], "members"),
        ("cohort_id", 7, "cohort_id"),
        ("cohort_id", "", "cohort_id"),
        ("cohort_description", 5, "cohort_description"),
    ],
)
def test_partner_invalid_parameters(api, key, value, attribute):
    body = api.partner_body("add_members", "c1", ["u1"])
    body["parameters"][key] = value
    r = api.post(body)
    assert r.status_code == 400
    assert api.error_of(r)["attribute"] == attribute


def test_parameters_must_be_an_object(api):
    body = api.partner_body("add_members", "c1", ["u1"])
    body["parameters"] = ["x"]
    assert api.error_of(api.post(body))["attribute"] == "parameters"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        (".hidden", "must not start with '.'"),
        ("a|b*c", "not allowed: | *"),
        ('quote " and (paren)', 'not allowed: " ( )'),
        ("x=y$z", "not allowed: = $"),
    ],
)
def test_invalid_cohort_name(api, name, fragment):
    r = api.add("c1", ["u1"], name=name)
    assert r.status_code == 400
    err = api.error_of(r)
    assert err["attribute"] == "cohort_name"
    assert err["type"] == "InvalidAttributeError"
    assert fragment in err["message"]


@pytest.mark.parametrize("ch", sorted(FORBIDDEN_COHORT_NAME_CHARS))
def test_every_forbidden_character(api, ch):
    r = api.add("c1", ["u1"], name=f"name{ch}x")
    assert r.status_code == 400
    assert ch in api.error_of(r)["message"]


@pytest.mark.parametrize("name", ["a.b", "trailing.", "Ünïcode names ok", "dash-and_under 1"])
def test_valid_cohort_names(api, name):
    assert api.add("c1", ["u1"], name=name).status_code == 200


# --- 400: segment sync format ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "attribute"),
    [
        (("type",), "type"),
        (("data",), "data"),
        (("data", "moengage_sync_id"), "moengage_sync_id"),
        (("data", "moengage_sync_name"), "moengage_sync_name"),
    ],
)
def test_segment_missing_attribute(api, path, attribute):
    body = _without(api.segment_body("s1", add=["u1"]), *path)
    r = api.post(body, segment=True)
    assert r.status_code == 400
    err = api.error_of(r)
    assert err["type"] == "MissingAttributeError"
    assert err["attribute"] == attribute
    assert err["message"] == f"{attribute} is not found in the payload"


def test_segment_wrong_type(api):
    body = api.segment_body("s1", add=["u1"])
    body["type"] = "segment"
    err = api.error_of(api.post(body, segment=True))
    assert err["attribute"] == "type"


def test_segment_user_without_uid(api):
    body = api.segment_body("s1", add=["u1"])
    body["data"]["remove_users"] = [{"moengage_distinct_id": "d"}]
    r = api.post(body, segment=True)
    assert api.error_of(r)["attribute"] == "uid"


def test_segment_name_checked_with_its_own_attribute(api):
    r = api.segment("s1", add=["u1"], name="bad:name")
    assert r.status_code == 400
    assert api.error_of(r)["attribute"] == "moengage_sync_name"


def test_partner_body_sent_with_moengage_header_is_rejected(api):
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), segment=True)
    assert r.status_code == 400
    assert api.error_of(r)["attribute"] == "type"


def test_segment_body_sent_without_header_is_rejected(api):
    r = api.post(api.segment_body("s1", add=["u1"]))
    assert r.status_code == 400
    assert api.error_of(r)["attribute"] == "action"


# --- 400: segment limit ---------------------------------------------------------------------
def test_cohort_limit(make_api):
    from moecohort.emulator import Emulator

    with Emulator(max_cohorts=3) as emu:
        emu.add_workspace("W", "key-0000000000", ["u1"])
        api = make_api(emu, "W", "key-0000000000")
        for i in range(3):
            assert api.add(f"c{i}", ["u1"]).status_code == 200
        r = api.add("c3", ["u1"])
        assert r.status_code == 400
        err = api.error_of(r)
        assert err["type"] == "LimitExceededError"
        assert err["attribute"] == "cohort_id"
        assert "3" in err["message"]
        # existing cohorts can still be updated
        assert api.remove("c0", ["u1"]).status_code == 200
        assert api.segment("s9", add=["u1"]).status_code == 400


def test_default_cohort_limit_is_1000(moe_emulator):
    assert moe_emulator.max_cohorts == 1000
