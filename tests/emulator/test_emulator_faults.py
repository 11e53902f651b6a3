"""Fault injection: determinism under a seed, drops, injected errors, latency."""

from __future__ import annotations

import time

import pytest
import requests

from moecohort.emulator import Emulator, Faults

KEY = "fault-key-0000000"
MIXED = Faults(error_500=0.2, rate_429=0.15, drop_before=0.1, drop_after=0.1)


def _outcomes(make_api, seed: int | None, n: int = 40, faults: Faults = MIXED) -> list[str]:
    with Emulator(seed=seed, faults=faults, rate_limit=False) as emu:
        emu.add_workspace("F", KEY, ["u1"])
        api = make_api(emu, "F", KEY)
        return _run(api, n)


def _run(api, n: int) -> list[str]:
    out = []
    for i in range(n):
        try:
            out.append(str(api.add(f"c{i}", ["u1"]).status_code))
        except requests.ConnectionError:
            out.append("dropped")
    return out


def test_same_seed_same_sequence(make_api):
    first = _outcomes(make_api, seed=11)
    second = _outcomes(make_api, seed=11)
    assert first == second
    assert {"200", "500", "429", "dropped"} <= set(first)


def test_different_seed_different_sequence(make_api):
    assert _outcomes(make_api, seed=11) != _outcomes(make_api, seed=12)


def test_reset_replays_the_sequence(make_api):
    with Emulator(seed=5, faults=MIXED) as emu:
        emu.add_workspace("F", KEY, ["u1"])
        api = make_api(emu, "F", KEY)
        first = _run(api, 30)
        emu.reset()
        assert _run(api, 30) == first


def test_log_matches_outcomes(make_api):
    with Emulator(seed=3, faults=MIXED) as emu:
        emu.add_workspace("F", KEY, ["u1"])
        api = make_api(emu, "F", KEY)
        outcomes = _run(api, 30)
        log = emu.request_log()
    assert len(log) == 30
    for seen, entry in zip(outcomes, log, strict=True):
        if entry["fault"] in ("drop_before", "drop_after"):
            assert seen == "dropped"
        else:
            assert seen == str(entry["status"])
        if entry["fault"] == "drop_before":
            assert entry["status"] is None
        if entry["fault"] == "error_500":
            assert entry["status"] == 500


def test_drop_before_applies_nothing(api, emu):
    emu.set_faults(drop_before=1.0)
    with pytest.raises(requests.ConnectionError):
        api.add("c1", ["u1"])
    assert emu.cohorts(api.ws) == []
    entry = emu.request_log()[-1]
    assert (entry["status"], entry["fault"]) == (None, "drop_before")
    emu.set_faults()  # cleared: the same session reconnects and works
    assert api.add("c1", ["u1"]).ok


def test_drop_after_applies_then_closes(api, emu):
    emu.set_faults(drop_after=1.0)
    with pytest.raises(requests.ConnectionError):
        api.add("c1", ["u1", "u2"])
    assert emu.cohort_members(api.ws, "c1") == {"u1", "u2"}
    entry = emu.request_log()[-1]
    assert (entry["status"], entry["fault"]) == (200, "drop_after")


def test_drop_after_on_an_invalid_request(api, emu):
    emu.set_faults(drop_after=1.0)
    with pytest.raises(requests.ConnectionError):
        api.post(raw=b"{")
    assert emu.request_log()[-1]["status"] == 400


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (2, "2"), (0.5, "0.5")])
def test_injected_500(api, emu, retry_after, header):
    emu.set_faults(error_500=1.0, retry_after=retry_after)
    r = api.add("c1", ["u1"])
    assert r.status_code == 500
    err = api.error_of(r)
    assert err["type"] == "Server Error"
    assert r.headers.get("Retry-After") == header
    assert r.headers["x-ratelimit-limit"] == "300"
    assert emu.cohorts(api.ws) == []


def test_injected_429(api, emu):
    emu.set_faults(rate_429=1.0, retry_after=1)
    r = api.add("c1", ["u1"])
    assert r.status_code == 429
    assert api.error_of(r)["type"] == "Rate Limits Exceeded"
    assert r.headers["Retry-After"] == "1"
    assert emu.cohorts(api.ws) == []
    assert emu.request_log()[-1]["fault"] == "rate_429"


def test_latency(api, emu):
    emu.set_faults(latency_s=0.15, latency_jitter_s=0.05)
    t0 = time.perf_counter()
    assert api.add("c1", ["u1"]).ok
    assert time.perf_counter() - t0 >= 0.15  # never sooner (later on a busy machine: fine)


def test_faults_skip_401_and_403(api, emu):
    emu.set_faults(error_500=1.0, drop_before=1.0)
    r = api.post(api.partner_body("add_members", "c1", ["u1"]), key="wrong")
    assert r.status_code == 401
    emu.add_workspace(api.ws, api.key, api.users, suspended=True)
    assert api.add("c1", ["u1"]).status_code == 403


def test_unauthenticated_requests_do_not_consume_the_rng(make_api):
    def run(extra_401s: int) -> list[str]:
        with Emulator(seed=9, faults=Faults(error_500=0.5)) as emu:
            emu.add_workspace("F", KEY, ["u1"])
            api = make_api(emu, "F", KEY)
            out = []
            for i in range(12):
                if i < extra_401s:
                    api.post(api.partner_body("add_members", "c", ["u1"]), key="bad")
                out.append(api.add("c", ["u1"]).status_code)
            return out

    assert run(0) == run(5)


def test_faults_validation():
    with pytest.raises(ValueError):
        Faults(error_500=1.5)
    with pytest.raises(ValueError):
        Faults(latency_s=-1)
    with pytest.raises(ValueError):
        Faults(requests_per_minute=0)
    with pytest.raises(ValueError):
        Faults(retry_after=-2)
    with pytest.raises(ValueError, match="unknown"):
        Faults.from_dict({"error500": 0.1})
    assert not Faults().active
    assert Faults(latency_s=0.1).active
    assert Faults.from_dict(Faults(error_500=0.5).to_dict()) == Faults(error_500=0.5)


def test_set_faults_forms(emu):
    assert emu.set_faults(error_500=0.5) == Faults(error_500=0.5)
    assert emu.set_faults(Faults(rate_429=0.1), error_500=0.2) == Faults(
        rate_429=0.1, error_500=0.2
    )
    assert emu.faults == Faults(rate_429=0.1, error_500=0.2)
    assert emu.set_faults() == Faults()
