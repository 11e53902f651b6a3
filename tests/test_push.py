"""Tests of moecohort.push: push_cohort, PushResult and check_connection, against a scripted
Cohort Sync endpoint mocked with ``responses`` (nothing leaves the process)."""

from __future__ import annotations

import base64
import inspect
import itertools
import json
import logging
import math
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import responses
from support import ids as uuids

from moecohort import (
    AccountSuspendedError,
    AppCredentials,
    AuthenticationError,
    CohortNameError,
    ConfigurationError,
    InputError,
    PushFailedError,
    PushResult,
    check_connection,
    cohort_id_for,
    push_cohort,
)
from moecohort._constants import MAX_BODY_BYTES, SUCCESS_MESSAGE

KEY = "secret-key-0123456789"
B64 = base64.b64encode(f"WS:{KEY}".encode()).decode()
APP = AppCredentials("WS", KEY, "01")
URL = "https://api-01.moengage.com/v1/integrations/cohortsync"
FAST = 60_000  # requests per minute that keep tests quick
SUCCESS = {"status": "success", "message": SUCCESS_MESSAGE}


def envelope(status_type: str, message: str, request_id: str, attribute: str | None = None):
    err: dict[str, Any] = {"message": message, "type": status_type, "request_id": request_id}
    if attribute:
        err["attribute"] = attribute
    return json.dumps({"status": "fail", "error": err})


BAD_REQUEST = envelope("MissingAttributeError", "uid is not found", "req-400", "uid")
UNAUTHORIZED = envelope("Authentication Mismatch", "App Secret key mismatch", "req-401")
SUSPENDED = envelope("Account Suspended", "Your account is suspended", "req-403")
TOO_LARGE = envelope("Payload too large", "Payload can not exceed 128KB", "req-413")
RATE_LIMITED = envelope(
    "Rate Limits Exceeded", "Rate limits for customers exceeded. Please Try After Some Time", "rl"
)

Reply = tuple[int, dict[str, str], str]


def members_of(doc: dict) -> tuple[list[str], list[str]]:
    """(added, removed) uids of a parsed body of either wire format."""
    if doc.get("type") == "segment_sync":
        data = doc["data"]
        return [m["uid"] for m in data["add_users"]], [m["uid"] for m in data["remove_users"]]
    uids = [m["uid"] for m in doc["parameters"]["members"]]
    return (uids, []) if doc["action"] == "add_members" else ([], uids)


class Server:
    """A scripted Cohort Sync endpoint (a ``responses`` callback, thread-safe).

    ``script(n, doc, body)`` gets the 0-based attempt number, the parsed body and the raw
    bytes, and returns None (accept), a (status, headers, body) tuple, or an exception
    to raise in the client (a network failure). Accepted members are recorded.

    ``hold_until=k``: every request after the first waits in the server until ``k``
    requests are in flight together (or 10 s pass, as a safety net), so the most that can
    be in flight at once is reached whatever the machine's speed.
    """

    def __init__(
        self,
        script: Callable[..., Any] | None = None,
        delay: float = 0.0,
        hold_until: int = 0,
    ) -> None:
        self.script = script
        self.delay = delay
        self.hold_until = hold_until
        self.lock = threading.Lock()
        self.gathered = threading.Event()
        self.attempts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.times: list[float] = []
        self.requests: list[Any] = []
        self.added: list[str] = []
        self.removed: list[str] = []
        self.accepted_bodies: list[dict] = []

    def __call__(self, request) -> Reply | Exception:
        with self.lock:
            n = self.attempts
            self.attempts += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.times.append(time.monotonic())
            self.requests.append(request)
            if self.in_flight >= self.hold_until:
                self.gathered.set()
        try:
            if self.hold_until and n > 0:
                self.gathered.wait(10)
            if self.delay:
                time.sleep(self.delay)
            body = request.body
            assert isinstance(body, bytes)
            assert len(body) <= MAX_BODY_BYTES
            doc = json.loads(body)
            out = self.script(n, doc, body) if self.script else None
            if out is None:
                self.accept(doc)
                return (200, {}, json.dumps(SUCCESS))
            return out
        finally:
            with self.lock:
                self.in_flight -= 1

    def accept(self, doc: dict) -> None:
        adds, removes = members_of(doc)
        with self.lock:
            self.added += adds
            self.removed += removes
            self.accepted_bodies.append(doc)


pytestmark = pytest.mark.usefixtures("fast_backoff")


def serve(rsps, script=None, delay: float = 0.0, hold_until: int = 0) -> Server:
    server = Server(script, delay, hold_until)
    rsps.add_callback(responses.POST, URL, callback=server)
    return server


