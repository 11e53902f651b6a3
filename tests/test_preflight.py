"""preflight and the segments list: what is checked before a push, the name already taken,
and the segments list's minute, hour and day limits counted before sending."""

from __future__ import annotations

import logging

import pytest
import requests
from lookup_helpers import B64, KEY, WS, fake_emulator
from support import FakeClock

import moecohort as mc
from moecohort.lookup import SegmentsBudget, find_segments

USERS = [f"u{i}" for i in range(0, 1000, 2)]  # 500 users
DATA = [f"u{i}" for i in range(1000)]  # half of them users


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock):
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, USERS)
        yield emulator


@pytest.fixture
def app(emu) -> mc.AppCredentials:
    return mc.AppCredentials(WS, KEY, base_url=emu.url)


@pytest.fixture
def budget(clock) -> SegmentsBudget:
    return SegmentsBudget(clock=clock)


def endpoints(emulator) -> list[str]:
    return [e["endpoint"] for e in emulator.request_log()]


def test_a_clear_path(emu, app, clock, budget):
    report = mc.preflight(
        app, "Fresh name", data=DATA, budget=budget, clock=clock, seed=1, progress=False
    )
    assert report.ok and report.connection is not None and report.connection.ok
    assert report.segments is not None and report.segments.checked and len(report.segments) == 0
    assert report.presence is not None and report.presence.n_checked == 400
    assert report.presence.low <= 0.5 <= report.presence.high
    assert report.calls == {"cohort sync": 1, "segments list": 1, "get user": 20}
    (warning,) = report.warnings  # half the users are unknown to the destination
    assert "expected to land" in warning and "keep_in_destination" in warning
    assert emu.cohorts(WS) == [] and emu.segments(WS) == []  # nothing was created
    assert "ready, with 1 warning(s)" in repr(report)


def test_a_name_taken_by_a_dashboard_segment(emu, app, budget):
    emu.add_segment(WS, "Taken", source="DASHBOARD", created_time="2024-05-01T10:00:00")
    report = mc.preflight(app, "Taken", budget=budget, progress=False)
    assert report.ok  # the push would be sent; whether it can update the segment is unknown
    (segment,) = report.segments.segments
    assert (segment["name"], segment["type"], segment["source"]) == (
        "Taken",
        "ELASTIC_SEARCH",
        "DASHBOARD",
    )
    (warning,) = report.warnings
    assert "already taken by a segment" in warning
    assert (
        "'DASHBOARD'" in warning and "2024-05-01T10:00:00" in warning and segment["id"] in warning
    )
    assert "cannot update segments made on the dashboard or with the File Segment API" in warning
    assert "segment 1" in repr(report) and "&#x27;DASHBOARD&#x27;" in report._repr_html_()


def test_a_name_taken_by_a_cohort_is_reported_as_the_api_describes_it(emu, app, budget):
    mc.push_cohort(["u0"], app, "Pushed before", progress=False).raise_for_status()
    report = mc.preflight(app, "Pushed before", budget=budget, progress=False)
    (segment,) = report.segments.segments
    (warning,) = report.warnings
    # whatever the API calls a cohort-sync cohort is shown, not interpreted
    assert f"type {segment['type']!r}" in warning and f"source {segment['source']!r}" in warning
    assert "cannot tell which this one is" in warning


def test_an_invalid_name_is_a_problem_and_spares_the_segments_list(emu, app, budget):
    report = mc.preflight(app, "Bad: name", budget=budget, progress=False)
    assert not report.ok and report.suggestion == "Bad name"
    assert "Try 'Bad name'" in report.problems[0]
    assert "custom_segments" not in endpoints(emu)


def test_rejected_credentials_stop_the_checks(emu, budget):
    bad = mc.AppCredentials(WS, "not-the-key-0000", base_url=emu.url)
    report = mc.preflight(bad, "Name", data=DATA, budget=budget, progress=False)
    assert not report.ok and "credentials rejected" in report.problems[0]
    assert endpoints(emu) == ["cohortsync"]  # one request, nothing else tried
    assert "not ready" in report.headline


def test_a_workspace_without_the_get_user_api(emu, clock, budget):
    emu.add_workspace("NOLOOKUP", KEY, USERS, lookups=False)
    app = mc.AppCredentials("NOLOOKUP", KEY, base_url=emu.url)
    report = mc.preflight(app, "Name", data=DATA, budget=budget, clock=clock, progress=False)
    assert report.ok and report.presence is None
    (warning,) = report.warnings
    assert "MoEngage enables the Get User API per workspace on request" in warning
    assert report.calls["get user"] == 1


