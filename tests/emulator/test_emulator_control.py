"""The /_emulator control API, routing errors, and the Python inspection API."""

from __future__ import annotations

import http.client
import json
import socket

import pytest


def test_summary(api):
    r = api.control("GET", "")
    assert r.status_code == 200
    body = r.json()
    assert body["emulator"] == "moecohort"
    assert body["workspaces"] == 1
    assert body["seed"] == 0
    assert "x-request-id" in r.headers


def test_workspaces_get_and_post(api, emu):
    body = api.control("GET", "/workspaces").json()
    (ws,) = body["workspaces"]
    assert ws["workspace_id"] == api.ws
    assert ws["users"] == len(api.users)
    assert ws["requests_per_minute"] == 300
    assert ws["suspended"] is None
    assert ws["api_key_hint"] == "****6789"
    assert api.key not in api.control("GET", "/workspaces").text

    r = api.control(
        "POST",
        "/workspaces",
        {
            "workspace_id": "NEW",
            "api_key": "new-key-0000000000",
            "users": ["a", "b"],
            "requests_per_minute": 10,
            "suspended": "BlockedClient",
        },
    )
    assert r.status_code == 200
    assert r.json()["workspace"]["suspended"] == "BlockedClient"
    assert {w["workspace_id"] for w in emu.workspaces()} == {api.ws, "NEW"}
    r = api.post(api.partner_body("add_members", "c", ["a"]), ws="NEW", key="new-key-0000000000")
    assert r.status_code == 403
    assert r.headers["x-ratelimit-limit"] == "10"


@pytest.mark.parametrize(
    ("body", "status", "attribute"),
    [
        ({"api_key": "k"}, 400, "workspace_id"),
        ({"workspace_id": "W"}, 400, "api_key"),
        ({"workspace_id": "W", "api_key": "k", "users": "abc"}, 400, "users"),
        ({"workspace_id": "W", "api_key": "k", "colour": "red"}, 400, "colour"),
        ({"workspace_id": "W", "api_key": "k", "suspended": "maybe"}, 400, None),
    ],
)
def test_workspace_post_errors(api, body, status, attribute):
    r = api.control("POST", "/workspaces", body)
    assert r.status_code == status
    assert api.error_of(r)["attribute"] == attribute


def test_workspace_get_and_delete(api, emu):
    assert api.control("GET", f"/workspaces/{api.ws}").json()["workspace_id"] == api.ws
    assert api.control("DELETE", f"/workspaces/{api.ws}").status_code == 200
    assert emu.workspaces() == []
    assert api.control("GET", f"/workspaces/{api.ws}").status_code == 404


def test_cohorts_and_members(api):
    api.add("id/with slash", ["u2", "u1", "nobody"], name="My cohort")
    r = api.control("GET", f"/workspaces/{api.ws}/cohorts")
    (cohort,) = r.json()["cohorts"]
    assert (cohort["cohort_id"], cohort["members"], cohort["unmatched"]) == ("id/with slash", 2, 1)
    for key in ("id%2Fwith%20slash", "My%20cohort"):
        r = api.control("GET", f"/workspaces/{api.ws}/cohorts/{key}/members")
        assert r.status_code == 200
        assert r.json() == {
            "workspace_id": api.ws,
            "cohort_id": "id/with slash",
            "name": "My cohort",
            "count": 2,
            "members": ["u1", "u2"],
        }
    r = api.control("GET", f"/workspaces/{api.ws}/cohorts/My%20cohort")
    assert r.json()["cohort_id"] == "id/with slash"


def test_unknown_workspace_and_cohort_404(api):
    r = api.control("GET", "/workspaces/NOPE/cohorts")
    assert r.status_code == 404
    assert api.error_of(r)["type"] == "Not Found"
    assert api.control("GET", f"/workspaces/{api.ws}/cohorts/nope/members").status_code == 404


def test_requests_endpoint(api, emu):
    emu.add_workspace("OTHER", "other-key-000000", ["u1"])
    for i in range(5):
        api.add(f"c{i}", ["u1"])
    api.post(api.partner_body("add_members", "x", ["u1"]), ws="OTHER", key="other-key-000000")
    body = api.control("GET", "/requests").json()
    assert body["count"] == 6
    assert [e["seq"] for e in body["requests"]] == [1, 2, 3, 4, 5, 6]
    body = api.control("GET", f"/requests?workspace={api.ws}&limit=2").json()
    assert [e["cohort_id"] for e in body["requests"]] == ["c3", "c4"]
    entry = body["requests"][-1]
    assert entry["status"] == 200
    assert entry["action"] == "add_members"
    assert entry["format"] == "partner"
    assert entry["members"] == 1
    assert entry["body_bytes"] > 0
    assert len(entry["request_id"]) == 32
    assert api.control("GET", "/requests?limit=abc").status_code == 400
    assert [e["workspace"] for e in emu.request_log("OTHER")] == ["OTHER"]
    assert len(emu.request_log(limit=3)) == 3


def test_log_keeps_request_ids_and_never_keys(api, emu):
    r = api.post(api.partner_body("add_members", "c", ["u1"]), key="wrong-secret-123")
    (entry,) = emu.request_log()
    assert entry["request_id"] == r.headers["x-request-id"]
    assert entry["authenticated"] is False
    assert "wrong-secret-123" not in str(emu.request_log())
    assert api.key not in str(emu.request_log())