def assert_accounted(result: PushResult) -> None:
    """Every input row is accounted for exactly once."""
    done = result.members_planned if result.dry_run else result.members_accepted
    total = done + result.members_failed + result.skipped_anonymous + result.skipped_duplicates
    assert total == result.input_rows
    assert result.accounted == result.input_rows
    assert len(result.failed) == result.members_failed
    assert list(result.failed.columns) == ["uid", "status", "error_type", "message", "request_id"]
    assert not result.failed["uid"].duplicated().any()


def push(df, name="VIP users", **kw) -> PushResult:
    kw.setdefault("requests_per_minute", FAST)
    kw.setdefault("progress", False)
    return push_cohort(df, APP, name, **kw)


# --------------------------------------------------------------------------- the interface
def test_signature_matches_the_issue():
    params = inspect.signature(push_cohort).parameters
    expected = {
        "id_col": "uid",
        "action": "add",
        "cohort_id": None,
        "description": None,
        "wire_format": "segment_sync",
        "requests_per_minute": 300,
        "max_in_flight": None,
        "max_retries": 5,
        "dry_run": False,
        "progress": "auto",
    }
    names = list(params)
    assert names[:3] == ["df", "app", "cohort_name"]
    for name, default in expected.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default


# --------------------------------------------------------------------------- happy paths
MESSY = pd.DataFrame(
    {
        "uid": ["a", "b", None, "", "  ", "0", "null", "unknown", "a", "c", "b", "a", "0", 'é"q'],
        "plan": range(14),
    }
)
MESSY_DISTINCT = ["a", "b", "c", 'é"q']


def test_segment_sync_push(rsps):
    server = serve(rsps)
    result = push(MESSY, "VIP users")
    assert_accounted(result)
    assert result.ok
    assert result.members_accepted == 4
    assert result.members_failed == 0
    assert result.skipped_anonymous == 7  # None, "", "  ", "0" twice, "null", "unknown"
    assert result.skipped_duplicates == 3  # "a" twice, "b" once
    assert result.requests == 1 and result.batches == 1
    assert result.elapsed_s > 0
    assert server.added == MESSY_DISTINCT  # once each, first-appearance order
    req = server.requests[0]
    assert req.headers["MOE-APPKEY"] == "WS"
    assert req.headers["MOE-DESTINATION-PARTNER"] == "moengage"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == f"Basic {B64}"
    doc = server.accepted_bodies[0]
    assert doc["type"] == "segment_sync"
    assert doc["pagination"] == {"total_pages": 1, "page_count": 1}
    data = doc["data"]
    assert data["moengage_sync_name"] == "VIP users"
    assert data["moengage_sync_id"] == cohort_id_for("VIP users") == result.cohort_id
    assert data["remove_users"] == []
    assert data["moengage_execution_id"] and data["moengage_integration_id"]
    assert result.raise_for_status() is result


@pytest.mark.parametrize("wire", ["segment_sync", "cohort_sync"])
def test_remove_action(rsps, wire):
    server = serve(rsps)
    result = push(MESSY, action="remove", wire_format=wire)
    assert_accounted(result)
    assert result.ok
    assert server.removed == MESSY_DISTINCT and server.added == []
    doc = server.accepted_bodies[0]
    if wire == "cohort_sync":
        assert doc["action"] == "remove_members"
    else:
        assert doc["data"]["add_users"] == []


def test_cohort_sync_push_with_id_and_description(rsps):
    server = serve(rsps)
    result = push(
        MESSY,
        "Größe ✓",
        wire_format="cohort_sync",
        cohort_id="my-cohort-7",
        description="from app A",
    )
    assert_accounted(result)
    assert result.ok and result.cohort_id == "my-cohort-7"
    (doc,) = server.accepted_bodies
    assert doc == {
        "action": "add_members",
        "partner": "moengage",
        "parameters": {
            "cohort_name": "Größe ✓",
            "cohort_id": "my-cohort-7",
            "cohort_description": "from app A",
            "members": [{"uid": u} for u in MESSY_DISTINCT],
        },
    }
    assert "MOE-DESTINATION-PARTNER" not in server.requests[0].headers
    assert server.requests[0].headers["MOE-APPKEY"] == "WS"


def test_default_cohort_id_is_stable_across_pushes(rsps):
    server = serve(rsps)
    first = push(MESSY, "Weekly", wire_format="cohort_sync")
    second = push(MESSY, "Weekly", wire_format="cohort_sync")
    ids = {d["parameters"]["cohort_id"] for d in server.accepted_bodies}
    assert ids == {first.cohort_id} == {second.cohort_id} == {cohort_id_for("Weekly")}


