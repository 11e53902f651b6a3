"""The transport pointed at another endpoint (transport.Endpoint): its method, URL and
headers, and its x-ratelimit-* headers read in that API's unit (the Get User API counts
users, at most 20 a request). Cohort Sync requests are covered by test_transport.py."""

from __future__ import annotations

import random

import pytest
import responses
from support import FakeClock, recording_pacer

from moecohort.credentials import AppCredentials
from moecohort.errors import ConfigurationError
from moecohort.lookup.wire import lookup_endpoint
from moecohort.transport import Endpoint, Transport

KEY = "secret-key-0123456789"
APP = AppCredentials("WS", KEY, "02")
LOOKUP_URL = "https://api-02.moengage.com/v1/customers/export?app_id=WS"
SEGMENTS_URL = "https://api-02.moengage.com/v3/custom-segments?name=a%20b"


def make(clock: FakeClock, endpoint: Endpoint, rpm: float = 50) -> Transport:
    return Transport(
        APP,
        endpoint=endpoint,
        pacer=recording_pacer(rpm, clock=clock, sleep=clock.sleep),
        rng=random.Random(1),
        sleep=clock.sleep,
    )


def test_get_user_request_shape(rsps):
    rsps.add(responses.POST, LOOKUP_URL, json={"status": "success", "data": {}})
    endpoint = lookup_endpoint(APP)
    assert endpoint.url == LOOKUP_URL and endpoint.units_per_request == 20
    with make(FakeClock(), endpoint) as t:
        assert t.send(b'{"data":{}}').ok
    request = rsps.calls[0].request
    assert request.method == "POST" and request.url == LOOKUP_URL
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"].startswith("Basic ")
    assert "MOE-APPKEY" not in request.headers and "MOE-DESTINATION-PARTNER" not in request.headers


def test_a_get_without_a_body(rsps):
    rsps.add(responses.GET, SEGMENTS_URL, json={"data": []})
    endpoint = Endpoint(SEGMENTS_URL, "GET", {"MOE-APPKEY": "WS"})
    with make(FakeClock(), endpoint) as t:
        reply = t.send()
    assert reply.ok and reply.body == {"data": []}
    request = rsps.calls[0].request
    assert request.method == "GET" and request.body is None
    assert request.headers["MOE-APPKEY"] == "WS"


def test_a_limit_in_users_is_read_as_requests(rsps):
    clock = FakeClock()
    headers = {
        "x-ratelimit-limit": "500",
        "x-ratelimit-remaining": "480",
        "x-ratelimit-reset": "59",
    }
    rsps.add(responses.POST, LOOKUP_URL, json={"status": "success"}, headers=headers)
    with make(clock, lookup_endpoint(APP)) as t:
        t.send(b"{}")
        assert t.pacer.rpm == 25  # 500 users a minute: 25 requests of 20


def test_the_limit_is_never_raised_by_the_server(rsps):
    headers = {"x-ratelimit-limit": "100000", "x-ratelimit-remaining": "99980"}
    rsps.add(responses.POST, LOOKUP_URL, json={"status": "success"}, headers=headers)
    with make(FakeClock(), lookup_endpoint(APP)) as t:
        t.send(b"{}")
        assert t.pacer.rpm == 50


@pytest.mark.parametrize(("remaining", "pauses"), [("19", True), ("20", False), ("0", True)])
def test_fewer_users_left_than_a_request_pauses_until_the_reset(rsps, remaining, pauses):
    clock = FakeClock()
    headers = {
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": remaining,
        "x-ratelimit-reset": "30",
    }
    rsps.add(responses.POST, LOOKUP_URL, json={"status": "success"}, headers=headers)
    with make(clock, lookup_endpoint(APP)) as t:
        t.send(b"{}")
        start = clock()
        t.send(b"{}")
        waited = t.pacer.starts[-1] - start
    assert (waited >= 30) is pauses


def test_endpoint_units_are_checked():
    with pytest.raises(ConfigurationError):
        Endpoint("https://x", units_per_request=0)
