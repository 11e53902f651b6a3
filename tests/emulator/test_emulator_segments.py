"""The Custom Segments API v3 (read side), dashboard segments, and what cohort sync does
with a name a dashboard segment already has."""

from __future__ import annotations

import base64
import re

import pytest
import requests

from moecohort.emulator import Emulator
from moecohort.emulator.segments import handle_segments
from moecohort.emulator.state import EmulatorState

KEY = "segments-key-0000"
CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}")


@pytest.fixture
def sg(make_api, clock):
    """An emulator (fake clock) with workspace S, and an Api for it."""
    with Emulator(seed=0, clock=clock) as emu:
        emu.add_workspace("S", KEY, ["u1", "u2"])
        yield emu, make_api(emu, "S", KEY)


def _rate(r: requests.Response) -> tuple[str, str, str]:
    return (
        r.headers["x-ratelimit-limit"],
        r.headers["x-ratelimit-remaining"],
        r.headers["x-ratelimit-reset"],
    )


def _data(r: requests.Response) -> list[dict]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data", "response_id", "type"}
    assert body["type"] == "custom_segment"
    assert body["response_id"] == r.headers["x-request-id"]
    return body["data"]


# --- the list -------------------------------------------------------------------------------
def test_empty_list(sg):
    _, api = sg
    r = api.segments()
    assert r.json() == {
        "data": [],
        "response_id": r.headers["x-request-id"],
        "type": "custom_segment",
    }
    assert _rate(r) == ("50", "49", "60")


def test_cohort_sync_cohorts_are_listed(sg):
    emu, api = sg
    api.add("partner-id-1", ["u1"], name="Buyers")
    api.segment("sync-9", add=["u2"], name="Seg sync")
    data = _data(api.segments())
    assert [(s["name"], s["type"], s["source"]) for s in data] == [
        ("Buyers", "COHORT_SYNC", "COHORT_SYNC_API"),
        ("Seg sync", "COHORT_SYNC", "COHORT_SYNC_API"),
    ]
    for segment in data:
        assert set(segment) == {"name", "id", "created_time", "type", "source"}
        assert re.fullmatch(r"[0-9a-f]{24}", segment["id"])  # MoEngage's id, not the partner's
        assert CREATED.fullmatch(segment["created_time"])
    assert data[0]["id"] != "partner-id-1"
    assert emu.segments("S") == data
    # renaming through cohort sync keeps the segment's id
    api.add("partner-id-1", ["u2"], name="Buyers 2")
    assert _data(api.segments(name="Buyers 2"))[0]["id"] == data[0]["id"]


def test_exact_name_filter(sg):
    emu, api = sg
    emu.add_segment("S", "VIP")
    emu.add_segment("S", "vip", source="FILE")
    emu.add_segment("S", "VIP ", source="API")
    emu.add_segment("S", "Zoë & friends: 100%")
    api.add("c1", ["u1"], name="VIP cohort")
    assert [s["name"] for s in _data(api.segments(name="VIP"))] == ["VIP"]
    assert [s["source"] for s in _data(api.segments(name="vip"))] == ["FILE"]
    assert [s["name"] for s in _data(api.segments(name="VIP "))] == ["VIP "]
    assert _data(api.segments(name="Zoë & friends: 100%"))[0]["source"] == "DASHBOARD"
    assert _data(api.segments(name="VIP cohort"))[0]["type"] == "COHORT_SYNC"
    assert _data(api.segments(name="nothing")) == []
    assert len(_data(api.segments(params={"other": "x"}))) == 5  # unknown parameters: ignored


def test_same_name_cohorts_are_all_listed(sg):
    _, api = sg
    api.add("c1", ["u1"], name="Twice")
    api.add("c2", ["u1"], name="Twice")
    assert len(_data(api.segments(name="Twice"))) == 2