def test_numeric_ids_are_canonical(rsps):
    server = serve(rsps)
    df = pd.DataFrame({"customer_id": [1004821.0, np.nan, 17.0, 1004821.0, 0.0]})
    result = push(df, id_col="customer_id")
    assert_accounted(result)
    assert server.added == ["1004821", "17"]
    assert (result.skipped_anonymous, result.skipped_duplicates) == (2, 1)


def test_mixed_int_and_text_ids_are_one_user(rsps):
    server = serve(rsps)
    df = pd.DataFrame({"uid": pd.Series([17, "17", "x", 18], dtype=object)})
    result = push(df)
    assert_accounted(result)
    assert server.added == ["17", "x", "18"]
    assert result.skipped_duplicates == 1


def test_ids_given_as_a_series(rsps):
    server = serve(rsps)
    result = push(pd.Series(["a", "b", "a"], name="uid"))
    assert_accounted(result)
    assert server.added == ["a", "b"]


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("df", "kw", "error", "match"),
    [
        (pd.DataFrame({"uid": []}), {}, InputError, "empty"),
        (pd.DataFrame({"email": ["x"], "name": ["y"]}), {}, InputError, "'email', 'name'"),
        (pd.DataFrame({"uid": [None, "", "0", "guest"]}), {}, InputError, "anonymous"),
        (pd.DataFrame({"uid": [1.0, 2.5]}), {}, InputError, "fractional"),
        (MESSY, {"cohort_name": ""}, CohortNameError, "empty"),
        (MESSY, {"cohort_name": ".hidden"}, CohortNameError, "starts with"),
        (MESSY, {"cohort_name": "VIP (US)"}, CohortNameError, "VIP US"),
        (MESSY, {"cohort_name": "a=b"}, CohortNameError, "="),
        (MESSY, {"action": "delete"}, InputError, "action"),
        (MESSY, {"wire_format": "xml"}, InputError, "wire_format"),
        (MESSY, {"requests_per_minute": 0}, ConfigurationError, "requests_per_minute"),
        (MESSY, {"requests_per_minute": -1}, ConfigurationError, "requests_per_minute"),
        (MESSY, {"requests_per_minute": "300"}, ConfigurationError, "requests_per_minute"),
        (MESSY, {"requests_per_minute": True}, ConfigurationError, "requests_per_minute"),
        (MESSY, {"requests_per_minute": math.inf}, ConfigurationError, "requests_per_minute"),
        (MESSY, {"requests_per_minute": math.nan}, ConfigurationError, "requests_per_minute"),
        (MESSY, {"max_in_flight": 0}, ConfigurationError, "max_in_flight"),
        (MESSY, {"max_in_flight": 2.5}, ConfigurationError, "max_in_flight"),
        (MESSY, {"max_in_flight": True}, ConfigurationError, "max_in_flight"),
        (MESSY, {"max_retries": -1}, ConfigurationError, "max_retries"),
        (MESSY, {"max_retries": 1.5}, ConfigurationError, "max_retries"),
        (MESSY, {"cohort_id": ""}, InputError, "cohort_id"),
        (MESSY, {"description": 5}, InputError, "description"),
        ([], {}, InputError, "nobody"),
        ("not a frame", {}, InputError, "DataFrame"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_bad_input_fails_before_any_request(rsps, df, kw, error, match, dry_run):
    server = serve(rsps)
    kw = {"cohort_name": "VIP users", **kw}
    name = kw.pop("cohort_name")
    with pytest.raises(error, match=match):
        push(df, name, dry_run=dry_run, **kw)
    assert server.attempts == 0
    assert len(rsps.calls) == 0


def test_missing_column_message_lists_columns():
    df = pd.DataFrame({"ID": ["a"], "Email": ["x"]})
    with pytest.raises(InputError) as info:
        push(df, dry_run=True)
    assert "'ID'" in str(info.value) and "'Email'" in str(info.value)
    assert info.value.column == "uid"


def test_bad_credentials_object():
    with pytest.raises(TypeError):
        push_cohort(MESSY, 42, "VIP", requests_per_minute=FAST)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [-1, 0, "x", (1, 2, 3), (5, None), float("inf")])
def test_bad_timeout_fails_before_anything(rsps, timeout):
    with pytest.raises(ConfigurationError, match="timeout"):
        push(MESSY, timeout=timeout)
    assert len(rsps.calls) == 0


def test_a_single_timeout_number_is_accepted(rsps):
    serve(rsps)
    assert push(MESSY, timeout=5).ok


def test_an_overlong_cohort_id_or_description_fails_before_anything(rsps):
    with pytest.raises(InputError, match="shorten"):
        push(MESSY, cohort_id="x" * 70_000)
    with pytest.raises(InputError, match="shorten"):
        push(MESSY, wire_format="cohort_sync", description="d" * 70_000)
    assert len(rsps.calls) == 0


def test_description_with_segment_sync_is_pointed_out(rsps, caplog):
    serve(rsps)
    with caplog.at_level(logging.WARNING, logger="moecohort"):
        push(MESSY, description="VIPs")
    assert "cohort_sync" in caplog.text


# --------------------------------------------------------------------------- dry run
def test_dry_run_sends_nothing():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.POST, URL, json=SUCCESS)
        result = push(MESSY, dry_run=True)
        assert len(rs.calls) == 0
    assert_accounted(result)
    assert result.dry_run and result.ok
    assert result.members_planned == 4 and result.members_accepted == 0
    assert result.requests == 0 and result.batches == 1
    assert result.plan is not None and int(result.plan["add_members"].sum()) == 4
    assert "would push 4 users" in repr(result)


