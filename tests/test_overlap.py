"""overlap(), OverlapReport and keep_in_destination(), with every engine.

Expected results come from the issue's rules, from plain Python set arithmetic (the property
test) or from data/samples/README.md (the sample files). Runs under pandas 2.2 and 3.x.
"""

from __future__ import annotations

import importlib
import io
import itertools
import logging
import math
import sys
import unicodedata

import duckdb  # noqa: F401  (the test extra installs it: every engine is tested)
import numba  # noqa: F401
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moecohort import DEFAULT_PLACEHOLDERS, InputError, OverlapReport, keep_in_destination, overlap
from moecohort.ids import BLANK, MISSING, OK, PLACEHOLDER, classify
from moecohort.matching.near_miss import near_miss_changes, normalise_for_near_miss

ENGINES = ["pyarrow", "duckdb", "numba"]
# Each engine also as it runs on large inputs (parallel parts), forced on small ones.
VARIANTS = [*ENGINES, *(f"{e}-parallel" for e in ENGINES)]
overlap_module = importlib.import_module("moecohort.matching.compute")
kernels = importlib.import_module("moecohort.matching.engines.numba")
NFC_E = unicodedata.normalize("NFC", "é")
NFD_E = unicodedata.normalize("NFD", "é")


def pairs(report: OverlapReport) -> list[tuple[str, str, str]]:
    nm = report.near_misses
    columns = (nm["source_id"].tolist(), nm["destination_id"].tolist(), nm["differs_by"].tolist())
    return list(zip(*columns, strict=True))


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def overlap_with(variant: str, source, destination, **kwargs) -> OverlapReport:
    """overlap() with one engine; "-parallel" runs it the way it runs on large inputs
    (split into parts handled by three workers) whatever the size."""
    engine, _, parallel = variant.partition("-")
    with pytest.MonkeyPatch.context() as mp:
        if parallel:
            mp.setattr(overlap_module, "PARTITION_ROWS", 1)
            mp.setattr(overlap_module, "_workers", lambda: 3)
        return overlap(source, destination, engine=engine, **kwargs)


# --------------------------------------------------------------------------- basics
def test_partition_and_order_of_first_appearance(engine):
    src = ["c", "a", "b", "a", "x"]
    dst = ["b", "y", "c", "z", "y"]
    r = overlap(src, dst, engine=engine)
    assert list(r.in_both) == ["c", "b"]
    assert list(r.only_source) == ["a", "x"]
    assert list(r.only_destination) == ["y", "z"]
    assert isinstance(r.in_both, pd.Index)
    assert (r.n_in_both, r.n_only_source, r.n_only_destination) == (2, 2, 2)
    assert (r.source.rows, r.source.anonymous, r.source.duplicates, r.source.unique) == (5, 0, 1, 4)
    assert (r.destination.rows, r.destination.duplicates, r.destination.unique) == (5, 1, 4)
    assert r.match_rate == pytest.approx(2 / 4)


def test_anonymous_ids_are_in_no_set_and_counted_per_side(engine):
    src = ["u1", None, "guest", " ", "NULL", "u2", np.nan]
    dst = ["u1", "guest", "unknown", "", "u3", None]
    r = overlap(src, dst, engine=engine)
    assert list(r.in_both) == ["u1"]
    assert list(r.only_source) == ["u2"]
    assert list(r.only_destination) == ["u3"]
    assert r.source.anonymous == 5
    assert r.destination.anonymous == 4
    everything = set(r.in_both) | set(r.only_source) | set(r.only_destination)
    assert not everything & {"guest", "unknown", "NULL", "", " "}


def test_custom_placeholders(engine):
    r = overlap(["test", "guest"], ["TEST", "guest"], placeholders={"test"}, engine=engine)
    assert list(r.in_both) == ["guest"]
    assert r.source.anonymous == r.destination.anonymous == 1


def test_duplicate_counts(engine):
    src = pd.DataFrame({"uid": ["a", "a", "a", "b", None, None, "guest", "guest"]})
    dst = pd.DataFrame({"uid": ["b", "b", "c"]})
    r = overlap(src, dst, engine=engine)
    # Anonymous rows are not duplicates: they are counted as anonymous only.
    assert (r.source.rows, r.source.anonymous, r.source.duplicates, r.source.unique) == (8, 4, 2, 2)
    assert (r.destination.duplicates, r.destination.unique) == (1, 2)