@pytest.mark.parametrize("query", ["name=", "name=a&name=b"])
def test_400_invalid_request(sg, query):
    emu, api = sg
    r = api.session.get(
        emu.segments_endpoint + "?" + query,
        headers={"Authorization": api.basic("S", KEY), "MOE-APPKEY": "S"},
        timeout=5,
    )
    assert r.status_code == 400
    assert api.segments_error(r) == {"code": "400 Bad Request", "message": "Invalid request"}


# --- get by id ------------------------------------------------------------------------------
def test_get_by_id(sg):
    emu, api = sg
    made = emu.add_segment("S", "Dash", id="seg/1 with space", created_time=1669900666.409)
    assert made["created_time"] == "2022-12-01T13:17:46.409000"
    api.add("c1", ["u1"], name="Cohort")
    cohort_id = _data(api.segments(name="Cohort"))[0]["id"]
    assert _data(api.segments("seg/1 with space")) == [made]
    assert [s["name"] for s in _data(api.segments(cohort_id))] == ["Cohort"]
    r = api.segments("nope")
    assert r.status_code == 404
    assert api.segments_error(r) == {"code": "404 Not Found", "message": "Entity Not Found"}
    assert _rate(r) == ("100", "97", "60")
    r = api.segments("c1")  # the partner's cohort_id is not the segment's id
    assert r.status_code == 404


def test_other_methods_and_paths(sg):
    emu, api = sg
    r = api.segments(method="POST")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"
    assert api.segments_error(r)["code"] == "405 Method Not Allowed"
    assert api.segments("x", method="DELETE").status_code == 405
    r = api.session.get(emu.segments_endpoint + "/a/b", timeout=5)
    assert r.status_code == 404  # not a route at all
    assert emu.request_log() == []  # neither is logged


# --- 401, 403 -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"authorization": None},
        {"authorization": "Basic !!"},
        {"key": "wrong"},
        {"ws": "NOPE"},
        {"appkey": None},
        {"appkey": "OTHER"},
    ],
)
def test_401(sg, kwargs):
    emu, api = sg
    r = api.segments(**kwargs)
    assert r.status_code == 401
    assert api.segments_error(r) == {
        "code": "401 Unauthorized",
        "message": "Authentication required",
    }
    assert "x-ratelimit-limit" not in r.headers
    assert KEY not in r.text
    assert emu.request_log()[-1]["authenticated"] is False
    assert api.segments().headers["x-ratelimit-remaining"] == "49"  # 401s did not count


def test_403_suspended(sg):
    emu, api = sg
    emu.add_workspace("S", KEY, ["u1"], suspended="BlockedClient")
    r = api.segments()
    assert r.status_code == 403
    assert api.segments_error(r)["code"] == "403 Forbidden"


def test_lookups_disabled_does_not_touch_segments(sg):
    emu, api = sg
    emu.add_workspace("S", KEY, ["u1"], lookups=False)
    assert api.segments().status_code == 200


# --- rate limits ----------------------------------------------------------------------------
def test_list_minute_limit(sg, clock):
    _, api = sg
    for _ in range(50):
        r = api.segments()
        assert r.status_code == 200
    assert _rate(r) == ("50", "0", "60")
    clock.advance(59.5)
    r = api.segments()
    assert r.status_code == 429
    assert api.segments_error(r) == {
        "code": "429 Too Many Requests",
        "message": "Too Many Requests",
    }
    assert _rate(r) == ("50", "0", "1")
    assert "Retry-After" not in r.headers
    clock.advance(0.5)
    assert _rate(api.segments()) == ("50", "49", "60")


def _minutes(api, clock, minutes: int) -> None:
    """50 list requests a minute (all 200) for ``minutes`` minutes."""
    for _ in range(minutes):
        for _ in range(50):
            assert api.segments().status_code == 200
        clock.advance(60)