def test_dry_run_needs_no_credentials():
    with responses.RequestsMock() as rs:  # any request would fail the test
        result = push_cohort(MESSY, None, "VIP users", dry_run=True, progress=False)
        assert len(rs.calls) == 0
    assert_accounted(result)
    assert result.workspace_id is None


def test_dry_run_reports_oversize_ids():
    huge = "x" * (MAX_BODY_BYTES + 1)
    df = pd.DataFrame({"uid": ["a", huge, "b"]})
    with responses.RequestsMock() as rs:
        result = push(df, dry_run=True)
        assert len(rs.calls) == 0
    assert_accounted(result)
    assert not result.ok
    assert result.failed["error_type"].tolist() == ["IdTooLarge"]


# --------------------------------------------------------------------------- batching
def test_200k_ids_request_count(rsps):
    server = serve(rsps)
    ids = uuids(200_000)
    assert {len(x) for x in ids} == {36}
    df = pd.DataFrame({"uid": ids})
    result = push(df)
    assert_accounted(result)
    assert result.ok and result.members_accepted == 200_000
    member_bytes = sum(len(f'{{"uid":"{x}"}}') + 1 for x in ids)
    bound = math.ceil(member_bytes / MAX_BODY_BYTES) + 1
    assert result.requests == len(rsps.calls) == server.attempts
    assert result.requests <= bound, (result.requests, bound)
    assert sorted(server.added) == sorted(ids)
    assert len(set(server.added)) == 200_000
    sizes = [len(r.body) for r in server.requests]
    assert max(sizes) <= MAX_BODY_BYTES
    assert sorted(sizes)[1] > MAX_BODY_BYTES - 47  # all but the last body are full
    pages = sorted(d["pagination"]["page_count"] for d in server.accepted_bodies)
    assert pages == list(range(1, result.requests + 1))
    print(f"200,000 ids: {result.requests} requests (bound {bound})")


def test_oversize_id_is_failed_not_sent(rsps):
    server = serve(rsps)
    huge = "y" * 130_000
    result = push(pd.DataFrame({"uid": ["a", huge, "b", huge]}))
    assert_accounted(result)
    assert not result.ok
    assert server.added == ["a", "b"]
    assert result.members_failed == 1 and result.skipped_duplicates == 1
    row = result.failed.iloc[0]
    assert row["uid"] == huge and row["error_type"] == "IdTooLarge"
    assert "128,000" in row["message"]
    with pytest.raises(PushFailedError) as info:
        result.raise_for_status()
    assert info.value.result is result


def test_only_oversize_ids_sends_nothing(rsps):
    server = serve(rsps)
    result = push(pd.DataFrame({"uid": ["z" * 200_000, "0"]}))
    assert_accounted(result)
    assert server.attempts == 0 and result.requests == 0
    assert result.members_failed == 1 and result.skipped_anonymous == 1
    assert not result.ok


# --------------------------------------------------------------------------- failures
def many(n_bodies: int) -> pd.DataFrame:
    """About ``n_bodies`` full bodies of 36-character ids."""
    return pd.DataFrame({"uid": uuids(2700 * n_bodies - 100)})


