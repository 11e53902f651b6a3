"""Rate limiting: fixed 60 s windows per workspace, headers, and switching it off."""

from __future__ import annotations

import pytest

from moecohort.emulator import Emulator

KEY = "rate-key-00000000"


@pytest.fixture
def limited(make_api, clock):
    with Emulator(clock=clock) as emu:
        emu.add_workspace("R", KEY, ["u1"], requests_per_minute=3)
        api = make_api(emu, "R", KEY)
        yield emu, api


def _rate(r):
    return (
        r.headers["x-ratelimit-limit"],
        r.headers["x-ratelimit-remaining"],
        r.headers["x-ratelimit-reset"],
    )


def test_window_and_headers(limited, clock):
    emu, api = limited
    assert _rate(api.add("c", ["u1"])) == ("3", "2", "60")
    clock.advance(10.25)
    assert _rate(api.add("c", ["u1"])) == ("3", "1", "50")  # 49.75 rounded up
    clock.advance(0.25)
    r = api.add("c", ["u1"])
    assert (r.status_code, *_rate(r)) == (200, "3", "0", "50")
    clock.advance(1)
    r = api.add("c", ["u1"])
    assert r.status_code == 429
    err = api.error_of(r)
    assert err["type"] == "Rate Limits Exceeded"
    assert err["message"] == "Rate limits for customers exceeded. Please Try After Some Time"
    assert _rate(r) == ("3", "0", "49")  # never negative
    assert "Retry-After" not in r.headers
    # the rejected request was not applied
    assert emu.request_log()[-1]["status"] == 429
    # the window ends 60 s after its first request; the next one starts a new window
    clock.advance(48.0)  # t = 59.5: still the same window
    r = api.add("c", ["u2"])
    assert (r.status_code, *_rate(r)) == (429, "3", "0", "1")
    clock.advance(0.5)  # t = 60.0
    r = api.add("c", ["u2"])
    assert (r.status_code, *_rate(r)) == (200, "3", "2", "60")


def test_every_authenticated_request_counts(limited):
    _, api = limited
    assert api.post(raw=b"{").status_code == 400
    assert api.post(raw=b"{}", content_type="text/plain").status_code == 415
    r = api.add("c", ["u1"])
    assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (200, "0")
    assert api.add("c", ["u1"]).status_code == 429
    assert api.add("c", ["u1"]).status_code == 429  # 429s count too


def test_unauthenticated_requests_do_not_count(limited):
    _, api = limited
    for _ in range(5):
        r = api.post(api.partner_body("add_members", "c", ["u1"]), key="wrong")
        assert r.status_code == 401
        assert "x-ratelimit-limit" not in r.headers
    assert api.add("c", ["u1"]).headers["x-ratelimit-remaining"] == "2"


def test_windows_are_per_workspace(limited):
    emu, api = limited
    emu.add_workspace("R2", KEY, ["u1"], requests_per_minute=1)
    for _ in range(3):
        assert api.add("c", ["u1"]).ok
    r = api.post(api.partner_body("add_members", "c", ["u1"]), ws="R2")
    assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (200, "0")


def test_reset_clears_rate_windows(limited):
    emu, api = limited
    for _ in range(4):
        api.add("c", ["u1"])
    emu.reset()
    assert api.add("c", ["u1"]).headers["x-ratelimit-remaining"] == "2"


def test_default_limit_is_300(api):
    assert api.add("c", ["u1"]).headers["x-ratelimit-limit"] == "300"


def test_rate_limit_off(make_api):
    with Emulator(rate_limit=False) as emu:
        emu.add_workspace("W", KEY, ["u1"], requests_per_minute=1)
        api = make_api(emu, "W", KEY)
        for _ in range(5):
            r = api.add("c", ["u1"])
            assert r.status_code == 200
            assert "x-ratelimit-limit" not in r.headers


def test_workspace_without_limit(make_api):
    with Emulator() as emu:
        emu.add_workspace("W", KEY, ["u1"], requests_per_minute=None)
        api = make_api(emu, "W", KEY)
        assert all(api.add("c", ["u1"]).ok for _ in range(3))


def test_faults_override_the_limit(limited):
    emu, api = limited
    emu.set_faults(requests_per_minute=1)
    r = api.add("c", ["u1"])
    assert r.headers["x-ratelimit-limit"] == "1"
    r = api.add("c", ["u1"])
    assert r.status_code == 429


def test_retry_after_on_real_429(limited):
    emu, api = limited
    emu.set_faults(retry_after=7)
    for _ in range(3):
        r = api.add("c", ["u1"])
        assert "Retry-After" not in r.headers
    assert api.add("c", ["u1"]).headers["Retry-After"] == "7"