def test_list_hour_limit(sg, clock):
    _, api = sg
    _minutes(api, clock, 4)  # 200 requests in 4 minutes
    r = api.segments()
    assert r.status_code == 429
    assert _rate(r) == ("200", "0", "3360")  # the hour window decides: 56 minutes left
    clock.advance(3360)
    assert _rate(api.segments()) == ("50", "49", "60")


def test_list_day_limit(sg, clock):
    _, api = sg
    for _ in range(5):  # 200 requests an hour for five hours
        _minutes(api, clock, 4)
        clock.advance(3600 - 240)
    r = api.segments()
    assert r.status_code == 429
    assert _rate(r) == ("1000", "0", str(86400 - 5 * 3600))
    clock.advance(86400 - 5 * 3600)
    assert api.segments().status_code == 200


def test_get_by_id_minute_limit_and_separate_windows(sg):
    _, api = sg
    for _ in range(100):
        assert api.segments("nope").status_code == 404
    r = api.segments("nope")
    assert (r.status_code, *_rate(r)) == (429, "100", "0", "60")
    assert api.segments().status_code == 200  # the list has its own windows


@pytest.fixture
def get_by_id(clock):
    """A state without a server: the get-by-id pipeline called directly (thousands of
    requests stay quick). Returns a function answering ``(status, headers)``."""
    state = EmulatorState(clock=clock)
    state.add_workspace("S", KEY, ["u1"])
    auth = "Basic " + base64.b64encode(f"S:{KEY}".encode()).decode()

    def get() -> tuple[int, dict[str, str]]:
        out = handle_segments(state, segment_id="x", query="", authorization=auth, appkey="S")
        return out.status, dict(out.headers)

    return get


def _hour(get, clock) -> list[int]:
    """100 get-by-id requests a minute for ten minutes: 1,000, the hour's limit."""
    statuses = []
    for _ in range(10):
        statuses += [get()[0] for _ in range(100)]
        clock.advance(60)
    return statuses


def test_get_by_id_hour_limit(get_by_id, clock):
    assert set(_hour(get_by_id, clock)) == {404}
    status, headers = get_by_id()
    assert status == 429
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("1000", "0")
    assert headers["x-ratelimit-reset"] == str(3600 - 600)


def test_get_by_id_day_limit(get_by_id, clock):
    for _ in range(4):
        assert set(_hour(get_by_id, clock)) == {404}
        clock.advance(3600 - 600)
    status, headers = get_by_id()
    assert status == 429
    assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]) == ("4000", "0")
    assert headers["x-ratelimit-reset"] == str(86400 - 4 * 3600)


def test_rate_limit_off(make_api):
    with Emulator(rate_limit=False) as emu:
        emu.add_workspace("S", KEY, ["u1"])
        api = make_api(emu, "S", KEY)
        for _ in range(60):
            r = api.segments()
            assert r.status_code == 200
        assert "x-ratelimit-limit" not in r.headers


def test_faults_apply(sg):
    emu, api = sg
    emu.set_faults(error_500=1.0)
    r = api.segments()
    assert r.status_code == 500
    assert api.segments_error(r) == {
        "code": "500 Internal Server Error",
        "message": "Internal Server Error",
    }
    emu.set_faults(drop_before=1.0)
    with pytest.raises(requests.ConnectionError):
        api.segments()
    assert emu.request_log()[-1]["fault"] == "drop_before"


def test_log_entries(sg):
    emu, api = sg
    emu.add_segment("S", "VIP")
    api.segments(name="VIP")
    api.segments("nope")
    first, second = emu.request_log(endpoint="custom_segments")
    assert (first["format"], first["name"], first["results"], first["status"]) == (
        "list",
        "VIP",
        1,
        200,
    )
    assert (second["format"], second["segment_id"], second["status"]) == ("get", "nope", 404)
    assert second["error_type"] == "Entity Not Found"