def test_400_fails_that_body_only_and_is_not_retried(rsps):
    df = many(3)
    poison = df["uid"].iloc[3000]

    def script(n, doc, body):
        if poison in members_of(doc)[0]:
            return (400, {}, BAD_REQUEST)
        return None

    server = serve(rsps, script)
    result = push(df)
    assert_accounted(result)
    assert not result.ok
    assert result.requests == server.attempts == 3  # no retry of the 400
    failed = result.failed
    assert poison in set(failed["uid"])
    assert set(failed["status"]) == {400}
    assert set(failed["error_type"]) == {"MissingAttributeError"}
    assert set(failed["message"]) == {"uid is not found"}
    assert set(failed["request_id"]) == {"req-400"}
    assert "req-400" in result.request_ids
    assert set(server.added) | set(failed["uid"]) == set(df["uid"])
    assert not set(server.added) & set(failed["uid"])
    with pytest.raises(PushFailedError, match="not accepted"):
        result.raise_for_status()


@pytest.mark.parametrize(
    ("status", "body", "error", "etype"),
    [
        (401, UNAUTHORIZED, AuthenticationError, "Authentication Mismatch"),
        (403, SUSPENDED, AccountSuspendedError, "Account Suspended"),
    ],
)
@pytest.mark.parametrize("max_in_flight", [1, None])
def test_401_403_stop_at_once(rsps, status, body, error, etype, max_in_flight):
    server = serve(rsps, lambda n, doc, raw: (status, {}, body))
    df = many(5)
    # The first body goes alone: even at a high rate with 16 senders, a bad key costs one request.
    with pytest.raises(error) as info:
        push(df, requests_per_minute=FAST, max_in_flight=max_in_flight)
    exc = info.value
    assert server.attempts == len(rsps.calls) == 1  # never retried, nothing more sent
    assert exc.status == status and exc.type == etype
    assert exc.request_id == f"req-{status}"
    assert KEY not in str(exc) and KEY not in repr(exc)
    result = exc.result
    assert isinstance(result, PushResult)
    assert_accounted(result)
    assert not result.ok and result.stopped_by
    assert result.requests == 1 and result.members_accepted == 0
    counts = result.failed["error_type"].value_counts().to_dict()
    assert counts.get(etype, 0) >= 1
    assert counts.get(etype, 0) + counts.get("NotSent", 0) == len(df)
    assert counts.get("NotSent", 0) > 0
    not_sent = result.failed[result.failed["error_type"] == "NotSent"]
    assert not_sent["status"].isna().all()
    assert KEY not in repr(result)


def test_401_after_some_bodies_keeps_what_was_accepted(rsps):
    server = serve(rsps, lambda n, doc, raw: None if n < 2 else (401, {}, UNAUTHORIZED))
    df = many(5)
    with pytest.raises(AuthenticationError) as info:
        push(df, max_in_flight=1)
    result = info.value.result
    assert_accounted(result)
    assert server.attempts == 3
    assert result.members_accepted == len(server.added) > 0
    assert result.members_failed == len(df) - len(server.added)


def test_413_splits_the_body_and_sends_the_halves(rsps):
    def script(n, doc, body):
        return (413, {}, TOO_LARGE) if len(body) > 50_000 else None

    server = serve(rsps, script)
    df = many(2)
    result = push(df)
    assert_accounted(result)
    assert result.ok
    assert sorted(server.added) == sorted(df["uid"])
    assert len(server.added) == len(df)
    assert result.requests == server.attempts > 4
    assert result.statuses.get("413", 0) >= 2


def test_413_for_a_single_member_fails_it(rsps):
    server = serve(rsps, lambda n, doc, raw: (413, {}, TOO_LARGE))
    result = push(pd.DataFrame({"uid": ["only"]}))
    assert_accounted(result)
    assert server.attempts == 1
    row = result.failed.iloc[0]
    assert (row["uid"], row["status"], row["error_type"]) == ("only", 413, "Payload too large")


def test_429_honours_retry_after_then_succeeds(rsps):
    def script(n, doc, raw):
        return (429, {"Retry-After": "0.05"}, RATE_LIMITED) if n == 0 else None

    server = serve(rsps, script)
    t0 = time.monotonic()
    result = push(MESSY)
    assert_accounted(result)
    assert result.ok and result.members_accepted == 4
    assert result.requests == server.attempts == 2
    assert result.retries == 1
    assert result.statuses == {"429": 1, "200": 1}
    assert server.times[1] - server.times[0] >= 0.045
    assert time.monotonic() - t0 >= 0.045


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(rsps, status):
    server = serve(rsps, lambda n, doc, raw: (status, {}, "oops") if n < 2 else None)
    result = push(MESSY)
    assert_accounted(result)
    assert result.ok and result.requests == server.attempts == 3