def test_float_ids_match_text_ids(engine):
    src = pd.DataFrame({"ID": [1004821.0, np.nan, 1004822.0, 0.0]})
    dst = pd.DataFrame({"ID": ["1004821", "1004823", None]})
    r = overlap(src, dst, on="ID", engine=engine)
    assert list(r.in_both) == ["1004821"]
    assert list(r.only_source) == ["1004822"]
    assert list(r.only_destination) == ["1004823"]


def test_int_nullable_and_categorical_sides(engine):
    src = pd.Series([1004821, None, 7], dtype="Int64")
    dst = pd.Series(["7", "1004821", "8"], dtype="category")
    r = overlap(src, dst, engine=engine)
    assert list(r.in_both) == ["1004821", "7"]
    assert list(r.only_destination) == ["8"]


def test_matching_is_exact(engine):
    r = overlap(["ABC", " x1", f"jos{NFC_E}"], ["abc", "x1", f"jos{NFD_E}"], engine=engine)
    assert r.n_in_both == 0
    assert r.n_only_source == r.n_only_destination == 3


def test_on_pair_of_columns(engine):
    src = pd.DataFrame({"ID": [1.0e6, 2.0e6], "x": [1, 2]})
    dst = pd.DataFrame({"customer_id": ["2000000", "3000000"]})
    r = overlap(src, dst, on=("ID", "customer_id"), engine=engine)
    assert list(r.in_both) == ["2000000"]
    assert r.in_both.name == "ID"
    assert r.only_destination.name == "customer_id"


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        pytest.param(pd.Series(["a", "b"]), pd.Series(["b", "c"]), id="series"),
        pytest.param(["a", "b"], ["b", "c"], id="lists"),
        pytest.param(("a", "b"), pd.Index(["b", "c"]), id="tuple-index"),
        pytest.param(np.array(["a", "b"]), np.array(["b", "c"], dtype=object), id="numpy"),
        pytest.param(pd.DataFrame({"uid": ["a", "b"]}), ["b", "c"], id="frame-list"),
        pytest.param({"a": 1, "b": 2}.keys(), pd.DataFrame({"uid": ["b", "c"]}), id="keys-frame"),
    ],
)
def test_sides_may_be_frames_series_or_iterables(source, destination, engine):
    r = overlap(source, destination, engine=engine)
    assert (list(r.in_both), list(r.only_source), list(r.only_destination)) == (
        ["b"],
        ["a"],
        ["c"],
    )


def test_a_generator_side(engine):
    r = overlap((str(i) for i in range(10, 13)), ["11", "12", "13"], engine=engine)
    assert list(r.in_both) == ["11", "12"]


@pytest.mark.parametrize(
    ("source", "destination", "sizes"),
    [
        pytest.param([], [], (0, 0, 0), id="both-empty"),
        pytest.param(["a"], [], (0, 1, 0), id="destination-empty"),
        pytest.param([], ["a"], (0, 0, 1), id="source-empty"),
        pytest.param([None, "guest"], [" ", "0"], (0, 0, 0), id="all-anonymous"),
        pytest.param(
            pd.DataFrame({"uid": pd.Series([], dtype=object)}),
            pd.DataFrame({"uid": pd.Series([], dtype="float64")}),
            (0, 0, 0),
            id="empty-frames",
        ),
    ],
)
def test_empty_sides(source, destination, sizes, engine):
    r = overlap(source, destination, engine=engine)
    assert (r.n_in_both, r.n_only_source, r.n_only_destination) == sizes
    assert r.match_rate == 0.0
    assert len(r.near_misses) == 0
    assert list(r.near_misses.columns) == ["source_id", "destination_id", "differs_by"]
    assert r.summary().shape == (7, 2)
    assert "OverlapReport" in repr(r)
    assert "<table" in r._repr_html_()


def test_missing_column_lists_the_columns_of_that_side():
    src = pd.DataFrame({"uid": ["a"], "plan": ["x"]})
    dst = pd.DataFrame({"customer_id": ["a"], "tier": ["gold"]})
    with pytest.raises(InputError) as info:
        overlap(src, dst, on="uid")
    message = str(info.value)
    assert "'uid'" in message
    assert "'customer_id'" in message
    assert "'tier'" in message
    with pytest.raises(InputError, match="'plan'"):
        overlap(src, dst, on=("user", "customer_id"))


