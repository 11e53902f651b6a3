"""Tests of moecohort.transport: the pacer (with a fake clock) and the HTTP transport
(with ``responses``: nothing leaves the process)."""

from __future__ import annotations

import base64
import email.utils
import itertools
import math
import random
import threading
import time

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from support import FakeClock, recording_pacer

from moecohort.credentials import AppCredentials
from moecohort.errors import ConfigurationError
from moecohort.transport import (
    DEFAULT_RETRY,
    NOT_SENT,
    RETRY_STATUSES,
    Pacer,
    RetryPolicy,
    Transport,
)

KEY = "secret-key-0123456789"
APP = AppCredentials("WS", KEY, "01")
URL = "https://api-01.moengage.com/v1/integrations/cohortsync"
FAIL = {
    "status": "fail",
    "error": {
        "attribute": "action",
        "message": "action is not found in the payload",
        "type": "MissingAttributeError",
        "request_id": "req-400",
    },
}


def max_in_window(starts: list[float], width: float) -> int:
    """Most starts in any half-open window [t, t + width)."""
    times = sorted(starts)
    best = j = 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def fake_pacer(rpm: float, clock: FakeClock) -> Pacer:
    return recording_pacer(rpm, clock=clock, sleep=clock.sleep)


# --------------------------------------------------------------------------- Pacer
@pytest.mark.parametrize("rpm", [300, 60, 90, 1000, 30, 7.5, 61, 299.5])
def test_pacer_windows_and_even_spacing(rpm):
    clock = FakeClock()
    pacer = fake_pacer(rpm, clock)
    n = int(min(3 * rpm + 5, 1200))
    starts = [pacer.acquire() for _ in range(n)]
    assert starts == pacer.starts
    assert starts == sorted(starts)
    assert max_in_window(starts, 60.0) <= rpm
    assert max_in_window(starts, 1.0) <= math.ceil(rpm / 60)
    interval = 60.0 / rpm
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # Evenly paced: no gap below the interval (no burst), and no drift.
    assert min(gaps) >= interval * (1 - 1e-9)
    if float(rpm).is_integer():
        assert max(gaps) <= interval * (1 + 1e-6) + 1e-9
    else:
        # A fractional rate rounds the 60 s window down (7.5 -> 7 per window), so a
        # longer gap closes each window; the long-run rate stays close to rpm.
        assert (starts[-1] - starts[0]) / (n - 1) <= interval * 8 / 7
    # Nothing waited for the very first start.
    assert starts[0] == 1000.0


@pytest.mark.parametrize("rpm", [300, 90, 1000])
def test_pacer_holds_windows_when_wakes_are_late(rpm):
    rng = random.Random(rpm)
    interval = 60.0 / rpm
    clock = FakeClock(late=lambda: rng.uniform(0, interval * 0.9))
    pacer = fake_pacer(rpm, clock)
    starts = [pacer.acquire() for _ in range(int(2.5 * rpm))]
    assert max_in_window(starts, 60.0) <= rpm
    assert max_in_window(starts, 1.0) <= math.ceil(rpm / 60)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= interval / 2 - 1e-9  # a late wake is made up by at most half a slot
    mean = (starts[-1] - starts[0]) / (len(starts) - 1)
    assert interval * (1 - 1e-9) <= mean <= interval * 1.5


def test_pacer_no_catch_up_burst_after_idle():
    clock = FakeClock()
    pacer = fake_pacer(300, clock)
    for _ in range(3):
        pacer.acquire()
    clock.advance(30.0)
    t_idle = clock.now
    later = [pacer.acquire() for _ in range(6)]
    assert later[0] == t_idle
    gaps = [b - a for a, b in itertools.pairwise(later)]
    assert all(g == pytest.approx(0.2) for g in gaps)


def test_pacer_pause_until_is_honoured():
    clock = FakeClock()
    pacer = fake_pacer(300, clock)
    t0 = pacer.acquire()
    pacer.pause_until(t0 + 5.0)
    t1 = pacer.acquire()
    assert t1 >= t0 + 5.0
    t2 = pacer.acquire()
    assert t2 - t1 == pytest.approx(0.2)
    # An earlier pause never shortens a longer one.
    pacer.pause_until(t2 + 10.0)
    pacer.pause_until(t2 + 1.0)
    assert pacer.acquire() >= t2 + 10.0
    # pause_for is relative to the clock.
    now = clock.now
    pacer.pause_for(3.0)
    assert pacer.acquire() >= now + 3.0
    pacer.pause_for(-4.0)  # ignored
    before = clock.now
    assert pacer.acquire() - before <= 0.2 + 1e-9