# --------------------------------------------------------------------------- the segments budget
def test_the_minute_limit_is_counted_before_sending(emu, app, clock, budget):
    for _ in range(50):
        assert find_segments(app, "X", budget=budget).checked
    refused = find_segments(app, "X", budget=budget)
    assert not refused.checked and refused.calls == 0
    assert "minute" in refused.note and "try again in 60 s" in refused.note
    assert "the segments list allows 50 a minute, 200 an hour, 1,000 a day" in refused.note
    assert endpoints(emu).count("custom_segments") == 50
    clock.advance(60)
    assert find_segments(app, "X", budget=budget).checked


def test_the_hour_limit(emu, app, clock, budget):
    for _ in range(200):
        assert find_segments(app, None, budget=budget).checked
        clock.advance(2)  # 30 a minute: the minute never binds
    refused = find_segments(app, None, budget=budget)
    assert not refused.checked and "hour" in refused.note
    assert [e["status"] for e in emu.request_log(endpoint="custom_segments")] == [200] * 200


def test_the_day_limit(clock):
    budget = SegmentsBudget(clock=clock)
    key = ("https://api-01.moengage.com", "WS")
    for _hour in range(5):
        for _ in range(200):
            assert budget.left(key)[0] > 0
            budget.record(key, 1)
            clock.advance(18)  # 200 an hour, 3.3 a minute
    left, window, wait = budget.left(key)
    assert (left, window) == (0, "day") and 0 < wait <= 86400
    clock.advance(wait)
    assert budget.left(key)[0] > 0
    assert budget.left(("https://api-01.moengage.com", "OTHER"))[0] == 50  # per workspace


def test_the_servers_word_is_kept(emu, app, clock, budget):
    # Another client used the minute's calls: the server refuses, and the budget holds.
    for _ in range(50):
        requests.get(
            emu.url + "/v3/custom-segments",
            auth=(WS, KEY),
            headers={"MOE-APPKEY": WS},
            timeout=10,
        )
    refused = find_segments(app, "X", budget=budget)
    assert not refused.checked and refused.calls == 1  # a 429 is not retried
    assert refused.error is not None and refused.error.status == 429
    assert "Too Many Requests" in refused.note
    again = find_segments(app, "X", budget=budget)
    assert again.calls == 0 and "the server asked to wait" in again.note
    clock.advance(61)
    assert find_segments(app, "X", budget=budget).checked


def test_an_exact_name_is_sent_encoded(emu, app, budget):
    emu.add_segment(WS, "Buyers & friends / 2024 ü")
    emu.add_segment(WS, "Buyers")
    found = find_segments(app, "Buyers & friends / 2024 ü", budget=budget)
    assert [s["name"] for s in found.segments] == ["Buyers & friends / 2024 ü"]
    assert len(find_segments(app, None, budget=budget)) == 2


def test_wrong_key_on_the_segments_list(emu, budget):
    bad = mc.AppCredentials(WS, "not-the-key-0000", base_url=emu.url)
    found = find_segments(bad, "X", budget=budget)
    assert not found.checked and found.error is not None and found.error.status == 401
    assert "Authentication required" in found.note


def test_the_key_never_shows(emu, app, clock, budget, caplog):
    caplog.set_level(logging.DEBUG, logger="moecohort")
    emu.add_segment(WS, "Taken")
    report = mc.preflight(app, "Taken", data=DATA, budget=budget, clock=clock, progress=False)
    bad = mc.preflight(mc.AppCredentials(WS, KEY + "x", base_url=emu.url), "Taken", budget=budget)
    texts = [repr(report), report._repr_html_(), repr(bad), bad._repr_html_(), caplog.text]
    texts += [repr(report.segments), report.segments._repr_html_()]
    for text in texts:
        assert KEY not in text and B64 not in text


def test_reports_as_json_for_the_command_line(emu, app, clock, budget):
    import json

    emu.add_segment(WS, "Taken")
    report = mc.preflight(
        app, "Taken", data=DATA, budget=budget, clock=clock, seed=1, progress=False
    )  # a seeded sample: an unseeded 95 % interval misses the truth once in twenty runs
    data = json.loads(json.dumps(report.as_dict()))
    assert data["ok"] is True and data["credentials_ok"] is True
    assert data["segments"][0]["name"] == "Taken" and len(data["warnings"]) == 2
    presence = data["presence"]
    assert presence["n_checked"] == 400 and presence["low"] <= 0.5 <= presence["high"]
    assert presence["expected_low"] <= 500 <= presence["expected_high"]
    lookup = mc.lookup_users(["u0", "u1", None], app, clock=clock, progress=False)
    assert json.loads(json.dumps(lookup.as_dict())) | {"elapsed_s": 0} == {
        "ok": True,
        "workspace_id": WS,
        "input_rows": 3,
        "found": 1,
        "not_found": 1,
        "failed": 0,
        "skipped_anonymous": 1,
        "skipped_duplicates": 0,
        "requests": 1,
        "batches": 1,
        "retries": 0,
        "elapsed_s": 0,
        "stopped_by": None,
    }
    for text in (json.dumps(report.as_dict()), json.dumps(lookup.as_dict())):
        assert KEY not in text and B64 not in text