def test_retries_exhausted_fail_the_body(rsps):
    server = serve(rsps, lambda n, doc, raw: (503, {}, envelope("Server Error", "down", "r5")))
    result = push(MESSY, max_retries=2)
    assert_accounted(result)
    assert not result.ok and result.stopped_by is None  # a failed body does not stop the push
    assert result.requests == server.attempts == 3
    assert set(result.failed["status"]) == {503}
    assert set(result.failed["error_type"]) == {"Server Error"}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [(requests.ConnectionError, "ConnectionError"), (requests.ReadTimeout, "Timeout")],
)
def test_network_errors_are_retried(rsps, exc, kind):
    server = serve(rsps, lambda n, doc, raw: exc("flaky network") if n == 0 else None)
    result = push(MESSY)
    assert_accounted(result)
    assert result.ok and result.requests == server.attempts == 2
    assert result.statuses == {kind: 1, "200": 1}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [(requests.ConnectionError, "ConnectionError"), (requests.ReadTimeout, "Timeout")],
)
def test_network_errors_exhausted(rsps, exc, kind):
    server = serve(rsps, lambda n, doc, raw: exc("still down"))
    result = push(MESSY, max_retries=1)
    assert_accounted(result)
    assert result.requests == server.attempts == 2
    assert result.failed["status"].isna().all()
    assert set(result.failed["error_type"]) == {kind}


def test_lost_response_is_retried_and_harmless(rsps):
    def script(n, doc, raw):
        if n == 0:
            server.accept(doc)  # the server applied it, then the connection dropped
            return requests.ConnectionError("connection reset by peer")
        return None

    server = serve(rsps, script)
    result = push(MESSY)
    assert_accounted(result)
    assert result.ok and result.members_accepted == 4
    assert result.requests == 2
    assert server.added == MESSY_DISTINCT * 2  # applied twice: adding is idempotent
    assert set(server.added) == set(MESSY_DISTINCT)


def test_mixed_outcomes_are_all_accounted(rsps):
    df = pd.concat([many(6), MESSY[["uid"]]], ignore_index=True)

    def script(n, doc, raw):
        return {
            0: (400, {}, BAD_REQUEST),
            1: (503, {}, "x"),
            2: requests.ReadTimeout("slow"),
        }.get(n)

    serve(rsps, script)
    result = push(df, max_in_flight=2)
    assert_accounted(result)
    assert result.members_failed > 0 and result.members_accepted > 0


# --------------------------------------------------------------------------- concurrency and pace
@pytest.mark.parametrize(("max_in_flight", "expected"), [(1, 1), (3, 3), (5, 5)])
def test_max_in_flight_is_a_fixed_cap(rsps, max_in_flight, expected):
    # The server holds requests until `expected` are in flight: never more, whatever the speed.
    server = serve(rsps, hold_until=expected)
    result = push(many(8), max_in_flight=max_in_flight)
    assert_accounted(result)
    assert result.ok
    assert server.max_in_flight == expected


def test_in_flight_grows_with_latency_up_to_16(rsps):
    # A slow server (its requests wait until 16 are in flight): the runner opens up to 16.
    server = serve(rsps, hold_until=16)
    result = push(many(30))
    assert_accounted(result)
    assert result.ok
    assert 4 < server.max_in_flight <= 16


def test_low_latency_needs_few_in_flight(rsps):
    server = serve(rsps)
    result = push(many(5), requests_per_minute=300)  # 200 ms apart, answers in ~1 ms
    assert_accounted(result)
    assert server.max_in_flight <= 2