def test_pacer_pause_from_another_thread_while_waiting():
    # The pause is taken into account by a caller that is already waiting.
    clock = FakeClock()
    pacer = fake_pacer(60, clock)
    t0 = pacer.acquire()
    pacer.pause_until(t0 + 42.0)
    assert pacer.acquire() >= t0 + 42.0


def test_pacer_cancel_returns_none_without_taking_a_slot():
    clock = FakeClock()
    pacer = fake_pacer(60, clock)
    pacer.acquire()
    cancel = threading.Event()
    cancel.set()
    assert pacer.acquire(cancel) is None
    assert len(pacer.starts) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("rpm", [0, -5, None, 0.0])
def test_pacer_rejects_bad_rates(rpm):
    with pytest.raises(ConfigurationError):
        Pacer(rpm)


def test_pacer_threads_real_clock():
    # The one real-clock test: many threads share the pacer. Grants are at least half a
    # slot apart by construction, whatever the scheduler does.
    rpm = 12000  # 5 ms apart, at most 200 per second
    pacer = recording_pacer(rpm)

    def worker():
        for _ in range(6):
            pacer.acquire()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    starts = pacer.starts
    assert len(starts) == 36
    assert max_in_window(starts, 1.0) <= 200
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.0025


@settings(max_examples=60, deadline=None)
@given(
    rpm=st.one_of(st.integers(1, 2000), st.floats(1, 2000)),
    steps=st.lists(
        st.tuples(st.sampled_from(["go", "go", "go", "idle", "pause"]), st.floats(0, 90)),
        min_size=1,
        max_size=300,
    ),
    lateness=st.floats(0, 0.9),
    seed=st.integers(0, 1000),
)
def test_pacer_windows_hold_whatever_happens(rpm, steps, lateness, seed):
    rng = random.Random(seed)
    interval = 60.0 / rpm
    clock = FakeClock(late=lambda: rng.uniform(0, lateness * interval))
    pacer = fake_pacer(rpm, clock)
    pauses: list[float] = []
    for kind, amount in steps:
        if kind == "idle":
            clock.advance(amount)
        elif kind == "pause":
            pauses.append(clock.now + amount)
            pacer.pause_until(clock.now + amount)
        else:
            t = pacer.acquire()
            assert t is not None and t == clock.now
            assert all(t >= p for p in pauses)  # every pause so far is honoured
    starts = pacer.starts
    assert max_in_window(starts, 60.0) <= rpm
    assert max_in_window(starts, 1.0) <= math.ceil(rpm / 60)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g >= interval / 2 - 1e-9 for g in gaps)


# --------------------------------------------------------------------------- Transport
@pytest.fixture
def clock(monkeypatch):
    """A fake clock that also stands in for the transport's retry sleeps."""
    fc = FakeClock()
    monkeypatch.setattr("moecohort.transport.http.time.sleep", fc.sleep)
    return fc


def make(clock: FakeClock, **kw) -> Transport:
    kw.setdefault("pacer", fake_pacer(300, clock))
    kw.setdefault("rng", random.Random(7))
    kw.setdefault("sleep", clock.sleep)
    return Transport(APP, **kw)


def test_request_shape_segment_sync(rsps, clock):
    rsps.add(responses.POST, URL, json={"status": "success", "message": "ok"})
    body = b'{"type":"segment_sync"}'
    with make(clock) as t:
        reply = t.send(body)
    assert reply.ok and reply.status == 200 and reply.attempts == 1
    (call,) = rsps.calls
    req = call.request
    assert req.url == URL
    assert req.method == "POST"
    assert req.body == body
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["MOE-APPKEY"] == "WS"
    assert req.headers["MOE-DESTINATION-PARTNER"] == "moengage"
    expected = base64.b64encode(f"WS:{KEY}".encode()).decode()
    assert req.headers["Authorization"] == f"Basic {expected}"


def test_request_shape_cohort_sync_has_no_partner_header(rsps, clock):
    rsps.add(responses.POST, URL, json={"status": "success"})
    with make(clock, wire_format="cohort_sync") as t:
        assert t.send(b"{}").ok
    req = rsps.calls[0].request
    assert "MOE-DESTINATION-PARTNER" not in req.headers
    assert req.headers["MOE-APPKEY"] == "WS"