def test_unusable_ids_raise_input_error():
    with pytest.raises(InputError, match=r"'uid'.*1\.5"):
        overlap(pd.DataFrame({"uid": [1.5]}), ["a"])
    with pytest.raises(ValueError, match="boolean"):
        overlap(["a"], pd.Series([True]))


def test_unknown_engine_is_refused():
    with pytest.raises(InputError, match="engine"):
        overlap(["a"], ["a"], engine="polars")


# --------------------------------------------------------------------------- near misses
def test_near_miss_kinds_are_reported_not_merged(engine):
    src = [" x1", "ABC", f"jos{NFC_E}", "Z9", "same"]
    dst = ["x1", "abc", f"jos{NFD_E}", "z9 ", "same"]
    r = overlap(src, dst, engine=engine)
    assert list(r.in_both) == ["same"]
    assert sorted(pairs(r)) == sorted(
        [
            (" x1", "x1", "whitespace"),
            ("ABC", "abc", "case"),
            (f"jos{NFC_E}", f"jos{NFD_E}", "unicode"),
            ("Z9", "z9 ", "whitespace+case"),
        ]
    )
    # Every near miss stays apart: the source id only in the source, the other only in dest.
    for s, d, _ in pairs(r):
        assert s in set(r.only_source)
        assert d in set(r.only_destination)


def test_near_misses_need_both_sides(engine):
    # Variants that live on one side only are not near misses between the apps.
    r = overlap(["abc", "ABC", " abc"], ["zzz"], engine=engine)
    assert len(r.near_misses) == 0


def test_no_near_miss_when_both_variants_match_exactly(engine):
    r = overlap(["abc", "ABC"], ["ABC", "abc"], engine=engine)
    assert r.n_in_both == 2
    assert len(r.near_misses) == 0


def test_near_miss_next_to_an_exact_match(engine):
    # "abc" matched exactly; the destination's "ABC " would only match after folding.
    r = overlap(["abc"], ["abc", "ABC "], engine=engine)
    assert pairs(r) == [("abc", "ABC ", "whitespace+case")]


def test_near_misses_can_be_switched_off(engine):
    r = overlap(["ABC"], ["abc"], near_misses=False, engine=engine)
    assert len(r.near_misses) == 0
    assert list(r.near_misses.columns) == ["source_id", "destination_id", "differs_by"]


def test_near_misses_ignore_anonymous_ids(engine):
    r = overlap(["Guest", " null"], ["guest", "NULL"], engine=engine)
    assert len(r.near_misses) == 0


def test_near_misses_do_not_depend_on_unrelated_ids(engine):
    alone = overlap(["123\x1f"], ["123"], engine=engine)
    with_accent = overlap(["123\x1f", f"jos{NFC_E}"], ["123"], engine=engine)
    assert pairs(alone) == pairs(with_accent) == [("123\x1f", "123", "whitespace")]


# --------------------------------------------------------------------------- report faces
def test_summary_frame(engine):
    r = overlap(
        ["a", "a", "b", None, " B"], ["b", "c", "guest"], labels=("App A", "App B"), engine=engine
    )
    summary = r.summary()
    assert list(summary.columns) == ["App A", "App B"]
    assert summary.to_dict("index") == {
        "rows": {"App A": 5, "App B": 3},
        "anonymous rows": {"App A": 1, "App B": 1},
        "duplicate rows": {"App A": 1, "App B": 0},
        "unique ids": {"App A": 3, "App B": 2},
        "in both apps": {"App A": 1, "App B": 1},
        "only in this app": {"App A": 2, "App B": 1},
        "near misses": {"App A": 1, "App B": 1},
    }


def test_plain_text_repr():
    r = overlap(["a", "b", "c"], ["a", "B"], labels=("shop", "plus"))
    text = repr(r)
    assert text.startswith("OverlapReport: 1 ids in both apps")
    assert "33.3%" in text
    assert "shop" in text
    assert "plus" in text
    assert "near misses" in text
    assert "<" not in text  # plain text, no markup