def test_pace_counts_every_attempt(rsps):
    # 2,400 per minute: 25 ms apart, at most 40 in any second. Every body fails once.
    seen: set[str] = set()
    lock = threading.Lock()

    def script(n, doc, raw):
        first = members_of(doc)[0][0]
        with lock:
            if first not in seen:
                seen.add(first)
                return (503, {}, "busy")
        return None

    server = serve(rsps, script)
    result = push(many(5), requests_per_minute=2400)
    assert_accounted(result)
    assert result.ok
    n = server.attempts
    assert n == result.requests == 2 * result.batches
    times = sorted(server.times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Never a burst: most gaps are a slot (25 ms); a request held up on a busy machine may
    # arrive late and shorten one gap, so the median is checked, and the whole span.
    assert statistics.median(gaps) >= 0.02
    assert times[-1] - times[0] >= (n - 1) * 0.025 * 0.9
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 40


def test_ratelimit_headers_prevent_429(rsps):
    # A server that allows 2 requests per 0.15 s window and says so in its headers.
    limit, window = 2, 0.15
    state = {"start": None, "count": 0}

    def script(n, doc, raw):
        now = time.monotonic()
        with lock:
            if state["start"] is None or now - state["start"] >= window:
                state["start"], state["count"] = now, 0
            state["count"] += 1
            reset = window - (now - state["start"])
            remaining = limit - state["count"]
        headers = {
            # The limit header is per minute: 2 per 0.15 s is 800 per minute.
            "x-ratelimit-limit": str(int(limit * 60 / window)),
            "x-ratelimit-remaining": str(max(0, remaining)),
            "x-ratelimit-reset": f"{reset:.3f}",
        }
        if remaining < 0:
            return (429, headers, RATE_LIMITED)
        server.accept(doc)
        return (200, headers, json.dumps(SUCCESS))

    lock = threading.Lock()
    server = serve(rsps, script)
    df = many(6)
    result = push(df, max_in_flight=1)
    assert_accounted(result)
    assert result.ok
    assert "429" not in result.statuses
    assert result.requests == result.batches == server.attempts >= 5
    assert sorted(server.added) == sorted(df["uid"])
    assert result.elapsed_s >= 2 * window


def test_ratelimit_limit_header_slows_the_pace(rsps):
    # A server announcing a lower limit than the caller asked for: the client adopts it.
    starts: list[float] = []

    def script(n, doc, raw):
        starts.append(time.monotonic())
        server.accept(doc)
        return (200, {"x-ratelimit-limit": "600"}, json.dumps(SUCCESS))

    server = serve(rsps, script)
    df = many(4)
    result = push(df, max_in_flight=4)
    assert result.ok
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 600 per minute: 0.1 s apart. One request held up on a busy machine may arrive late and
    # shorten one gap: the median and the whole span are checked.
    assert statistics.median(gaps) >= 0.09
    assert starts[-1] - starts[0] >= 0.1 * len(gaps) - 0.04


# --------------------------------------------------------------------------- results and secrets
def test_result_repr_and_html_are_escaped(rsps):
    evil_id = "<b>bold</b>&amp;"
    evil_msg = "<script>alert('x')</script>"
    body = envelope("Bad<Type>", evil_msg, "<rid>")
    serve(rsps, lambda n, doc, raw: (400, {}, body))
    result = push(pd.DataFrame({"uid": [evil_id, "ok"]}), "Tom & Jerry's")
    assert_accounted(result)
    page = result._repr_html_()
    assert "<script>" not in page and "<b>bold" not in page and "<rid>" not in page
    assert "&lt;script&gt;" in page
    assert "Tom &amp; Jerry" in page
    text = repr(result)
    assert "push incomplete" in text and "members failed" in text
    for shown in (page, text, str(result)):
        assert KEY not in shown and B64 not in shown


def test_a_very_long_id_is_cut_in_every_view_and_kept_whole_in_the_data(rsps):
    serve(rsps)
    huge = "x" * 200_000
    result = push(pd.DataFrame({"uid": [huge, "ok"]}))
    assert result.members_failed == 1 and result.failed["error_type"].iloc[0] == "IdTooLarge"
    assert result.failed["uid"].iloc[0] == huge  # the data keeps the whole id
    text, page = repr(result), result._repr_html_()
    assert len(text) < 2_000 and len(page) < 10_000  # was 400 KB of id and padding
    for view in (text, page):
        assert "x" * 81 not in view and "(200,000 characters)" in view


def test_summary_counts(rsps):
    serve(rsps)
    result = push(MESSY)
    summary = result.summary()["count"]
    assert summary["input rows"] == len(MESSY)
    assert summary["members accepted by the API"] == 4
    assert summary["skipped: anonymous"] == 7
    assert summary["skipped: duplicate"] == 3
    assert summary["requests (HTTP attempts)"] == 1


def test_the_key_never_reaches_logs_reprs_or_errors(rsps, caplog):
    caplog.set_level("DEBUG")

    def script(n, doc, raw):
        outcomes = {
            0: (400, {}, BAD_REQUEST),
            1: (503, {}, "x"),
            2: requests.ConnectionError(f"boom at {URL}"),
            3: (429, {"Retry-After": "0"}, RATE_LIMITED),
        }
        return outcomes.get(n, (401, {}, UNAUTHORIZED))

    serve(rsps, script)
    with pytest.raises(AuthenticationError) as info:
        push(many(6), max_in_flight=1)
    exc = info.value
    result = exc.result
    assert_accounted(result)
    texts = [str(exc), repr(exc), repr(result), result._repr_html_(), caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    texts += [str(v) for v in result.failed.to_numpy().ravel()]
    assert caplog.records  # the push did log
    for text in texts:
        assert KEY not in text
        assert B64 not in text
    dry = push(MESSY, dry_run=True)
    assert KEY not in repr(dry) and KEY not in dry._repr_html_()


def test_progress_bar(rsps, capsys):
    serve(rsps)
    result = push(MESSY, progress=True)
    assert result.ok
    assert "users" in capsys.readouterr().err


def test_progress_callback_counts_every_user(rsps):
    server = serve(rsps, lambda n, doc, raw: (500, {}, "boom") if n == 1 else None)
    calls: list[tuple[int, int]] = []
    df = many(3)
    result = push(df, progress=lambda done, total: calls.append((done, total)), max_retries=0)
    assert calls[0] == (0, len(df))
    assert calls[-1] == (len(df), len(df))  # accepted and failed users both move it
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert result.members_accepted == len(server.added) < len(df)


def test_raise_for_status_counts_the_right_total(rsps):
    serve(rsps, lambda n, doc, raw: (401, {}, UNAUTHORIZED))
    with pytest.raises(AuthenticationError) as info:
        push(MESSY)
    result = info.value.result
    with pytest.raises(PushFailedError) as failed:
        result.raise_for_status()
    total = result.members_accepted + result.members_failed
    assert f"{result.members_failed:,} of {total:,} users" in str(failed.value)


def test_the_library_never_prints_by_itself():
    handlers = logging.getLogger("moecohort").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_the_auth_object_never_shows_the_key():
    from moecohort.transport import Transport

    transport = Transport(APP)
    assert KEY not in repr(transport._auth)
    assert all(KEY not in repr(v) for v in vars(transport).values())
    transport.close()


# --------------------------------------------------------------------------- check_connection
@pytest.mark.parametrize(
    ("status", "body", "ok", "words"),
    [
        (400, envelope("MissingAttributeError", "action is not found", "c1"), True, "accepted"),
        (200, json.dumps(SUCCESS), True, "accepted"),
        (401, UNAUTHORIZED, False, "rejected"),
        (403, SUSPENDED, False, "suspended"),
        (404, "Not Found", False, "data center"),
        (500, envelope("Server Error", "boom", "c5"), False, "unexpected"),
    ],
)
def test_check_connection(rsps, status, body, ok, words):
    rsps.add(
        responses.POST,
        URL,
        body=body,
        status=status,
        headers={"x-ratelimit-remaining": "299", "x-ratelimit-reset": "41"},
    )
    check = check_connection(APP)
    assert check.ok is ok
    assert check.status == status
    assert words in check.message
    assert check.workspace_id == "WS"
    assert check.rate_limit.get("x-ratelimit-remaining") == "299"
    assert str(check).startswith("OK: " if ok else "FAILED: ")
    req = rsps.calls[0].request
    assert req.body == b"{}"  # creates nothing
    assert req.headers["Authorization"] == f"Basic {B64}"
    assert req.headers["MOE-APPKEY"] == "WS"
    assert req.headers["Content-Type"] == "application/json"
    assert len(rsps.calls) <= 2
    page = check._repr_html_()
    for shown in (str(check), repr(check), page):
        assert KEY not in shown and B64 not in shown


def test_check_connection_401_is_not_retried(rsps):
    rsps.add(responses.POST, URL, body=UNAUTHORIZED, status=401)
    check = check_connection(APP)
    assert not check.ok and check.error_type == "Authentication Mismatch"
    assert check.request_id == "req-401"
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("exc", [requests.ConnectionError, requests.ConnectTimeout])
def test_check_connection_network_error_does_not_raise(rsps, exc):
    rsps.add(responses.POST, URL, body=exc("no route to host"))
    check = check_connection(APP)
    assert not check.ok and check.status is None
    assert "could not reach" in check.message
    assert KEY not in check.message


def test_check_connection_needs_moengage_words_for_a_400(rsps):
    """Any server can answer 400; only MoEngage's own error envelope shows the key passed."""
    rsps.add(responses.POST, URL, body="<html>Bad Request</html>", status=400)
    check = check_connection(APP)
    assert not check.ok and "unexpected" in check.message


# --------------------------------------------------------------------------- error envelope
def test_api_error_fields_come_from_the_envelope(rsps):
    body = envelope("Authentication Mismatch", "App key mismatch in params", "rid-9", "app_id")
    serve(rsps, lambda n, doc, raw: (401, {}, body))
    with pytest.raises(AuthenticationError) as info:
        push(MESSY)
    exc = info.value
    assert (exc.status, exc.type, exc.message, exc.attribute, exc.request_id) == (
        401,
        "Authentication Mismatch",
        "App key mismatch in params",
        "app_id",
        "rid-9",
    )
    assert "rid-9" in str(exc) and "Data API key" in str(exc)