def test_data_center_host():
    assert Transport(AppCredentials("WS", KEY, "101")).url == (
        "https://api-101.moengage.com/v1/integrations/cohortsync"
    )
    assert Transport(APP).url == URL


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_retryable_statuses_are_retried(rsps, clock, status):
    assert {429, 500, 502, 503, 504} == RETRY_STATUSES
    rsps.add(responses.POST, URL, json={"status": "fail", "error": {"type": "x"}}, status=status)
    rsps.add(responses.POST, URL, json={"status": "success"})
    with make(clock) as t:
        reply = t.send(b"{}")
    assert reply.ok
    assert reply.attempts == 2
    assert len(rsps.calls) == 2
    assert t.stats.attempts == 2 and t.stats.retries == 1
    assert t.stats.statuses == {str(status): 1, "200": 1}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (requests.ConnectionError("connection reset"), "ConnectionError"),
        (requests.ReadTimeout("read timed out"), "Timeout"),
        (requests.ConnectTimeout("connect timed out"), "Timeout"),
    ],
)
def test_network_errors_are_retried(rsps, clock, exc, kind):
    rsps.add(responses.POST, URL, body=exc)
    rsps.add(responses.POST, URL, json={"status": "success"})
    with make(clock) as t:
        reply = t.send(b"{}")
    assert reply.ok and reply.attempts == 2
    assert t.stats.statuses[kind] == 1


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_retries_are_bounded(rsps, clock, max_retries):
    rsps.add(responses.POST, URL, body=requests.ConnectionError("down"))
    with make(clock, max_retries=max_retries) as t:
        reply = t.send(b"{}")
    assert not reply.ok
    assert reply.status is None
    assert reply.error_type == "ConnectionError"
    assert reply.message and "down" in reply.message
    assert reply.attempts == max_retries + 1
    assert len(rsps.calls) == max_retries + 1
    assert len(clock.sleeps) >= max_retries


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415])
def test_other_statuses_are_not_retried(rsps, clock, status):
    rsps.add(responses.POST, URL, json=FAIL, status=status)
    with make(clock) as t:
        reply = t.send(b"{}")
    assert len(rsps.calls) == 1
    assert reply.attempts == 1 and reply.status == status
    assert t.stats.retries == 0


def test_exponential_backoff_with_jitter(rsps, clock):
    rsps.add(responses.POST, URL, status=503, body="busy")
    policy = RetryPolicy(backoff_base_s=1.0, backoff_cap_s=8.0)
    with make(clock, max_retries=6, retry=policy, pacer=fake_pacer(60000, clock)) as t:
        assert t.retry.backoff_base_s == 1.0  # the policy given is the one used
        reply = t.send(b"{}")
    assert reply.status == 503 and reply.attempts == 7
    assert reply.message == "busy"
    # The pacer never had to wait (60,000 per minute); every sleep is a backoff.
    delays = clock.sleeps
    assert len(delays) == 6
    for k, d in enumerate(delays):
        ceiling = min(8.0, 1.0 * 2**k)
        assert ceiling / 2 <= d <= ceiling
    assert len({round(d, 9) for d in delays[-2:]}) == 2  # jittered, not fixed
    assert delays[3] > delays[0]


def test_a_retry_policy_given_wins_and_leaves_the_default_alone(clock):
    # Was "the backoff argument still wins" over a class attribute; backoff is now part of
    # a frozen RetryPolicy value, so the same promise reads: the given policy is used, and
    # the default is unchanged.
    t = make(clock, retry=RetryPolicy(backoff_base_s=0.0, backoff_cap_s=0.0))
    assert (t.retry.backoff_base_s, t.retry.backoff_cap_s) == (0.0, 0.0)
    assert DEFAULT_RETRY.backoff_base_s == 0.5


def test_retry_after_seconds_is_honoured_and_pauses_the_pacer(rsps, clock):
    rsps.add(
        responses.POST,
        URL,
        status=429,
        json={"status": "fail", "error": {"type": "Rate Limits Exceeded"}},
        headers={"Retry-After": "7"},
    )
    rsps.add(responses.POST, URL, json={"status": "success"})
    pacer = fake_pacer(300, clock)
    with make(clock, pacer=pacer) as t:
        reply = t.send(b"{}")
    assert reply.ok and reply.attempts == 2
    assert 7.0 in clock.sleeps
    assert pacer.starts[1] - pacer.starts[0] >= 7.0
    # The pause holds every sender, not only the one that got the 429.
    assert pacer._paused_until == pytest.approx(pacer.starts[0] + 7.0)


