"""What users see of the lookups: keep_in_destination asking the app, df.moe.estimate_presence,
and push and sync results that say "accepted by the API" and what is expected to land."""

from __future__ import annotations

import pandas as pd
import pytest
from lookup_helpers import B64, KEY, WS, fake_emulator
from support import FakeClock

import moecohort as mc
from moecohort.emulator import Faults
from moecohort.matching import keep_in_destination as keep_in_export

USERS = [f"u{i}" for i in range(0, 300, 3)]  # 100 users


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


FRAME = pd.DataFrame(
    {"uid": [f"u{i}" for i in range(150)] + [None, "guest", "u3"], "ltv": range(153)}
)


# --------------------------------------------------------------------------- keep_in_destination
def test_keep_in_destination_asks_the_app_and_matches_the_export_filter(emu, app, clock):
    kept = mc.keep_in_destination(FRAME, app, clock=clock, progress=False)
    expected = keep_in_export(FRAME, USERS)
    pd.testing.assert_frame_equal(kept, expected)
    assert len(kept) == 51  # u0, u3, ... u147 and the repeated u3
    assert kept.attrs["moecohort_lookup"]["found"] == 50
    assert kept.attrs["moecohort_lookup"]["not_found"] == 100
    assert sum(e["identifiers"] for e in emu.request_log(endpoint="get_user")) == 150


def test_keep_in_destination_takes_a_profile_name(emu, app, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    mc.save_profile(app, "dest")
    kept = mc.keep_in_destination(FRAME, "dest", clock=clock, progress=False)
    assert len(kept) == 51


def test_keep_in_destination_refuses_too_many_ids_and_proposes_the_alternatives(emu, app):
    with pytest.raises(mc.TooManyLookupsError) as caught:
        mc.keep_in_destination(FRAME, app, max_lookups=100)
    text = str(caught.value)
    assert "150 distinct ids" in text and "max_lookups=100" in text
    assert "estimate_presence" in text and "export" in text
    assert emu.request_log(endpoint="get_user") == []
    big = pd.DataFrame({"uid": [f"x{i}" for i in range(10_001)]})
    with pytest.raises(mc.TooManyLookupsError, match="10,000"):
        mc.keep_in_destination(big, app)


def test_keep_in_destination_never_drops_ids_it_could_not_look_up(clock):
    with fake_emulator(clock, faults=Faults(error_500=1.0)) as emulator:
        emulator.add_workspace(WS, KEY, USERS)
        app = mc.AppCredentials(WS, KEY, base_url=emulator.url)
        with pytest.raises(mc.LookupFailedError, match="kept nothing") as caught:
            mc.keep_in_destination(FRAME, app, clock=clock, max_retries=1, progress=False)
    assert caught.value.result.n_failed == 150
    assert set(caught.value.result.failed["error_type"]) == {"ServerError"}


def test_keep_in_destination_arguments(app):
    with pytest.raises(mc.InputError, match="destination_col"):
        mc.keep_in_destination(FRAME, app, destination_col="ID")
    with pytest.raises(mc.InputError, match="only apply when the destination is an app"):
        mc.keep_in_destination(FRAME, ["u1"], max_retries=2)
    with pytest.raises(mc.InputError, match=r"use moecohort\.keep_in_destination"):
        keep_in_export(FRAME, app)
    assert mc.keep_in_destination(FRAME.iloc[0:0], app).empty
    assert mc.keep_in_destination(pd.DataFrame({"uid": [None, "guest"]}), app).empty
    with pytest.raises(mc.InputError, match=r"Column .ID. not found"):
        mc.keep_in_destination(FRAME, app, "ID")


def test_the_accessor(emu, app, clock):
    est = FRAME.moe.estimate_presence(app, clock=clock, progress=False)
    assert est.exact and (est.n_found, est.n_distinct) == (50, 150)  # fewer than the sample
    kept = FRAME.moe.keep_in_destination(app, clock=clock, progress=False)
    assert len(kept) == 51
    assert FRAME.moe.keep_in_destination(USERS).shape == kept.shape  # an export still works


# --------------------------------------------------------------------------- results
def test_a_push_result_shows_what_is_expected_to_land(emu, app, clock):
    est = mc.estimate_presence(FRAME, app, clock=clock, progress=False)
    result = mc.push_cohort(FRAME, app, "Landing", progress=False)
    assert "150 users accepted by the API (add) for cohort 'Landing'" in result.headline
    assert "expected" not in repr(result)  # nothing is known yet
    result.presence = est
    text = repr(result)
    assert "members accepted by the API" in text
    assert "; 50 expected to land" in result.headline
    assert "the destination knows 33.3% of these users" in text
    summary = result.summary()["count"]
    assert summary["members accepted by the API"] == 150
    assert summary["members expected to land"] == 50
    page = result._repr_html_()
    assert "members expected to land" in page and "accepted by the API" in page
    assert len(emu.cohort_members(WS, "Landing")) == 50  # what was expected did land


def test_an_estimate_shows_its_interval_in_the_result(app):
    ids = pd.DataFrame({"uid": [f"z{i}" for i in range(1000)]})
    est = mc.estimate_presence(ids, None, seed=1, lookup=lambda u: u[: len(u) // 4])
    plan = mc.push_cohort(ids, None, "Plan", dry_run=True)
    plan.presence = est
    expected = plan.expected()
    assert expected is not None and expected.low < expected.members < expected.high
    assert f"{expected.members:,} ({expected.low:,} to {expected.high:,}, 95%)" in repr(plan)
    assert "would push 1,000 users (add) to cohort 'Plan'" in plan.headline
    assert "expected to land" in plan.headline


def test_a_lookup_result_gives_the_exact_figure_and_removes_say_leave(emu, app, clock):
    lookup = mc.lookup_users(FRAME, app, clock=clock, progress=False)
    result = mc.push_cohort(FRAME, app, "Leaving", action="remove", progress=False)
    result.presence = lookup
    assert result.expected().members == 50 and result.expected().exact
    assert "members expected to leave" in repr(result)
    assert "; 50 expected to leave" in result.headline


def test_a_sync_result_says_accepted_and_expected(emu, app, clock, tmp_path):
    state = tmp_path / "sync.sqlite"
    result = mc.sync_cohort(FRAME, app, "Mirror", state=state, progress=False)
    assert "accepted by the API" in result.headline
    rows = result.summary()["count"]
    assert rows["adds accepted by the API"] == 150
    result.presence = mc.estimate_presence(FRAME, app, clock=clock, progress=False)
    assert result.summary()["count"]["members expected in the cohort"] == 50
    assert "50 members expected in the cohort" in result.headline


def test_views_never_show_the_key(emu, app, clock):
    est = mc.estimate_presence(FRAME, app, clock=clock, progress=False)
    result = mc.push_cohort(FRAME, app, "Keyless", progress=False)
    result.presence = est
    for text in (repr(est), est._repr_html_(), repr(result), result._repr_html_()):
        assert KEY not in text and B64 not in text