def test_html_repr_escapes_ids_labels_and_near_misses():
    evil = "<script>alert(1)</script>"
    r = overlap(
        [evil, "<b>bold</b>", "a&b", "<I>x</I>"],
        [evil, "<i>x</i>", "q"],
        labels=("<em>src</em>", "dst"),
    )
    assert len(r.near_misses) == 1
    html = r._repr_html_()
    for raw in (evil, "<b>bold</b>", "<em>src</em>", "<i>x</i>", "<I>x</I>", "a&b"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;em&gt;src&lt;/em&gt;" in html
    assert "a&amp;b" in html
    assert "&lt;I&gt;x&lt;/I&gt;" in html  # the near-miss table
    assert "<table" in html


def test_overlap_logs_a_line(caplog):
    with caplog.at_level(logging.INFO, logger="moecohort"):
        overlap(["a", "b"], ["a"], labels=("A", "B"))
    messages = [r.getMessage() for r in caplog.records if r.name == "moecohort"]
    assert any("1 in both" in m and "1 only in A" in m for m in messages)


def test_report_keep_returns_source_rows_in_both():
    src = pd.DataFrame({"ID": [1.0e6, 2.0e6, 2.0e6, np.nan], "n": [1, 2, 3, 4]})
    r = overlap(src, ["2000000"], on="ID")
    kept = r.keep(src, "ID")
    assert kept["n"].tolist() == [2, 3]


# --------------------------------------------------------------------------- keep_in_destination
def test_keep_in_destination_keeps_rows_whose_id_exists_there():
    df = pd.DataFrame(
        {"uid": ["a", "b", "a", None, "guest", " a", "c"], "n": range(7)},
        index=list("pqrstuv"),
    )
    kept = keep_in_destination(df, ["a", "c", "guest", None, "zzz"])
    assert kept["n"].tolist() == [0, 2, 6]  # duplicates kept, " a" is not "a"
    assert list(kept.index) == ["p", "r", "v"]
    assert kept["uid"].tolist() == ["a", "a", "c"]
    kept.loc["p", "n"] = 99
    assert df.loc["p", "n"] == 0  # a copy


def test_keep_in_destination_frame_with_other_column_and_dtypes():
    df = pd.DataFrame({"ID": [1004821.0, 1004822.0, np.nan, 0.0]})
    dst = pd.DataFrame({"customer_id": ["1004822", "0", "x"]})
    kept = keep_in_destination(df, dst, "ID", destination_col="customer_id")
    assert kept["ID"].tolist() == [1004822.0]
    with pytest.raises(InputError, match="'customer_id'"):
        keep_in_destination(df, dst, "ID")  # destination_col defaults to id_col


def test_keep_in_destination_empty_destination_and_missing_column():
    df = pd.DataFrame({"uid": ["a", "b"]})
    assert len(keep_in_destination(df, [])) == 0
    assert list(keep_in_destination(df, []).columns) == ["uid"]
    with pytest.raises(InputError, match="'uid'"):
        keep_in_destination(df, ["a"], "ID")


# --------------------------------------------------------------------------- sample files
@pytest.fixture(scope="module")
def sample_reports(app_a, app_b) -> dict[str, OverlapReport]:
    return {e: overlap(app_a, app_b, on="ID", labels=("A", "B"), engine=e) for e in ENGINES}


@pytest.mark.parametrize("eng", ENGINES)
def test_sample_overlap_matches_readme(sample_reports, readme_counts, eng):
    r = sample_reports[eng]
    assert r.n_in_both == readme_counts["overlap_exact"]
    assert r.source.rows == readme_counts["a_rows"]
    assert r.destination.rows == readme_counts["b_rows"]
    assert r.source.unique == readme_counts["a_distinct_valid_ids"]
    assert r.destination.unique == readme_counts["b_distinct_valid_ids"]
    assert r.n_only_source == readme_counts["a_distinct_valid_ids"] - readme_counts["overlap_exact"]
    assert (
        r.n_only_destination
        == readme_counts["b_distinct_valid_ids"] - readme_counts["overlap_exact"]
    )
    assert r.source.anonymous == (
        readme_counts["a_empty_id"]
        + readme_counts["a_placeholder_0"]
        + readme_counts["a_placeholder_minus_1"]
    )
    assert r.destination.anonymous == sum(
        readme_counts[k]
        for k in (
            "b_id_nan_in_pandas",
            "b_placeholder_guest",
            "b_placeholder_unknown",
            "b_placeholder_empty_parens",
        )
    )
    # App A repeats ids only through exact duplicate rows; app B through stale profiles.
    assert r.source.duplicates == readme_counts["a_exact_duplicate_rows"]
    assert r.destination.duplicates == readme_counts["b_duplicate_extra_rows"]


def test_sample_near_misses_are_the_stray_spaces(sample_reports, readme_counts):
    r = sample_reports["pyarrow"]
    assert len(r.near_misses) == readme_counts["b_near_misses"]
    assert set(r.near_misses["differs_by"]) == {"whitespace"}
    for s, d, _ in pairs(r):
        assert d != s
        assert d.strip() == s
        assert s in set(r.only_source)  # not merged
        assert d in set(r.only_destination)


def test_sample_float_ids_of_a_match_text_ids_of_b(app_a, app_b, sample_reports):
    r = sample_reports["pyarrow"]
    b_text = set(app_b["ID"].dropna())
    a_float = app_a["ID"].dropna()
    # An id of A, read as a float (1004821.0), is found in B as written ("1004821").
    x = next(v for v in a_float if str(int(v)) in b_text)
    assert isinstance(x, float)
    assert f"{x}".endswith(".0")
    assert str(int(x)) in set(r.in_both)
    assert all("." not in i for i in r.in_both)
    expected = {str(int(v)) for v in a_float} & b_text
    assert set(r.in_both) == {i for i in expected if i.lower() not in DEFAULT_PLACEHOLDERS}


def test_sample_engines_agree(sample_reports):
    a, d = sample_reports["pyarrow"], sample_reports["duckdb"]
    assert_same_report(a, d)


def test_sample_keep_in_destination(app_a, app_b, sample_reports):
    kept = keep_in_destination(app_a, app_b, "ID")
    in_both = set(sample_reports["pyarrow"].in_both)
    ids = [str(int(v)) for v in kept["ID"]]
    assert set(ids) == in_both
    expected_rows = sum(not math.isnan(v) and str(int(v)) in in_both for v in app_a["ID"])
    assert len(kept) == expected_rows


# --------------------------------------------------------------------------- engines agree
def assert_same_report(a: OverlapReport, b: OverlapReport) -> None:
    assert list(a.in_both) == list(b.in_both)
    assert list(a.only_source) == list(b.only_source)
    assert list(a.only_destination) == list(b.only_destination)
    assert a.source == b.source
    assert a.destination == b.destination
    pd.testing.assert_frame_equal(a.summary(), b.summary())
    assert pairs(a) == pairs(b)


def py_canonical(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def py_is_anonymous(text: str | None) -> bool:
    return text is None or text.strip() == "" or text.strip().lower() in DEFAULT_PLACEHOLDERS


def py_key(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip()).lower()


POOL = [
    "123",
    " 123",
    "123 ",
    "abc",
    "ABC",
    "Abc",
    " abc\t",
    f"jos{NFC_E}",
    f"jos{NFD_E}",
    f"JOS{NFC_E.upper()}",
    "x\xa0",
    "\u3000guest\xa0",  # a placeholder between Unicode spaces
    "UN\u212aNOWN",  # Kelvin sign: lower-cases to "unknown", with more bytes
    "guest" + " " * 80,  # longer than any placeholder until trimmed
    "x" * 80 + "\u2003",  # long, with a Unicode space at the end
    "Guest",
    " null ",
    "N/A",
    "0",
    "-1",
    "",
    "   ",
    "<NA>",
    None,
    math.nan,
    123,
    123.0,
    7.0,
    0.0,
    2,
]
id_values = st.one_of(
    st.sampled_from(POOL),
    st.text(alphabet="aAbB1 \t", max_size=3),
    st.integers(min_value=-3, max_value=200),
    st.integers(min_value=-3, max_value=200).map(float),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src=st.lists(id_values, max_size=25), dst=st.lists(id_values, max_size=25))
def test_engines_agree_and_equal_python_set_arithmetic(src, dst):
    reports = [overlap_with(v, list(src), list(dst)) for v in VARIANTS]
    for other in reports[1:]:
        assert_same_report(reports[0], other)
    r = reports[0]

    s_ids = [c for c in map(py_canonical, src) if not py_is_anonymous(c)]
    d_ids = [c for c in map(py_canonical, dst) if not py_is_anonymous(c)]
    s_set, d_set = set(s_ids), set(d_ids)
    both, only_s, only_d = set(r.in_both), set(r.only_source), set(r.only_destination)

    # A partition of the union of unique non-anonymous canonical ids ...
    assert len(r.in_both) + len(r.only_source) + len(r.only_destination) == len(s_set | d_set)
    assert both | only_s | only_d == s_set | d_set
    assert not (both & only_s or both & only_d or only_s & only_d)
    # ... equal to plain set arithmetic, each without repeats, in order of first appearance.
    first_seen = list(dict.fromkeys(s_ids + d_ids))
    assert list(r.in_both) == [i for i in first_seen if i in s_set and i in d_set]
    assert list(r.only_source) == [i for i in first_seen if i in s_set - d_set]
    assert list(r.only_destination) == [i for i in first_seen if i in d_set - s_set]

    assert (r.source.rows, r.destination.rows) == (len(src), len(dst))
    assert r.source.anonymous == len(src) - len(s_ids)
    assert r.destination.anonymous == len(dst) - len(d_ids)
    assert r.source.duplicates == len(s_ids) - len(s_set)
    assert r.destination.duplicates == len(d_ids) - len(d_set)
    assert (r.source.unique, r.destination.unique) == (len(s_set), len(d_set))

    expected_near = {
        (s, d)
        for s in s_set
        for d in d_set
        if s != d and py_key(s) == py_key(d) and not (s in d_set and d in s_set)
    }
    assert {(s, d) for s, d, _ in pairs(r)} == expected_near
    assert len(r.near_misses) == len(expected_near)
    assert all(k and k != "identical" for k in r.near_misses["differs_by"])


def arrow_chunks(values: list, cuts: list[int], large: bool) -> pa.ChunkedArray:
    """Canonical ``values`` as several Arrow chunks sliced out of bigger arrays (non-zero
    offsets), the way Parquet readers and concatenations hand them over."""
    text = [py_canonical(v) for v in values]
    kind = pa.large_string() if large else pa.string()
    bounds = [0, *sorted({min(c, len(text)) for c in cuts}), len(text)]
    chunks = []
    for lo, hi in itertools.pairwise(bounds):
        padded = pa.array(["pad", *text[lo:hi], "pad"], type=kind)
        chunks.append(padded.slice(1, hi - lo))
    return pa.chunked_array(chunks, type=kind)


def as_chunks(values: list, cuts: list[int], large: bool) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(arrow_chunks(values, cuts, large)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    src=st.lists(id_values, max_size=30),
    dst=st.lists(id_values, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=4),
    large=st.booleans(),
)
def test_chunked_sliced_arrow_input_gives_the_same_report(src, dst, cuts, large):
    expected = overlap(list(src), list(dst), engine="pyarrow")
    for variant in VARIANTS:
        got = overlap_with(variant, as_chunks(src, cuts, large), as_chunks(dst, cuts[::-1], large))
        assert_same_report(expected, got)


# --------------------------------------------------------------------------- engines and speed
def test_report_sets_are_built_when_read_and_survive_pickling(engine):
    import pickle

    r = overlap(["a", "b", "c", "a"], ["c", "d"], engine=engine)
    assert (r.n_in_both, r.n_only_source, r.n_only_destination) == (1, 2, 1)
    assert "&#x27;a&#x27;, &#x27;b&#x27;" in r._repr_html_()  # samples, escaped
    copy = pickle.loads(pickle.dumps(r))
    for report in (r, copy):
        assert list(report.only_source) == ["a", "b"]
        assert report.only_source is report.only_source  # built once, then kept
    assert list(copy.in_both) == ["c"] and list(copy.only_destination) == ["d"]


def test_report_sets_are_arrow_backed_indexes(engine):
    r = overlap(pd.Series(["a", "b", None, "b"]), ["b", "c"], engine=engine)
    for ids in (r.in_both, r.only_source, r.only_destination):
        assert isinstance(ids, pd.Index)
        assert isinstance(ids.array, pd.arrays.ArrowStringArray)


@pytest.mark.skipif(not hasattr(pa, "string_view"), reason="pyarrow < 16 has no string_view")
def test_string_view_ids_are_read():
    # Polars hands text over as string_view.
    ids = pa.array(["a", "b", None, "guest"], type=pa.string_view())
    for src in (ids, pd.Series(pd.arrays.ArrowExtensionArray(ids))):
        r = overlap(src, ["b", "c"])
        assert (list(r.in_both), list(r.only_source), r.source.anonymous) == (["b"], ["a"], 2)


def test_order_of_first_appearance_in_parallel_parts():
    # Enough ids that every part gets some: the order is still the order of first rows.
    src = [f"id{i % 700:04d}" for i in range(1000, 0, -1)]
    dst = [f"id{i:04d}" for i in range(350, 1050)]
    for variant in VARIANTS:
        r = overlap_with(variant, src, dst)
        first_seen = list(dict.fromkeys(src + dst))
        assert list(r.in_both) == [i for i in first_seen if i in set(src) & set(dst)]
        assert list(r.only_source) == [i for i in first_seen if i in set(src) - set(dst)]
        assert list(r.only_destination) == [i for i in first_seen if i in set(dst) - set(src)]


def test_auto_engine_picks_numba_then_duckdb_for_large_inputs(monkeypatch):
    used = []
    presence, sets_numba = overlap_module._presence, overlap_module._sets_numba
    monkeypatch.setattr(
        overlap_module, "_presence", lambda s, d, e: used.append(e) or presence(s, d, e)
    )
    monkeypatch.setattr(
        overlap_module, "_sets_numba", lambda *args: used.append("numba") or sets_numba(*args)
    )
    missing: set[str] = set()
    monkeypatch.setattr(overlap_module, "_installed", lambda module: module not in missing)
    for rows_needed, gone in [(10**9, set()), (2, set()), (2, {"numba"}), (2, {"numba", "duckdb"})]:
        monkeypatch.setattr(overlap_module, "AUTO_FAST_ROWS", rows_needed)
        missing = gone
        assert list(overlap(["a", "b"], ["a"]).in_both) == ["a"]
    assert used == ["pyarrow", "numba", "duckdb", "pyarrow"]


def test_auto_engine_falls_back_when_numba_cannot_load(monkeypatch, caplog):
    # e.g. an installed numba too old for this numpy: numba's import raises ImportError.
    monkeypatch.setitem(sys.modules, "moecohort.matching.engines.numba", None)
    monkeypatch.setattr(overlap_module, "AUTO_FAST_ROWS", 2)
    with caplog.at_level(logging.WARNING, logger="moecohort"):
        r = overlap(["a", "b"], ["b"])
    assert list(r.in_both) == ["b"]
    assert "engine='numba' cannot load numba" in caplog.text
    with pytest.raises(ImportError, match="engine='numba' cannot load numba"):
        overlap(["a"], ["a"], engine="numba")


@pytest.mark.parametrize("engine", ["duckdb", "numba"])
def test_optional_engine_not_installed_says_what_to_install(monkeypatch, engine):
    monkeypatch.setattr(overlap_module, "_installed", lambda module: module != engine)
    with pytest.raises(ImportError, match=rf"engine='{engine}' needs .*moecohort\[fast\]"):
        overlap(["a"], ["a"], engine=engine)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    src=st.lists(id_values, max_size=30),
    dst=st.lists(id_values, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=4),
)
def test_numba_engine_is_exact_when_different_ids_share_a_hash(src, dst, cuts):
    # With the hash cut to one bit, most different ids share a hash: the kernels must find
    # out by comparing bytes, and still give the exact report (near misses included).
    expected = overlap(list(src), list(dst), engine="pyarrow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels, "HASH_MASK", np.uint64(1))
        for variant in ("numba", "numba-parallel"):
            got = overlap_with(variant, as_chunks(src, cuts, True), as_chunks(dst, cuts, False))
            assert_same_report(expected, got)


def test_numba_kernels_do_address_arithmetic_in_integers():
    # numba types uint64 + int64 as float64, exact only below 2**53: a kernel doing that
    # with memory addresses would read the wrong bytes under tagged or 57-bit pointers.
    r = overlap_with("numba-parallel", ["a", "bb" * 9, None, "C"], ["bb" * 9, "c", "c"])
    assert (list(r.in_both), list(r.only_destination), len(r.near_misses)) == (["bb" * 9], ["c"], 1)
    # The helpers are inlined into the kernels; called on their own, they show their types.
    text = np.frombuffer(b"0123456789abcdefghij", dtype=np.uint8)
    address, n = np.uint64(text.ctypes.data), np.int64(len(text))
    assert kernels._hash(address, n) != kernels._hash(address, n - 1)
    assert kernels._same(address, address, n) and kernels._tail(address, np.int64(3)) > 0
    compiled = {name: f for name, f in vars(kernels).items() if getattr(f, "signatures", None)}
    assert {"_hash", "_same", "_tail", "_layout", "_classify", "_copy_rows"} <= set(compiled)
    for name, kernel in compiled.items():
        typed = io.StringIO()
        kernel.inspect_types(file=typed)
        assert "float" not in typed.getvalue(), name


def test_numba_engine_reads_long_short_empty_and_multibyte_ids():
    # Ids of every length around the kernels' 8-byte words, in several chunks.
    base = ["", "x", "ab", "€uro", "naïve-ü", "ä" * 9, "0123456", "01234567", "012345678"]
    base += ["k" * 15, "k" * 16, "k" * 17, "id-" + "z" * 60, "\U0001f600" * 5]
    src = base + [b + "!" for b in base]
    dst = list(reversed(base)) + [b + "?" for b in base]
    expected = overlap(src, dst, engine="pyarrow")
    for variant in ("numba", "numba-parallel"):
        got = overlap_with(variant, as_chunks(src, [3, 11, 20], True), as_chunks(dst, [7], True))
        assert_same_report(expected, got)
    assert expected.n_in_both == len(base) - 1  # "" is anonymous


# --------------------------------------------------------------------------- the fast checks
# classify() and near_miss_changes() skip most ids by looking at their bytes only; these
# compare them with the plain Python rules on text made of the characters that matter.
CHARS = ["a", "G", "U", "e", "s", "t", "n", "l", "k", "0", "1", "-", " ", "\t", "\x1f"]
CHARS += ["\xa0", "\u3000", "\u2003", "\u212a", "é", "É", NFD_E, "ß"]
texts = st.one_of(
    st.none(),
    st.lists(st.sampled_from(CHARS), max_size=8).map("".join),
    st.tuples(
        st.sampled_from(["", " ", "\xa0", "\t" * 30]),
        st.sampled_from(["guest", "GUEST", "Null", "un\u212anown", "n/a", "<NA>", "\u212aENT"]),
        st.sampled_from(["", " ", "\u3000", " " * 70]),
    ).map("".join),
)


def py_reason(text: str | None, marks) -> int:
    if text is None:
        return MISSING
    if text.strip() == "":
        return BLANK
    return PLACEHOLDER if text.strip().lower() in marks else OK


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(texts, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=3),
    large=st.booleans(),
    custom=st.booleans(),
)
def test_classify_follows_the_python_rules(values, cuts, large, custom):
    marks = {"test", "kent", "x" * 30} if custom else DEFAULT_PLACEHOLDERS
    got = classify(arrow_chunks(values, cuts, large), marks if custom else None)
    assert got.tolist() == [py_reason(v, marks) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(texts, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=3),
    large=st.booleans(),
)
def test_near_miss_changes_are_the_ids_the_key_changes(values, cuts, large):
    ids = arrow_chunks(values, cuts, large)
    expected = [
        v is not None and normalise_for_near_miss(pa.array([v])).to_pylist()[0] != v for v in values
    ]
    assert near_miss_changes(ids).tolist() == expected
    assert expected == [v is not None and py_key(v) != v for v in values]


def test_a_column_missing_on_one_side_suggests_the_pair():
    a = pd.DataFrame({"ID": ["1"]})
    b = pd.DataFrame({"uid": ["1"]})
    with pytest.raises(
        InputError, match=r"The destination has: 'uid'\. Did you mean on=\('ID', 'uid'\)"
    ):
        overlap(a, b, on="ID")
    with pytest.raises(InputError, match=r"Did you mean on=\('ID', 'uid'\)"):
        overlap(a, b, on="uid")