def test_retry_after_http_date(rsps, clock):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    rsps.add(responses.POST, URL, status=429, headers={"Retry-After": when})
    rsps.add(responses.POST, URL, json={"status": "success"})
    with make(clock) as t:
        assert t.send(b"{}").ok
    assert any(25 <= s <= 31 for s in clock.sleeps)


def test_429_without_retry_after_uses_ratelimit_reset(rsps, clock):
    rsps.add(responses.POST, URL, status=429, headers={"x-ratelimit-reset": "11"})
    rsps.add(responses.POST, URL, json={"status": "success"})
    with make(clock) as t:
        assert t.send(b"{}").ok
    assert 11.0 in clock.sleeps


def test_429_without_hints_uses_backoff(rsps, clock):
    rsps.add(responses.POST, URL, status=429)
    rsps.add(responses.POST, URL, json={"status": "success"})
    policy = RetryPolicy(backoff_base_s=2.0)
    with make(clock, retry=policy, pacer=fake_pacer(60000, clock)) as t:
        assert t.send(b"{}").ok
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 2.0


def test_ratelimit_headers_slow_down_before_the_limit(rsps, clock):
    rsps.add(
        responses.POST,
        URL,
        json={"status": "success"},
        headers={
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "12",
        },
    )
    pacer = fake_pacer(300, clock)
    with make(clock, pacer=pacer) as t:
        t0 = clock.now
        assert t.send(b"{}").ok
        assert t.send(b"{}").ok
    assert pacer.starts[1] >= t0 + 12.0
    assert t.stats.statuses == {"200": 2}


def test_ratelimit_headers_with_room_left_do_not_pause(rsps, clock):
    rsps.add(
        responses.POST,
        URL,
        json={"status": "success"},
        headers={"x-ratelimit-remaining": "250", "x-ratelimit-reset": "40"},
    )
    pacer = fake_pacer(300, clock)
    with make(clock, pacer=pacer) as t:
        for _ in range(3):
            assert t.send(b"{}").ok
    assert pacer.starts[-1] - pacer.starts[0] == pytest.approx(0.4)


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "soon", "1e12"])
def test_malformed_ratelimit_reset_never_breaks_a_send(rsps, clock, value):
    rsps.add(responses.POST, URL, status=429, headers={"x-ratelimit-reset": value})
    rsps.add(
        responses.POST,
        URL,
        json={"status": "success"},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": value},
    )
    with make(clock) as t:
        reply = t.send(b"{}")
        assert reply.ok
    assert all(0 <= s <= 60 for s in clock.sleeps)


def test_error_envelope_is_parsed(rsps, clock):
    rsps.add(responses.POST, URL, json=FAIL, status=400)
    with make(clock) as t:
        reply = t.send(b"{}")
    assert reply.status == 400
    assert reply.error_type == "MissingAttributeError"
    assert reply.message == "action is not found in the payload"
    assert reply.request_id == "req-400"
    assert t.stats.request_ids == ["req-400"]


def test_non_json_error_and_request_id_header(rsps, clock):
    rsps.add(
        responses.POST, URL, status=415, body="Content type is not supported",
        headers={"x-request-id": "hdr-1"},
    )  # fmt: skip
    with make(clock) as t:
        reply = t.send(b"{}")
    assert reply.status == 415
    assert reply.message == "Content type is not supported"
    assert reply.request_id == "hdr-1"
    assert reply.error_type  # the reason phrase when there is no envelope


def test_every_attempt_goes_through_the_pacer(rsps, clock):
    for status in (503, 502, 500):
        rsps.add(responses.POST, URL, status=status)
    rsps.add(responses.POST, URL, json={"status": "success"})
    pacer = fake_pacer(300, clock)
    with make(clock, pacer=pacer) as t:
        assert t.send(b"{}").ok
    assert len(pacer.starts) == len(rsps.calls) == t.stats.attempts == 4