def test_reset(api, emu):
    api.add("c1", ["u1"])
    r = api.control("POST", "/reset")
    assert r.status_code == 200
    assert emu.cohorts(api.ws) == []
    assert emu.request_log() == []
    assert len(emu.workspaces()) == 1
    api.add("c1", ["u1"])
    assert api.control("POST", "/reset", {"workspaces": True}).status_code == 200
    assert emu.workspaces() == []
    assert api.control("POST", "/reset", {"workspaces": "yes"}).status_code == 400


def test_python_reset(api, emu):
    api.add("c1", ["u1"])
    emu.reset(workspaces=True)
    assert emu.workspaces() == []
    assert emu.request_log() == []


def test_faults_endpoint(api, emu):
    assert api.control("GET", "/faults").json()["faults"]["error_500"] == 0.0
    r = api.control("POST", "/faults", {"error_500": 1.0, "retry_after": 3})
    assert r.status_code == 200
    assert emu.faults.error_500 == 1.0
    assert api.add("c1", ["u1"]).headers["Retry-After"] == "3"
    assert api.control("POST", "/faults", {"error_500": 2}).status_code == 400
    assert api.control("POST", "/faults", {"nope": 1}).status_code == 400
    assert api.control("POST", "/faults", {}).json()["faults"]["error_500"] == 0.0
    assert api.add("c1", ["u1"]).ok


def test_control_rejects_non_object_and_bad_json(api):
    r = api.session.post(api.emu.url + "/_emulator/faults", data=b"{", timeout=5)
    assert r.status_code == 400
    assert api.error_of(r)["type"] == "Malformed JSON"
    r = api.session.post(api.emu.url + "/_emulator/faults", json=[1], timeout=5)
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v1/integrations/cohortsync", 405, "POST"),
        ("PUT", "/v1/integrations/cohortsync", 405, "POST"),
        ("DELETE", "/v1/integrations/cohortsync", 405, "POST"),
        ("POST", "/v1/integrations/cohortsync/", 404, None),
        ("POST", "/v1/integrations/cohort", 404, None),
        ("GET", "/", 404, None),
        ("POST", "/_emulator/workspaces/x/cohorts", 405, "GET"),
        ("GET", "/_emulator/reset", 405, "POST"),
        ("PATCH", "/_emulator/faults", 405, "GET, POST"),
        ("GET", "/_emulator/nothing", 404, None),
    ],
)
def test_routing_errors(api, method, path, status, allow):
    r = api.session.request(method, api.emu.url + path, timeout=5)
    assert r.status_code == status
    err = api.error_of(r)
    assert err["type"] == ("Method Not Allowed" if status == 405 else "Not Found")
    assert r.headers.get("Allow") == allow


def test_query_string_is_ignored_on_the_endpoint(api, emu):
    api.session.post(
        api.url + "?x=1",
        json=api.partner_body("add_members", "c1", ["u1"]),
        headers={"Authorization": api.basic(api.ws, api.key), "MOE-APPKEY": api.ws},
    ).raise_for_status()
    assert emu.cohort_members(api.ws, "c1") == {"u1"}


def test_broken_request_line_gets_json_error(emu):
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b'"status":"fail"' in data


def test_keep_alive_reuses_one_connection(api):
    host, port = api.emu.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        headers = {
            "Authorization": api.basic(api.ws, api.key),
            "MOE-APPKEY": api.ws,
            "Content-Type": "application/json",
        }
        body = json.dumps(api.partner_body("add_members", "c1", ["u1"]))
        conn.request("POST", "/v1/integrations/cohortsync", body, headers)
        first = conn.sock
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") is None
        response.read()
        conn.request("POST", "/v1/integrations/cohortsync", "{", headers)
        assert conn.sock is first
        response = conn.getresponse()
        assert response.status == 400
        response.read()
        conn.request("GET", "/_emulator/faults")
        assert conn.sock is first
        assert conn.getresponse().status == 200
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.7", False),
        ("192.168.1.2", False),
        ("::ffff:10.0.0.7", False),
        ("not-an-ip", False),
    ],
)
def test_control_api_loopback_guard(host, loopback):
    from moecohort.emulator.control import is_loopback as _is_loopback

    assert _is_loopback(host) is loopback


def test_head_gets_headers_only(api):
    r = api.session.head(api.url, timeout=5)
    assert r.status_code == 405
    assert r.content == b""
    assert r.headers["Allow"] == "POST"


def test_access_log_never_shows_keys(make_api):
    import io

    from moecohort.emulator import Emulator

    stream = io.StringIO()
    with Emulator(access_log=stream) as emu:
        emu.add_workspace("W", "very-secret-key-42", ["u1"])
        api = make_api(emu, "W", "very-secret-key-42")
        api.add("c1", ["u1"])
        api.post(api.partner_body("add_members", "c1", ["u1"]), key="other-secret-key")
        api.control("GET", "/workspaces")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert '"POST /v1/integrations/cohortsync" 200 W add_members cohort=c1 members=1' in lines[0]
    assert " 401 " in lines[1]
    assert "secret" not in stream.getvalue()
