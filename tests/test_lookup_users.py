"""lookup_users against the emulator's Get User API: what is found, the 20-identifier and
1,000-users-a-minute limits (every attempt counted, retries included, on a fake clock),
tricky ids, every id accounted for, and each error with a clear message."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import responses
from lookup_helpers import B64, KEY, WS, RecordingSession, busiest_window, fake_emulator
from support import FakeClock

import moecohort as mc
from moecohort._constants import MAX_BODY_BYTES
from moecohort.emulator import Emulator, Faults

FAST = 1_000_000  # users a minute, for real-time runs against an emulator without the limit


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock):
    """An emulator on the fake clock, production limits, holding users u0..u2499."""
    users = {
        f"u{i}": {"name": f"User {i}", "plan": "gold" if i % 3 else "free"} for i in range(2500)
    }
    with fake_emulator(clock, seed=11) as emulator:
        emulator.add_workspace(WS, KEY, users)
        yield emulator


def app_of(emulator: Emulator, key: str = KEY, ws: str = WS) -> mc.AppCredentials:
    return mc.AppCredentials(ws, key, base_url=emulator.url)


def look(
    emulator: Emulator, ids, clock: FakeClock, **kwargs
) -> tuple[mc.LookupResult, RecordingSession]:
    session = kwargs.pop("session", None) or RecordingSession(clock)
    kwargs.setdefault("max_in_flight", 1)
    result = mc.lookup_users(
        ids, app_of(emulator), clock=clock, session=session, progress=False, **kwargs
    )
    return result, session


# --------------------------------------------------------------------------- the limits
def test_at_most_20_ids_a_request_and_1000_users_a_minute(emu, clock):
    ids = [f"u{i}" for i in range(0, 5000, 2)]  # 2,500 ids, half of them users
    result, session = look(emu, ids, clock)
    sent = session.lookups()
    assert len(sent) == result.requests == result.batches == 125  # 2,500 / 20, no retry
    assert max(s.identifiers for s in sent) == 20
    assert busiest_window(sent) == (50, 1000)  # at the limit, never above
    # ... and the pace is the limit, not far below it: 125 requests 1.2 s apart, plus the
    # short pauses the x-ratelimit headers ask for at the end of each of the server's windows.
    span = sent[-1].at - sent[0].at
    assert 124 * 1.2 <= span <= 124 * 1.2 + 3 * 2.0
    log = emu.request_log(endpoint="get_user")
    assert [e["status"] for e in log] == [200] * 125  # never a 429
    assert result.n_found == 1250 and result.n_not_found == 1250 and result.ok
    assert result.elapsed_s == pytest.approx(span, abs=1e-6)  # on the fake clock


def test_retries_are_counted_in_the_limits(clock, fast_backoff):
    # Retries come back at once (no Retry-After wait, millisecond backoff): the pacer alone
    # holds them back, and the busiest minute is exactly at the limit, retries included.
    faults = Faults(error_500=0.15, rate_429=0.15, drop_before=0.05, drop_after=0.05, retry_after=0)
    with Emulator(clock=clock, seed=5, faults=faults) as emulator:
        emulator.add_workspace(WS, KEY, [f"u{i}" for i in range(600)])
        ids = [f"u{i}" for i in range(1200)]
        result, session = look(emulator, ids, clock, max_retries=20)
    sent = session.lookups()
    assert result.retries > 10  # the faults did bite
    assert len(sent) == result.requests == 60 + result.retries
    assert max(s.identifiers for s in sent) <= 20
    assert busiest_window(sent) == (50, 1000)
    assert result.ok and result.n_found == 600 and result.n_not_found == 600
    assert result.accounted == result.input_rows == 1200


def test_the_servers_lower_limit_is_honoured(clock):
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, ["u1"], lookups_per_minute=100)  # 5 requests a minute
        result, session = look(emulator, [f"x{i}" for i in range(200)], clock)
        statuses = [e["status"] for e in emulator.request_log(endpoint="get_user")]
    assert result.ok and result.n_not_found == 200
    assert statuses == [200] * 10  # the first answer announces the limit; then it is kept
    assert busiest_window(session.lookups()) == (5, 100)


def test_requests_hold_at_most_128000_bytes(clock):
    long_ids = [f"{i:04d}" + "x" * 9_000 for i in range(40)]  # 20 of them would be 180 kB
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, long_ids[::2])
        result, session = look(emulator, long_ids, clock)
    sent = session.lookups()
    assert all(s.nbytes <= MAX_BODY_BYTES for s in sent)
    assert max(s.identifiers for s in sent) < 20 and len(sent) > 2
    assert result.ok and result.found_ids == set(long_ids[::2])


def test_an_id_too_large_for_a_request_is_reported_not_sent(clock):
    huge = "h" * 130_000
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, ["u1"])
        result, session = look(emulator, ["u1", huge, "u2"], clock)
    assert result.n_found == 1 and result.not_found == ["u2"]
    assert result.failed["uid"].tolist() == [huge]
    assert result.failed["error_type"].tolist() == ["IdTooLarge"]
    assert all(huge not in (s.url or "") for s in session.sent)
    assert result.accounted == 3 and not result.ok


# --------------------------------------------------------------------------- what is found
TRICKY_USERS = {
    "007": {"name": "Bond"},
    "7 ": None,
    "ÄÖü-ß": None,
    "名前": None,
    "user with spaces": None,
    "emoji 😀": None,
    "e\u0301": None,  # e + combining accent (NFD)
    "L" + "o" * 4000: None,
    "1e3": None,
    'quote " and \\ backslash': None,
    "1004821": None,
}
TRICKY_QUERIES = [
    *TRICKY_USERS,
    "7",  # not "007", not "7 "
    " 7",
    "00 7",
    "äöü-ß",  # case differs
    "é",  # NFC: not the NFD user
    "user  with spaces",
    "USER WITH SPACES",
    "L" + "o" * 3999,
    "1000",
    "1004821 ",
]


def test_exact_lookups_agree_with_the_emulators_truth(clock):
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, TRICKY_USERS)
        result, _ = look(emulator, TRICKY_QUERIES, clock, fields=["name"])
        truth = {u["customer_id"] for u in emulator.users(WS)}
    assert result.found_ids == set(TRICKY_QUERIES) & truth == set(TRICKY_USERS)
    assert set(result.not_found) == set(TRICKY_QUERIES) - truth
    assert result.found["uid"].tolist() == list(TRICKY_USERS)  # in the order asked
    assert result.found.set_index("uid").loc["007", "name"] == "Bond"
    assert result.ok and result.accounted == len(TRICKY_QUERIES)


def test_ids_are_canonical_as_for_a_push(clock):
    frame = pd.DataFrame({"ID": [1004821.0, 7.0, None, 1004821.0, 2.0]})
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, ["1004821", "7"])
        result, _ = look(emulator, frame, clock, id_col="ID")
    assert result.found_ids == {"1004821", "7"}
    assert (result.skipped_anonymous, result.skipped_duplicates) == (2, 1)  # None, "2"
    assert result.anonymous_by_reason["placeholder"] == 1
    assert result.column == "ID" and result.accounted == result.input_rows == 5


def test_fields_and_attributes(emu, clock):
    result, _ = look(emu, ["u1", "u3", "nobody"], clock, fields=["plan", "name", "missing"])
    assert list(result.found.columns) == ["uid", "id", "plan", "name"]
    assert result.found["plan"].tolist() == ["gold", "free"]
    every, _ = look(emu, ["u1"], clock)  # fields=None: every attribute the API returns
    assert {"uid", "id", "name", "plan"} <= set(every.found.columns)
    with pytest.raises(mc.InputError, match="fields"):
        look(emu, ["u1"], clock, fields="name")


def test_streamed_inputs(emu, clock, tmp_path):
    path = tmp_path / "ids.csv"
    pd.DataFrame({"uid": ["u1", "u2", "zz", "u1", "guest"]}).to_csv(path, index=False)
    from_file, _ = look(emu, str(path), clock)
    chunks = (pd.DataFrame({"uid": [f"u{i}", f"q{i}"]}) for i in range(30))
    from_chunks, _ = look(emu, chunks, clock)
    assert from_file.found_ids == {"u1", "u2"} and from_file.not_found == ["zz"]
    assert (from_file.skipped_duplicates, from_file.skipped_anonymous) == (1, 1)
    assert from_chunks.n_found == 30 and from_chunks.n_not_found == 30


def test_progress_callback_counts_every_id(emu, clock):
    seen: list[tuple[int, int]] = []
    mc.lookup_users(
        [f"u{i}" for i in range(45)],
        app_of(emu),
        clock=clock,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[0] == (0, 45) and seen[-1] == (45, 45)


def test_real_time_run_with_a_raised_limit():
    with Emulator() as emulator:
        emulator.add_workspace(WS, KEY, ["u1", "u2"], lookups_per_minute=None)
        result = mc.lookup_users(
            ["u1", "u2", "u3"] * 50 + [f"x{i}" for i in range(200)],
            app_of(emulator),
            users_per_minute=FAST,
            progress=False,
        )
    assert result.n_found == 2 and result.n_not_found == 201 and result.requests == 11


# --------------------------------------------------------------------------- errors
def test_wrong_key_stops_after_one_request(emu, clock):
    session = RecordingSession(clock)
    with pytest.raises(mc.AuthenticationError) as caught:
        mc.lookup_users(
            [f"u{i}" for i in range(100)],
            mc.AppCredentials(WS, "not-the-key-0000", base_url=emu.url),
            clock=clock,
            session=session,
            progress=False,
        )
    err = caught.value
    assert err.status == 401 and len(session.sent) == 1
    text = str(err)
    assert "Data API key" in text
    assert "MoEngage enables the Get User API per workspace on request" in text
    result = err.result
    assert isinstance(result, mc.LookupResult) and result.accounted == 100
    assert set(result.failed["error_type"]) == {"Unauthorized", "NotSent"}


def test_workspace_without_the_get_user_api(clock):
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, ["u1"], lookups=False)
        with pytest.raises(mc.LookupsNotEnabledError) as caught:
            look(emulator, [f"u{i}" for i in range(50)], clock)
        assert len(emulator.request_log(endpoint="get_user")) == 1
    err = caught.value
    assert err.status == 403 and isinstance(err, mc.APIError)
    assert not isinstance(err, mc.AccountSuspendedError)
    assert "MoEngage enables the Get User API per workspace on request" in str(err)
    assert WS in str(err)


def test_suspended_workspace(clock):
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, ["u1"], suspended="Account Temporarily Suspended")
        with pytest.raises(mc.AccountSuspendedError, match="Account Temporarily Suspended"):
            look(emulator, ["u1", "u2"], clock)


@pytest.mark.parametrize(
    ("fault", "error_type", "message"),
    [("rate_429", "RateLimitError", "Rate limit exceeded"), ("error_500", "ServerError", None)],
)
def test_answers_failing_after_every_retry_are_reported(clock, fault, error_type, message):
    with fake_emulator(clock, faults=Faults(**{fault: 1.0})) as emulator:
        emulator.add_workspace(WS, KEY, ["u1"])
        result, session = look(emulator, [f"u{i}" for i in range(30)], clock, max_retries=2)
    assert len(session.sent) == 2 * 3  # two requests, each tried three times
    assert not result.ok and result.n_failed == 30 and result.accounted == 30
    assert set(result.failed["error_type"]) == {error_type}
    if message:
        assert set(result.failed["message"]) == {message}
    with pytest.raises(
        mc.LookupFailedError, match=f"30 of 30 ids could not be looked up .*{error_type}"
    ):
        result.raise_for_status()


def test_limit_breached_stops_with_a_clear_message(rsps, clock):
    app = mc.AppCredentials(WS, KEY, "01")
    body = {
        "status": "fail",
        "error": {
            "type": "LimitBreached",
            "attribute": "users",
            "message": "max limit allowed is 10",
            "request_id": "rid-1",
        },
    }
    rsps.add(
        responses.POST, "https://api-01.moengage.com/v1/customers/export", json=body, status=400
    )
    with pytest.raises(mc.APIError) as caught:
        mc.lookup_users([f"u{i}" for i in range(60)], app, clock=clock, progress=False)
    err = caught.value
    assert (err.status, err.type, err.request_id) == (400, "LimitBreached", "rid-1")
    assert "max limit allowed is 10" in str(err) and "at most 20 identifiers" in str(err)
    assert len(rsps.calls) == 1
    request = rsps.calls[0].request
    assert request.url.endswith(f"/v1/customers/export?app_id={WS}")
    assert "MOE-APPKEY" not in request.headers  # not documented for this API
    assert err.result.accounted == 60


def test_the_key_never_shows(clock, caplog):
    caplog.set_level(logging.DEBUG, logger="moecohort")
    faults = Faults(error_500=0.3)
    with fake_emulator(clock, faults=faults, seed=2) as emulator:
        emulator.add_workspace(WS, KEY, ["u1"])
        result, _ = look(emulator, ["u1", "u2", "u3"], clock)
        with pytest.raises(mc.AuthenticationError) as caught:
            mc.lookup_users(
                ["u1"], mc.AppCredentials(WS, KEY + "x", base_url=emulator.url), clock=clock
            )
        emulator.add_workspace("OFF", KEY, ["u1"], lookups=False)
        with pytest.raises(mc.LookupsNotEnabledError) as off:
            mc.lookup_users(["u1"], app_of(emulator, ws="OFF"), clock=clock, progress=False)
    texts = [repr(result), result._repr_html_(), str(result.summary()), result.found.to_string()]
    for exc in (caught.value, off.value):
        texts += [str(exc), repr(exc), repr(exc.result), exc.result._repr_html_()]
    texts += [caplog.text, *(repr(r.args) for r in caplog.records)]
    assert caplog.records
    for text in texts:
        assert KEY not in text and B64 not in text


def test_views_escape_what_the_api_returns(clock):
    evil = "<script>alert(1)</script>"
    with fake_emulator(clock) as emulator:
        emulator.add_workspace(WS, KEY, {evil: {"name": "<b>bold</b>"}})
        result, _ = look(emulator, [evil, "<i>x</i>"], clock)
    page = result._repr_html_()
    assert "<script>" not in page and "<b>bold" not in page and "<i>x" not in page
    assert "&lt;script&gt;" in page
    assert "LookupResult: 1 of 2 users found" in repr(result)


@pytest.mark.usefixtures("sigint")
def test_ctrl_c_stops_the_lookup_and_accounts_for_every_id():
    # The interrupt is sent from the progress callback, once the first request is answered;
    # the next request would only start 1.2 s later (the real pace), and is never sent.
    import os
    import signal

    def progress(done: int, total: int) -> None:
        if done:
            os.kill(os.getpid(), signal.SIGINT)

    with Emulator() as emulator:
        emulator.add_workspace(WS, KEY, ["u1", "u25"])
        result = mc.lookup_users([f"u{i}" for i in range(100)], app_of(emulator), progress=progress)
        sent = emulator.request_log(endpoint="get_user")
    assert result.stopped_by == "interrupted by the user" and not result.ok
    assert len(sent) == 1 and result.found_ids == {"u1"} and result.n_not_found == 19
    assert set(result.failed["error_type"]) == {"NotSent"} and result.n_failed == 80
    assert result.accounted == 100