def test_stop_sends_nothing_more(rsps, clock):
    rsps.add(responses.POST, URL, json={"status": "success"})
    pacer = fake_pacer(300, clock)
    with make(clock, pacer=pacer) as t:
        t.stop()
        reply = t.send(b"{}")
    assert reply.status is None and reply.error_type == NOT_SENT
    assert reply.attempts == 1
    assert len(rsps.calls) == 0
    assert t.stats.attempts == 0
    assert pacer.starts == []


def test_stop_ends_a_retry_loop(rsps, clock):
    t = make(clock)
    calls = []

    def cb(request):
        calls.append(1)
        t.stop()  # e.g. another worker got a 401 meanwhile
        return (503, {}, "busy")

    rsps.add_callback(responses.POST, URL, callback=cb)
    reply = t.send(b"{}")
    assert len(calls) == 1
    assert reply.error_type == NOT_SENT


def test_the_key_never_shows(rsps, clock, caplog):
    caplog.set_level("DEBUG")
    rsps.add(responses.POST, URL, body=requests.ConnectionError(f"failed for {URL}"))
    rsps.add(responses.POST, URL, json=FAIL, status=401)
    with make(clock, max_retries=1) as t:
        reply = t.send(b"{}")
        assert reply.status == 401
        shown = [repr(t.stats), repr(reply), str(reply), repr(t.headers)]
    shown += [r.getMessage() for r in caplog.records]
    b64 = base64.b64encode(f"WS:{KEY}".encode()).decode()
    for text in shown:
        assert KEY not in text and b64 not in text


def test_transport_validates_its_arguments():
    with pytest.raises(ConfigurationError):
        Transport("WS")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Transport(APP, max_retries=-1)
    with pytest.raises(ConfigurationError):
        Transport(APP, requests_per_minute=0)


# --------------------------------------------------------------------------- offline: why no answer
def _dns_error() -> requests.ConnectionError:
    import socket

    from urllib3.exceptions import MaxRetryError, NameResolutionError

    reason = NameResolutionError(
        "api-01.moengage.com", None, socket.gaierror(-2, "Name or service not known")
    )
    return requests.ConnectionError(MaxRetryError(None, "/v1/integrations/cohortsync", reason))


def _certificate_error() -> requests.exceptions.SSLError:
    import ssl

    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate expired")
    cause.verify_message = "certificate has expired"
    return requests.exceptions.SSLError(cause)


@pytest.mark.parametrize(
    ("make_exc", "words"),
    [
        (_dns_error, ["api-01.moengage.com was not found (DNS)", "data center"]),
        (_certificate_error, ["TLS/certificate", "certificate has expired", "api-01.moengage"]),
        (
            lambda: requests.ConnectTimeout("connect timed out"),
            ["no connection to api-01.moengage.com within 10 s (timeout)", "firewall"],
        ),
        (
            lambda: requests.ReadTimeout("read timed out"),
            ["api-01.moengage.com did not answer within 60 s (timeout)"],
        ),
        (
            lambda: requests.exceptions.ProxyError("proxy said no"),
            ["proxy", "HTTPS_PROXY"],
        ),
    ],
)
def test_a_network_failure_says_host_cause_and_what_to_check(rsps, clock, make_exc, words):
    rsps.add(responses.POST, URL, body=make_exc())
    with make(clock, max_retries=0) as t:
        reply = t.send(b"{}")
    assert reply.status is None and reply.error_type in ("ConnectionError", "Timeout")
    for word in words:
        assert word in reply.message
    assert "Max retries exceeded" not in reply.message


def test_a_refused_connection_names_the_host_and_port(clock):
    import socket

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = AppCredentials("WS", KEY, base_url=f"http://127.0.0.1:{port}")
    with Transport(app, max_retries=0, pacer=fake_pacer(300, clock)) as t:
        reply = t.send(b"{}")
    assert reply.error_type == "ConnectionError"
    assert reply.message.startswith(f"connection refused by 127.0.0.1:{port}: nothing is listening")
    assert "Max retries" not in reply.message and "/v1/integrations" not in reply.message


def test_a_network_failure_message_keeps_only_hosts_of_urls(rsps, clock):
    leaky = f"failed for https://proxy.example/v1/x?key={KEY} and http://user:{KEY}@other.example/"
    rsps.add(responses.POST, URL, body=requests.ConnectionError(leaky))
    with make(clock, max_retries=0) as t:
        reply = t.send(b"{}")
    assert KEY not in reply.message
    assert "proxy.example" in reply.message and "other.example" in reply.message
    assert reply.message.startswith("network error talking to api-01.moengage.com")