# --- dashboard segments and cohort sync -----------------------------------------------------
def test_cohort_sync_refuses_a_dashboard_segments_name(sg):
    emu, api = sg
    emu.add_segment("S", "VIP")
    r = api.add("c1", ["u1"], name="VIP")
    assert r.status_code == 400
    err = api.error_of(r)
    assert err["type"] == "InvalidAttributeError"
    assert err["attribute"] == "cohort_name"
    assert "not created by cohort sync" in err["message"]
    assert emu.cohorts("S") == []
    r = api.segment("s1", add=["u1"], name="VIP")
    assert api.error_of(r)["attribute"] == "moengage_sync_name"
    # an existing cohort cannot take the name either
    assert api.add("c2", ["u1"], name="Other").ok
    assert api.add("c2", ["u2"], name="VIP").status_code == 400
    assert emu.cohort_members("S", "c2") == {"u1"}
    # other names are fine; the name match is exact
    assert api.add("c3", ["u1"], name="vip").ok


def test_one_cap_for_segments_of_all_kinds(make_api):
    with Emulator(max_cohorts=3) as emu:
        emu.add_workspace("S", KEY, ["u1"])
        api = make_api(emu, "S", KEY)
        emu.add_segment("S", "Dash")
        assert api.add("c1", ["u1"]).ok
        assert api.add("c2", ["u1"]).ok
        r = api.add("c3", ["u1"])
        assert r.status_code == 400
        err = api.error_of(r)
        assert err["type"] == "LimitExceededError"
        assert "3 active segments" in err["message"]
        with pytest.raises(ValueError, match="Total active segments limit breached"):
            emu.add_segment("S", "Another")
        assert api.add("c1", ["u1"]).ok  # existing cohorts can still be updated


def test_add_segment_checks():
    with Emulator() as emu:
        emu.add_workspace("S", KEY, ["u1"])
        emu.add_segment("S", "A", id="id-a")
        with pytest.raises(ValueError, match="named"):
            emu.add_segment("S", "A")
        with pytest.raises(ValueError, match="segment id"):
            emu.add_segment("S", "B", id="id-a")
        with pytest.raises(ValueError, match="source"):
            emu.add_segment("S", "B", source="SOMEWHERE")
        with pytest.raises(ValueError):
            emu.add_segment("S", "")
        with pytest.raises(ValueError, match="ISO"):
            emu.add_segment("S", "B", created_time="yesterday")
        with pytest.raises(KeyError):
            emu.add_segment("NOPE", "B")
        made = emu.add_segment("S", "B", created_time="2022-12-01T14:17:46.409+01:00")
        assert made["created_time"] == "2022-12-01T13:17:46.409000"
        zulu = emu.add_segment("S", "Z", created_time="2022-12-01T13:17:46Z")
        assert zulu["created_time"] == "2022-12-01T13:17:46.000000"
        assert made["type"] == "ELASTIC_SEARCH"
        assert emu.add_segment("S", "C", type="CUSTOM")["type"] == "CUSTOM"
        # derived ids: stable for a workspace and a name
        with Emulator() as other:
            other.add_workspace("S", KEY)
            assert other.add_segment("S", "A")["id"] != "id-a"
            assert other.add_segment("S", "B")["id"] == made["id"]


def test_oldest_first(sg):
    emu, api = sg
    emu.add_segment("S", "Old", created_time="2020-01-01T00:00:00")
    api.add("c1", ["u1"], name="Now")
    emu.add_segment("S", "Older", created_time="2019-06-01T00:00:00")
    assert [s["name"] for s in emu.segments("S")] == ["Older", "Old", "Now"]


def test_reset_clears_segments(sg):
    emu, api = sg
    emu.add_segment("S", "VIP")
    api.add("c1", ["u1"])
    emu.reset()
    assert emu.segments("S") == []
    assert emu.workspaces()[0]["segments"] == 0
    assert api.add("c1", ["u1"], name="VIP").ok  # the conflict went with the segment
