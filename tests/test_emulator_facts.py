"""The emulator's fact sheet against the client's constants.

The emulator keeps its own copy of the API facts (``moecohort/emulator/facts.py``) so it
does not share the client's mistakes; the client keeps its own (``moecohort/_constants.py``),
mixed with client policy. This module is the one place that reads both. For every pair it
asserts equality, or asserts the difference and says why it is there. A change on either
side fails here with a message saying what to check: fix the side that is wrong, or, if the
difference is deliberate, write it down below.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

from moecohort import _constants as client
from moecohort.emulator import facts, samples
from moecohort.emulator.common import EMULATOR_VERSION

ROOT = Path(__file__).resolve().parent.parent
FACTS_DOC = ROOT / "docs" / "moengage-facts.md"

#: (emulator name, client name) for facts both sides must state identically.
SAME = [
    ("COHORT_SYNC_PATH", "COHORT_SYNC_PATH"),
    ("HEADER_APPKEY", "HEADER_APPKEY"),
    ("HEADER_PARTNER", "HEADER_PARTNER"),
    ("PARTNER_MOENGAGE", "PARTNER_MOENGAGE"),
    ("SUCCESS_MESSAGE", "SUCCESS_MESSAGE"),
    # Both include the parentheses partners report rejected, besides MoEngage's own list.
    ("FORBIDDEN_COHORT_NAME_CHARS", "FORBIDDEN_COHORT_NAME_CHARS"),
    ("RATE_WINDOW_S", "RATE_WINDOW_S"),
    # Looking users up (FACTS.md, "Looking users up"): the Get User API ...
    ("GET_USER_PATH", "GET_USER_PATH"),
    ("GET_USER_APP_ID_PARAM", "GET_USER_APP_ID_PARAM"),
    ("MAX_LOOKUP_IDENTIFIERS", "MAX_LOOKUP_IDENTIFIERS"),
    # the documented limit, which the client's default pace equals (a lower pace is a
    # setting, users_per_minute, not a different constant)
    ("LOOKUPS_PER_MINUTE", "LOOKUPS_PER_MINUTE"),
    # ... and the Custom Segments API's list, whose limits the client counts its calls against.
    ("CUSTOM_SEGMENTS_PATH", "CUSTOM_SEGMENTS_PATH"),
    ("SEGMENT_LIST_LIMITS", "SEGMENT_LIST_LIMITS"),
]

#: Every public name of facts.py, and of _constants.py, is accounted for in this module:
#: compared in SAME, compared by its own test below, or listed here as one-sided.
EMULATOR_ONLY = {
    # The 1,000 active segments cap: the emulator enforces it (400 for a new cohort over
    # the cap); the client never counts a workspace's segments, so it has no constant.
    "MAX_ACTIVE_SEGMENTS",
    # The Custom Segments API's get-by-id limits: the client only ever lists segments by
    # name (preflight), it never fetches one by id.
    "SEGMENT_GET_LIMITS",
    # Not documented; the emulator's own choice (facts.UNDOCUMENTED): the type/source of a
    # segment that cohort sync created. The client must never get a copy to rely on; it may
    # only report what the API shows.
    "COHORT_SEGMENT_TYPE",
    "COHORT_SEGMENT_SOURCE",
    "UNDOCUMENTED",
}
CLIENT_ONLY = {
    # Where the real API lives: the emulator serves on loopback and has no data centers.
    "DATA_CENTERS",
    "HOST_TEMPLATE",
}
COMPARED_BELOW = {
    # emulator name -> client name
    "MAX_BODY_BYTES": "MAX_BODY_BYTES",
    "REQUESTS_PER_MINUTE": "DEFAULT_REQUESTS_PER_MINUTE",
    "PLACEHOLDER_IDS": "PLACEHOLDER_IDS",
    "IDENTIFIER_TYPES": "LOOKUP_IDENTIFIER_TYPE",
}
#: Client names compared with something of the emulator outside facts.py.
CLIENT_COMPARED_ELSEWHERE = {
    "SAMPLE_SOURCE_FILE",
    "SAMPLE_DESTINATION_FILE",
    "VERSION",
    "LOOKUP_LIMIT_BREACHED",
    "SUSPENDED_TYPES",
}

#: What pandas makes of missing values (str(float("nan")) and str(pd.NA), lower-cased).
PANDAS_ARTEFACTS = frozenset({"nan", "<na>"})


def _public(module: object) -> set[str]:
    return {name for name in vars(module) if name.isupper() and not name.startswith("_")}


@pytest.mark.parametrize(("emulator_name", "client_name"), SAME, ids=[e for e, _ in SAME])
def test_same_fact_on_both_sides(emulator_name: str, client_name: str) -> None:
    ours = getattr(facts, emulator_name)
    theirs = getattr(client, client_name)
    assert ours == theirs, (
        f"emulator facts.{emulator_name} = {ours!r} but the client's _constants.{client_name} "
        f"= {theirs!r}: check FACTS.md and fix the side that is wrong (the emulator would "
        "otherwise reject what the client sends, or let through what MoEngage rejects)"
    )


def test_body_limit_equal_for_different_reasons() -> None:
    # FACTS.md says "128KB" without saying 128,000 or 131,072 bytes. The emulator enforces
    # the strictest reading (128,000) so that a client relying on the looser one is caught;
    # the client packs bodies to 128,000 so that either reading accepts them. Same number,
    # two reasons: if the client ever packs larger bodies, the emulator must still say 413.
    assert facts.MAX_BODY_BYTES == 128_000, (
        "the emulator must enforce the strictest reading of FACTS.md's '128KB': 128,000 bytes"
    )
    assert client.MAX_BODY_BYTES <= facts.MAX_BODY_BYTES, (
        f"the client packs bodies up to {client.MAX_BODY_BYTES} bytes, more than the "
        f"{facts.MAX_BODY_BYTES} the emulator (and possibly MoEngage) accepts: lower "
        "_constants.MAX_BODY_BYTES"
    )
    assert client.MAX_BODY_BYTES == facts.MAX_BODY_BYTES, (
        f"the client packs bodies up to {client.MAX_BODY_BYTES} bytes, less than the "
        f"{facts.MAX_BODY_BYTES} MoEngage documents: if deliberate, say why here"
    )


def test_rate_limit_is_the_documented_one_on_both_sides() -> None:
    # The emulator enforces the documented limit; the client paces itself at it by
    # default (DEFAULT_: a user may configure a lower pace). Equal today, because the
    # client's default is the documented limit, not a margin below it.
    assert facts.REQUESTS_PER_MINUTE == 300, "FACTS.md: 300 requests per minute"
    assert client.DEFAULT_REQUESTS_PER_MINUTE == facts.REQUESTS_PER_MINUTE, (
        f"the client's default pace ({client.DEFAULT_REQUESTS_PER_MINUTE}/min) differs from the "
        f"documented limit the emulator enforces ({facts.REQUESTS_PER_MINUTE}/min): a faster "
        "pace gets 429s; a slower one is a choice to write down here"
    )


def test_placeholders_client_adds_exactly_the_pandas_artefacts() -> None:
    # The emulator holds MoEngage's list only. The client also treats what pandas makes of
    # missing values ("nan" from NaN, "<na>" from pd.NA) as anonymous, because it reads ids
    # through pandas; the emulator reads CSV cells, which never turn into "nan".
    assert not (facts.PLACEHOLDER_IDS & PANDAS_ARTEFACTS), (
        "the emulator's placeholder list holds pandas artefacts: it must be MoEngage's list only"
    )
    extra = client.PLACEHOLDER_IDS - facts.PLACEHOLDER_IDS
    missing = facts.PLACEHOLDER_IDS - client.PLACEHOLDER_IDS
    assert not missing, (
        f"the client does not treat {sorted(missing)} as anonymous, though MoEngage never "
        "accepts them (emulator facts.PLACEHOLDER_IDS): add them to _constants.PLACEHOLDER_IDS"
    )
    assert extra == PANDAS_ARTEFACTS, (
        f"the client's placeholders beyond MoEngage's list are {sorted(extra)}, expected "
        f"exactly the pandas artefacts {sorted(PANDAS_ARTEFACTS)}: a MoEngage placeholder "
        "belongs in emulator facts.py too (check FACTS.md, Identifiers); a new client-only "
        "value needs its reason written here"
    )


def test_emulator_placeholders_are_exactly_the_documented_list() -> None:
    # docs/moengage-facts.md is the repository's copy of FACTS.md.
    text = " ".join(FACTS_DOC.read_text(encoding="utf-8").split())
    match = re.search(r"`customer_id` / `uid` must not be any of: (.*?)\.(?: -|$)", text)
    assert match, f"{FACTS_DOC.name}: the Identifiers list moved; update this test's pattern"
    documented = {v.strip() for v in match.group(1).split(",")}
    documented = {"" if v == "''" else v for v in documented}
    assert documented == facts.PLACEHOLDER_IDS, (
        f"emulator facts.PLACEHOLDER_IDS differs from {FACTS_DOC.name}: "
        f"only in facts.py {sorted(facts.PLACEHOLDER_IDS - documented)}, "
        f"only in the doc {sorted(documented - facts.PLACEHOLDER_IDS)}"
    )


def test_sample_file_names_are_the_same() -> None:
    # Not API facts: the demo's two exports in data/samples. The emulator names them itself
    # (moecohort.emulator.samples); the client's demo reads the same two files.
    assert (samples.SOURCE_FILE, samples.DEST_FILE) == (
        client.SAMPLE_SOURCE_FILE,
        client.SAMPLE_DESTINATION_FILE,
    ), "the emulator would register the demo workspaces from other files than the client reads"
    for name in (samples.SOURCE_FILE, samples.DEST_FILE):
        assert (ROOT / "data" / "samples" / name).is_file(), f"data/samples/{name} is missing"


def test_version_comes_from_the_installed_distribution() -> None:
    # The emulator reads its version from the installed distribution's metadata instead of
    # importing the client; hatch builds that metadata from _constants.VERSION.
    try:
        installed = metadata.version("moecohort")
    except metadata.PackageNotFoundError:
        assert EMULATOR_VERSION == "0+unknown"
        return
    assert installed == EMULATOR_VERSION
    assert installed == client.VERSION, (
        f"the installed moecohort is {installed} but _constants.VERSION is {client.VERSION}: "
        "reinstall the package (pip install -e .) so the emulator's Server header agrees"
    )


def test_lookup_facts_are_the_documented_ones() -> None:
    # FACTS.md, "Looking users up": the numbers the emulator enforces, checked against the
    # text so that a change to one side is seen.
    assert facts.MAX_LOOKUP_IDENTIFIERS == 20, "FACTS.md: at most 20 identifiers per request"
    assert facts.LOOKUPS_PER_MINUTE == 1000, "FACTS.md: 1,000 users per minute"
    assert facts.IDENTIFIER_TYPES == ("customer_id", "id")
    assert facts.SEGMENT_LIST_LIMITS == ((60.0, 50), (3600.0, 200), (86400.0, 1000))
    assert facts.SEGMENT_GET_LIMITS == ((60.0, 100), (3600.0, 1000), (86400.0, 4000))
    assert facts.GET_USER_PATH == "/v1/customers/export"
    assert facts.CUSTOM_SEGMENTS_PATH == "/v3/custom-segments"


def test_the_client_looks_users_up_by_uid() -> None:
    # FACTS.md documents two identifier types; the client sends uids, so it uses the one for
    # uids (customer_id), never MoEngage's internal id.
    assert client.LOOKUP_IDENTIFIER_TYPE in facts.IDENTIFIER_TYPES
    assert client.LOOKUP_IDENTIFIER_TYPE == facts.IDENTIFIER_TYPES[0] == "customer_id"


def test_error_types_the_client_acts_on_are_the_emulators() -> None:
    # Not in facts.py (the emulator keeps its error wording next to its protocol code): the
    # 400 type that stops a lookup, and the 403 types that mean "suspended" rather than
    # "the Get User API is not enabled".
    from moecohort.emulator import protocol, userapi

    assert client.LOOKUP_LIMIT_BREACHED == userapi.TYPE_LIMIT_BREACHED == "LimitBreached"
    assert set(protocol.SUSPENSION_MESSAGES) == client.SUSPENDED_TYPES, (
        "the client and the emulator disagree on the 403 types of a suspended account"
    )
    # The emulator's answer for a workspace without the Get User API must not read as a
    # suspension: the client would then blame the account instead of the missing API.
    assert userapi.TYPE_NOT_ENABLED not in client.SUSPENDED_TYPES


def test_undocumented_choices_are_marked_and_not_documented_values() -> None:
    # What facts.py marks as the emulator's own choice exists there, is emulator-only (no
    # client constant may copy it), and differs from every value FACTS.md shows, so a client
    # that matched on a documented value would not pass by accident.
    assert facts.UNDOCUMENTED.issubset(_public(facts))
    assert facts.UNDOCUMENTED.issubset(EMULATOR_ONLY)
    assert not facts.UNDOCUMENTED & _public(client)
    documented_values = {"ELASTIC_SEARCH", "API"}
    for name in facts.UNDOCUMENTED:
        assert getattr(facts, name) not in documented_values, name


def test_every_constant_is_accounted_for() -> None:
    emulator_names = _public(facts)
    accounted = {e for e, _ in SAME} | EMULATOR_ONLY | set(COMPARED_BELOW)
    assert emulator_names == accounted, (
        f"emulator facts not compared with the client: {sorted(emulator_names - accounted)}; "
        f"compared but gone: {sorted(accounted - emulator_names)}. Add each new fact to SAME, "
        "to its own test, or to EMULATOR_ONLY with the reason"
    )
    assert emulator_names == set(facts.__all__), "facts.__all__ is out of date"
    client_names = _public(client)
    client_accounted = (
        {c for _, c in SAME}
        | CLIENT_ONLY
        | set(COMPARED_BELOW.values())
        | CLIENT_COMPARED_ELSEWHERE
    )
    assert client_names == client_accounted, (
        f"client constants not compared with the emulator: "
        f"{sorted(client_names - client_accounted)}; compared but gone: "
        f"{sorted(client_accounted - client_names)}. If it is an API fact, give the emulator "
        "its own copy in facts.py and compare them here; if it is client policy, add it to "
        "CLIENT_ONLY with the reason"
    )
