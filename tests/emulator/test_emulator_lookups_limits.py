"""The Get User API's limits and faults: 1,000 users a minute (counted per identifier, a
request that does not fit refused whole), the overrides, and injected faults."""

from __future__ import annotations

import pytest
import requests

from moecohort.emulator import Emulator, Faults

KEY = "lookup-key-000000"
USERS = {"u1": {"first_name": "Ana"}, "u2": None}


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


# --- 429: 1,000 users a minute ----------------------------------------------------------------
def test_one_thousand_users_a_minute(lk, clock):
    emu, api = lk
    batch = [f"x{i}" for i in range(20)]
    for _ in range(50):
        r = api.lookup(batch)
        assert r.status_code == 200
        clock.advance(0.5)
    assert _rate(r) == ("1000", "0", "36")  # 49 * 0.5 s gone: 35.5 s left, rounded up
    r = api.lookup(["u1"])
    assert r.status_code == 429
    err = api.error_of(r)
    assert (err["type"], err["message"], err["attribute"]) == (
        "RateLimitError",
        "Rate limit exceeded",
        None,
    )
    assert _rate(r) == ("1000", "0", "35")
    assert "Retry-After" not in r.headers
    clock.advance(35.0)  # the window opened by the first request ends
    r = api.lookup(batch)
    assert (r.status_code, *_rate(r)) == (200, "1000", "980", "60")
    assert emu.request_log(endpoint="get_user")[-2]["status"] == 429


def test_a_request_that_does_not_fit_is_refused_whole(make_api, clock):
    with Emulator(clock=clock) as emu:
        emu.add_workspace("L", KEY, USERS, lookups_per_minute=45)
        api = make_api(emu, "L", KEY)
        assert api.lookup(["u1"] * 20).headers["x-ratelimit-remaining"] == "25"
        assert api.lookup(["u1"] * 20).headers["x-ratelimit-remaining"] == "5"
        r = api.lookup(["u1"] * 20)
        assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (429, "5")
        r = api.lookup(["u1"] * 6)
        assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (429, "5")
        r = api.lookup(["u1", "nobody", "u1", "x", "y"])  # exactly what is left
        assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (200, "0")
        assert api.lookup(["u1"]).status_code == 429
        assert _rate(api.lookup(raw=b"{")) == ("45", "0", "60")  # headers on a 400 too


def test_lookups_and_cohort_sync_have_separate_windows(lk):
    _, api = lk
    assert api.add("c1", ["u1"]).headers["x-ratelimit-remaining"] == "299"
    assert api.lookup(["u1"] * 20).headers["x-ratelimit-remaining"] == "980"
    assert api.add("c1", ["u1"]).headers["x-ratelimit-remaining"] == "298"


def test_windows_are_per_workspace(lk):
    emu, api = lk
    emu.add_workspace("L2", KEY, USERS, lookups_per_minute=20)
    assert api.lookup(["u1"] * 20).headers["x-ratelimit-remaining"] == "980"
    r = api.lookup(["u1"] * 20, ws="L2")
    assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (200, "0")
    assert api.lookup(["u1"], ws="L2").status_code == 429


def test_reset_clears_the_window(lk):
    emu, api = lk
    api.lookup(["u1"] * 20)
    emu.reset()
    assert api.lookup(["u1"]).headers["x-ratelimit-remaining"] == "999"


def test_rate_limit_off_and_the_faults_override(make_api):
    with Emulator(rate_limit=False) as emu:
        emu.add_workspace("L", KEY, USERS, lookups_per_minute=1)
        api = make_api(emu, "L", KEY)
        for _ in range(3):
            r = api.lookup(["u1"] * 20)
            assert r.status_code == 200
            assert "x-ratelimit-limit" not in r.headers
        emu.reset()  # the window counted those 60 users all the same
        emu.set_faults(lookups_per_minute=30)  # overrides even with rate_limit=False
        assert _rate(api.lookup(["u1"] * 20)) == ("30", "10", "60")
        assert api.lookup(["u1"] * 11).status_code == 429


def test_workspace_without_a_lookup_limit(make_api):
    with Emulator() as emu:
        emu.add_workspace("L", KEY, USERS, lookups_per_minute=None)
        api = make_api(emu, "L", KEY)
        for _ in range(60):
            r = api.lookup(["u1"] * 20)
            assert r.status_code == 200
        assert "x-ratelimit-limit" not in r.headers


def test_retry_after_on_a_real_429(make_api):
    with Emulator(faults=Faults(retry_after=4)) as emu:
        emu.add_workspace("L", KEY, USERS, lookups_per_minute=20)
        api = make_api(emu, "L", KEY)
        assert "Retry-After" not in api.lookup(["u1"] * 20).headers
        assert api.lookup(["u1"]).headers["Retry-After"] == "4"


# --- faults ---------------------------------------------------------------------------------
def test_injected_500_and_429(lk):
    emu, api = lk
    emu.set_faults(error_500=1.0, retry_after=2)
    r = api.lookup(["u1"] * 20)
    assert r.status_code == 500
    assert api.error_of(r)["type"] == "ServerError"
    assert r.headers["Retry-After"] == "2"
    assert r.headers["x-ratelimit-remaining"] == "1000"  # nothing counted
    emu.set_faults(rate_429=1.0)
    r = api.lookup(["u1"])
    assert r.status_code == 429
    assert api.error_of(r)["type"] == "RateLimitError"
    assert emu.request_log()[-1]["fault"] == "rate_429"


def test_drops(lk):
    emu, api = lk
    emu.set_faults(drop_before=1.0)
    with pytest.raises(requests.ConnectionError):
        api.lookup(["u1"])
    entry = emu.request_log()[-1]
    assert (entry["status"], entry["fault"]) == (None, "drop_before")
    emu.set_faults(drop_after=1.0)
    with pytest.raises(requests.ConnectionError):
        api.lookup(["u1"] * 20)
    entry = emu.request_log()[-1]
    assert (entry["status"], entry["fault"], entry["found"]) == (200, "drop_after", 1)
    emu.set_faults()
    assert api.lookup(["u1"]).headers["x-ratelimit-remaining"] == "979"  # the drop counted


def test_faults_draw_one_sequence_across_endpoints(make_api):
    def run() -> list[int | str]:
        faults = Faults(error_500=0.3, rate_429=0.2, drop_before=0.1)
        with Emulator(seed=21, faults=faults, rate_limit=False) as emu:
            emu.add_workspace("L", KEY, USERS)
            api = make_api(emu, "L", KEY)
            out: list[int | str] = []
            for i in range(30):
                try:
                    r = api.lookup(["u1"]) if i % 2 else api.add("c", ["u1"])
                    out.append(r.status_code)
                except requests.ConnectionError:
                    out.append("dropped")
            return out

    first = run()
    assert first == run()
    assert {200, 500, 429, "dropped"} <= set(first)
