"""Identifier hygiene: the canonical id form, anonymous users, drop_anonymous and its report.

Every expected value here follows from the issue's rules (or from data/samples/README.md for
the sample files), never from running the code. Runs under pandas 2.2 and 3.x: results are
compared as plain lists, never by dtype name.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from support import SAMPLES, plain

import moecohort
from moecohort import (
    DEFAULT_PLACEHOLDERS,
    AnonymousReport,
    InputError,
    anonymous_reasons,
    anonymous_report,
    canonical_ids,
    drop_anonymous,
    is_anonymous,
)
from moecohort.ids import classify, to_arrow_ids
from moecohort.matching.near_miss import near_miss_kind, normalise_for_near_miss

# The issue's list (FACTS.md "Identifiers"), plus the pandas artefacts "nan" and "<na>".
SPEC_PLACEHOLDERS = [
    "unknown",
    "guest",
    "null",
    "0",
    "1",
    "2",
    "-1",
    "-2",
    "true",
    "false",
    "na",
    "n/a",
    "none",
    "(empty)",
    "id",
    "uid",
    "userid",
    "user_id",
    "customer_id",
    "user_attribute_unique_id",
    "dummy_seller_code",
    "nan",
    "<na>",
]
NFC_E = unicodedata.normalize("NFC", "é")
NFD_E = unicodedata.normalize("NFD", "é")


def canon(values, **kwargs) -> list:
    return plain(canonical_ids(values, **kwargs))


# --------------------------------------------------------------------------- canonical form
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            pd.Series(
                ["abc", 1004821, 1004821.0, np.int64(7), None, np.nan, pd.NA, pd.NaT, " x "],
                dtype=object,
            ),
            ["abc", "1004821", "1004821", "7", None, None, None, None, " x "],
            id="object-mixed-text-and-numbers",
        ),
        pytest.param(
            pd.Series([1.0, 2.5e6, None], dtype=object),
            ["1", "2500000", None],
            id="object-only-floats",
        ),
        pytest.param(
            pd.Series([2**70, "x"], dtype=object),
            [str(2**70), "x"],
            id="object-python-int-beyond-int64",
        ),
        pytest.param(
            pd.Series([1004821, None, -5], dtype="Int64"),
            ["1004821", None, "-5"],
            id="Int64-nullable",
        ),
        pytest.param(pd.Series([3, -12], dtype="int8"), ["3", "-12"], id="int8"),
        pytest.param(
            pd.Series([2**63 + 5], dtype="uint64"), [str(2**63 + 5)], id="uint64-above-int64"
        ),
        pytest.param(
            pd.Series([1004821.0, np.nan, 17.0, -3.0]),
            ["1004821", None, "17", "-3"],
            id="float64-with-NaN",
        ),
        pytest.param(
            pd.Series([2.0**53 - 1]), ["9007199254740991"], id="float64-largest-exact-integer"
        ),
        pytest.param(
            pd.Series([1004821.0, None], dtype="Float64"), ["1004821", None], id="Float64-nullable"
        ),
        pytest.param(
            pd.Series([16_777_215.0, None], dtype="float32"), ["16777215", None], id="float32"
        ),
        pytest.param(
            pd.Series(["b", None, "a", "b"], dtype="category"),
            ["b", None, "a", "b"],
            id="categorical-text",
        ),
        pytest.param(
            pd.Series([5.0, np.nan, 17.0], dtype="category"),
            ["5", None, "17"],
            id="categorical-of-integral-floats",
        ),
        pytest.param(
            pd.Series([None, None], dtype="category"), [None, None], id="categorical-all-missing"
        ),
        pytest.param(
            pd.Series(["a", None, " b"], dtype="string"), ["a", None, " b"], id="string-python"
        ),
        pytest.param(
            pd.Series(["a", None, " b"], dtype="string[pyarrow]"),
            ["a", None, " b"],
            id="string-pyarrow",
        ),
        pytest.param(
            pd.Series(["a", None], dtype=pd.ArrowDtype(pa.string())), ["a", None], id="arrow-string"
        ),
        pytest.param(
            pd.Series(["a", None], dtype=pd.ArrowDtype(pa.large_string())),
            ["a", None],
            id="arrow-large-string",
        ),
        pytest.param(
            pd.Series([1004821, None], dtype=pd.ArrowDtype(pa.int64())),
            ["1004821", None],
            id="arrow-int64",
        ),
        pytest.param(
            pd.Series([1004821.0, None], dtype=pd.ArrowDtype(pa.float64())),
            ["1004821", None],
            id="arrow-float64",
        ),
        pytest.param(pd.Series([None, None], dtype=object), [None, None], id="object-all-missing"),
        pytest.param(pd.Series([], dtype=object), [], id="empty-object"),
        pytest.param(pd.Series([], dtype="float64"), [], id="empty-float"),
    ],
)
def test_canonical_form_per_dtype(values, expected):
    assert canon(values) == expected


def test_integral_floats_never_render_with_a_decimal_point():
    out = canon(pd.Series([1.0, 123.0, 1e15, -7.0]))
    assert out == ["1", "123", "1000000000000000", "-7"]
    assert not any("." in v or "e" in v for v in out)


def test_text_is_kept_exactly_as_written():
    # MoEngage matches uid exactly: no trimming, no case folding, no Unicode normalisation.
    ids = [" 1004821", "1004821 ", "ABC", "abc", NFC_E, NFD_E, "\t7\n", "0123"]
    assert canon(pd.Series(ids, dtype=object)) == ids
    assert canon(pd.Series(ids, dtype="string")) == ids


def test_float_and_text_forms_of_the_same_id_are_equal():
    assert canon(pd.Series([1004821.0])) == canon(pd.Series(["1004821"]))
    assert canon(pd.Series([1004821], dtype="Int64")) == canon([1004821.0])


def test_pyarrow_backed_read_csv():
    text = "uid,name\n1004821,a\n,b\n7,c\n"
    df = pd.read_csv(io.StringIO(text), dtype_backend="pyarrow")
    assert canon(df["uid"]) == ["1004821", None, "7"]
    df = pd.read_csv(io.StringIO(text), dtype_backend="pyarrow", dtype={"uid": "string"})
    assert canon(df["uid"]) == ["1004821", None, "7"]


def test_arrow_dictionary_column_from_parquet_is_text():
    # A categorical written to Parquet and read back with dtype_backend="pyarrow" becomes
    # dictionary<string>: still text ids, not "a value of type dictionary".
    pytest.importorskip("pyarrow.parquet")
    buf = io.BytesIO()
    pd.DataFrame({"uid": pd.Series(["u1", "u2", None, "u1"], dtype="category")}).to_parquet(buf)
    buf.seek(0)
    df = pd.read_parquet(buf, dtype_backend="pyarrow")
    assert isinstance(df["uid"].dtype, pd.ArrowDtype)
    assert canon(df["uid"]) == ["u1", "u2", None, "u1"]


def test_series_index_and_name_are_kept():
    s = pd.Series([1.0, 2.0, np.nan], index=["x", "y", "z"], name="ID")
    out = canonical_ids(s)
    assert list(out.index) == ["x", "y", "z"]
    assert out.name == "ID"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([1004821, "abc", None, 17.0], ["1004821", "abc", None, "17"], id="list"),
        pytest.param((1004821, 17), ["1004821", "17"], id="tuple"),
        pytest.param(pd.Index([1004821.0, 17.0]), ["1004821", "17"], id="Index-float"),
        pytest.param(pd.Index(["a", "b"]), ["a", "b"], id="Index-text"),
        pytest.param(np.array([1004821, 17]), ["1004821", "17"], id="numpy-int"),
        pytest.param(np.array([1004821.0, np.nan]), ["1004821", None], id="numpy-float"),
        pytest.param(np.array(["a", " b"]), ["a", " b"], id="numpy-str"),
        pytest.param(np.array(["a", 3], dtype=object), ["a", "3"], id="numpy-object"),
        pytest.param(pa.array(["a", None]), ["a", None], id="pyarrow-array"),
        pytest.param(pa.chunked_array([["a"], ["b", None]]), ["a", "b", None], id="chunked"),
        pytest.param((x for x in (5, "b")), ["5", "b"], id="generator"),
        pytest.param([], [], id="empty-list"),
    ],
)
def test_any_collection_of_ids_is_accepted(values, expected):
    assert canon(values) == expected


def test_single_string_or_frame_is_refused():
    with pytest.raises(InputError, match="single string"):
        canonical_ids("1004821")
    with pytest.raises(InputError, match="DataFrame"):
        canonical_ids(pd.DataFrame({"uid": ["a"]}))


# --------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("values", "bad_value", "bad_row"),
    [
        pytest.param(pd.Series([1.0, 2.5], index=[10, 11], name="ID"), "2.5", "11", id="fraction"),
        pytest.param(pd.Series([1.0, np.inf], name="ID"), "inf", "1", id="infinity"),
        pytest.param(
            pd.Series([1.0, 2.0**53 + 2], name="ID"), "9007199254740994", "1", id="huge-float"
        ),
        pytest.param(pd.Series([1.0, 2.0**53], name="ID"), "9007199254740992", "1", id="2**53"),
        pytest.param(pd.Series([-(2.0**60)], name="ID"), "-1.15", "0", id="huge-negative"),
        pytest.param(
            pd.Series([5.0, 2.0**24], dtype="float32", name="ID"), "16777216", "1", id="float32"
        ),
        pytest.param(
            pd.Series(["a", 2.0**60], dtype=object, name="ID"), "1.15", "1", id="object-huge"
        ),
        pytest.param(
            pd.Series([1.5, None], dtype="Float64", name="ID"), "1.5", "0", id="Float64-fraction"
        ),
        pytest.param(
            pd.Series([2.5], dtype=pd.ArrowDtype(pa.float64()), name="ID"), "2.5", "0", id="arrow"
        ),
        pytest.param(pd.Series(["a", 2.5], dtype=object, name="ID"), "2.5", "1", id="obj-frac"),
        pytest.param(pd.Series([True, False], name="ID"), "True", "0", id="bool"),
        pytest.param(
            pd.Series([None, True], dtype="boolean", name="ID"), "True", "1", id="boolean"
        ),
        pytest.param(pd.Series(["a", False], dtype=object, name="ID"), "False", "1", id="obj-bool"),
        pytest.param(
            pd.Series([True, None], dtype=pd.ArrowDtype(pa.bool_()), name="ID"),
            "True",
            "0",
            id="arrow-bool",
        ),
        pytest.param(
            pd.Series([True, False], dtype="category", name="ID"),
            "True",
            "0",
            id="categorical-bool",
        ),
        pytest.param(
            pd.Series(pd.to_datetime(["2026-01-02", None]), name="ID"), "2026-01-02", "0", id="dt"
        ),
        pytest.param(
            pd.Series(pd.to_datetime(["2026-01-02"]).tz_localize("UTC"), name="ID"),
            "2026-01-02",
            "0",
            id="datetime-tz",
        ),
        pytest.param(
            pd.Series(["a", pd.Timestamp("2026-01-02")], dtype=object, name="ID"),
            "2026-01-02",
            "1",
            id="object-timestamp",
        ),
        pytest.param(
            pd.Series([dt.date(2026, 1, 2)], dtype=object, name="ID"), "2026", "0", id="date"
        ),
        pytest.param(
            pd.Series(pd.to_timedelta([5], unit="s"), name="ID"), "0 days", "0", id="timedelta"
        ),
        pytest.param(pd.Series([b"abc"], dtype=object, name="ID"), "abc", "0", id="bytes"),
        pytest.param(pd.Series([[1, 2]], dtype=object, name="ID"), "[1, 2]", "0", id="list"),
    ],
)
def test_unusable_values_raise_input_error_naming_column_and_row(values, bad_value, bad_row):
    with pytest.raises(InputError) as info:
        canonical_ids(values)
    err = info.value
    assert isinstance(err, ValueError)
    message = str(err)
    assert "'ID'" in message
    assert err.column == "ID"
    assert bad_value in message
    assert f"row {bad_row}" in message
    assert isinstance(err.rows, pd.DataFrame)
    assert len(err.rows) == 1


def test_categorical_error_names_the_data_row():
    s = pd.Series([1.0, 2.0, 2.5], dtype="category", index=["x", "y", "z"], name="ID")
    with pytest.raises(InputError, match=r"2\.5 at row 'z'") as info:
        canonical_ids(s)
    assert list(info.value.rows.index) == ["z"]
    df = pd.DataFrame({"ID": [True, False], "name": ["ann", "bob"]}).astype({"ID": "category"})
    with pytest.raises(InputError, match="boolean") as info:
        drop_anonymous(df, "ID")
    assert info.value.rows["name"].tolist() == ["ann"]


def test_unused_categories_do_not_matter():
    s = pd.Series(pd.Categorical([1.0, None, 2.0], categories=[1.0, 2.0, 2.5]))
    assert canon(s) == ["1", None, "2"]


def test_error_counts_all_offending_rows():
    with pytest.raises(InputError, match=r"3 such rows"):
        canonical_ids(pd.Series([1.5, 2.0, 2.5, 3.5], name="ID"))


def test_error_from_a_frame_carries_the_offending_row():
    df = pd.DataFrame({"name": ["ann", "bob"], "uid": [1.0, 2.5]}, index=["r1", "r2"])
    with pytest.raises(InputError, match=r"'uid'.*2\.5.*'r2'") as info:
        drop_anonymous(df, "uid")
    assert info.value.rows.to_dict("records") == [{"name": "bob", "uid": 2.5}]


def test_column_name_defaults_to_the_series_name_or_can_be_given():
    with pytest.raises(InputError, match="'Customer'"):
        canonical_ids(pd.Series([0.5], name="Customer"))
    with pytest.raises(InputError, match="'given'"):
        canonical_ids([0.5], column="given")


# --------------------------------------------------------------------------- anonymous users
def test_default_placeholders_are_the_issue_list():
    assert {p.lower() for p in SPEC_PLACEHOLDERS} <= DEFAULT_PLACEHOLDERS
    # Nothing beyond the spec (the empty string is the FACTS list's '').
    assert DEFAULT_PLACEHOLDERS - set(SPEC_PLACEHOLDERS) <= {""}


def _variants(text: str) -> list[str]:
    return [text, text.upper(), text.title(), f"  {text}", f"{text} ", f"\t{text.upper()}\n"]


@pytest.mark.parametrize("placeholder", SPEC_PLACEHOLDERS)
def test_placeholders_in_any_case_and_padding_are_anonymous(placeholder):
    values = _variants(placeholder)
    assert is_anonymous(pd.Series(values, dtype=object)).tolist() == [True] * len(values)
    assert plain(anonymous_reasons(values)) == ["placeholder"] * len(values)


@pytest.mark.parametrize(
    "real_id",
    ["guest1", "unknown_user", "00", "01", "10", "3", "-3", "nulll", "n/a/b", "id_1", "u id"],
)
def test_ids_that_merely_contain_a_placeholder_are_real(real_id):
    assert is_anonymous([real_id]).tolist() == [False]


def test_numeric_placeholders_from_numbers():
    values = pd.Series([0, 1, 2, -1, -2, 3, 1004821], dtype="int64")
    assert is_anonymous(values).tolist() == [True] * 5 + [False, False]
    floats = pd.Series([0.0, -0.0, 1.0, -1.0, np.nan, 3.0])
    assert plain(anonymous_reasons(floats)) == ["placeholder"] * 4 + ["missing", None]


def test_missing_blank_and_placeholder_reasons():
    values = pd.Series(
        [None, np.nan, pd.NA, pd.NaT, "", "   ", "\t\n", "\xa0", "\u3000", "guest", "u1", " u1 "],
        dtype=object,
        index=list("abcdefghijkl"),
    )
    reasons = anonymous_reasons(values)
    assert list(reasons.index) == list("abcdefghijkl")
    assert plain(reasons) == ["missing"] * 4 + ["blank"] * 5 + ["placeholder", None, None]
    anon = is_anonymous(values)
    assert list(anon.index) == list("abcdefghijkl")
    assert anon.tolist() == [True] * 10 + [False, False]


def test_pandas_artefacts_are_placeholders():
    # What str() makes of NaN and pd.NA, e.g. after df["uid"].astype(str).
    assert is_anonymous(["nan", "NaN", "<NA>", "<na>", "None"]).tolist() == [True] * 5


def test_custom_placeholder_set_replaces_the_default():
    values = ["TEST", " demo ", "guest", "0", "", None, "u1"]
    reasons = plain(anonymous_reasons(values, placeholders={"test", " Demo "}))
    assert reasons == ["placeholder", "placeholder", None, None, "blank", "missing", None]


def test_custom_placeholder_set_can_extend_the_default():
    custom = DEFAULT_PLACEHOLDERS | {"test"}
    assert is_anonymous(["Test", "guest", "u1"], placeholders=custom).tolist() == [
        True,
        True,
        False,
    ]


def test_empty_placeholder_set_keeps_only_missing_and_blank_anonymous():
    values = ["guest", "0", " ", None]
    assert is_anonymous(values, placeholders=set()).tolist() == [False, False, True, True]


def test_placeholders_as_a_single_string_is_refused():
    with pytest.raises(TypeError):
        is_anonymous(["x"], placeholders="guest")


def test_case_insensitive_beyond_ascii():
    # "\u212a" (Kelvin sign) lower-cases to "k": it takes 3 bytes, "k" only one.
    assert is_anonymous(["\u212a", "K ", "x"], placeholders={"k"}).tolist() == [True, True, False]
    assert is_anonymous(["UN\u212aNOWN"]).tolist() == [True]


def test_classify_codes_match_the_named_reasons():
    ids = to_arrow_ids(pd.Series(["u1", None, " ", "Guest"], dtype=object))
    assert classify(ids).tolist() == [0, 1, 2, 3]


# --------------------------------------------------------------------------- drop_anonymous
@pytest.fixture
def users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uid": ["u1", None, " ", "GUEST", " u2", "u1", "", "0", "n/a", "u3"],
            "plan": list("abcdefghij"),
        },
        index=range(100, 110),
    )


def test_drop_anonymous_returns_a_new_frame_without_anonymous_rows(users):
    before = users.copy()
    clean = drop_anonymous(users)
    assert clean is not users
    assert list(clean.index) == [100, 104, 105, 109]
    assert clean["uid"].tolist() == ["u1", " u2", "u1", "u3"]  # ids untouched, duplicates kept
    assert clean["plan"].tolist() == ["a", "e", "f", "j"]
    pd.testing.assert_frame_equal(users, before)  # the input is not modified
    clean.loc[100, "plan"] = "changed"
    assert users.loc[100, "plan"] == "a"


def test_drop_anonymous_report_counts_and_attrs(users):
    clean, rep = drop_anonymous(users, report=True)
    assert isinstance(rep, AnonymousReport)
    assert (rep.missing, rep.blank, rep.placeholder) == (1, 2, 3)
    assert (rep.rows_in, rep.dropped, rep.rows_kept) == (10, 6, 4)
    assert rep.rows_kept == len(clean)
    assert rep.column == "uid"
    assert clean.attrs["moecohort_anonymous"] == {
        "column": "uid",
        "missing": 1,
        "blank": 2,
        "placeholder": 3,
    }
    # Without report=True, only the frame comes back (with the same attrs).
    only = drop_anonymous(users)
    assert isinstance(only, pd.DataFrame)
    assert only.attrs["moecohort_anonymous"] == clean.attrs["moecohort_anonymous"]


def test_drop_anonymous_logs_what_it_dropped(users, caplog):
    with caplog.at_level(logging.INFO, logger="moecohort"):
        drop_anonymous(users)
    records = [r for r in caplog.records if r.name == "moecohort"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "dropped 6" in message
    assert "missing 1" in message
    assert "blank 2" in message
    assert "placeholder 3" in message
    assert "'uid'" in message


def test_drop_anonymous_other_column_and_numbers():
    df = pd.DataFrame({"ID": [1004821.0, np.nan, 0.0, -1.0, 17.0, 17.0]})
    clean, rep = drop_anonymous(df, "ID", report=True)
    assert clean["ID"].tolist() == [1004821.0, 17.0, 17.0]  # still floats: column untouched
    assert (rep.missing, rep.blank, rep.placeholder) == (1, 0, 2)


def test_drop_anonymous_custom_placeholders(users):
    clean = drop_anonymous(users, placeholders={"u3"})
    # "GUEST", "0" and "n/a" are real ids under this set; "u3" is not.
    assert clean["uid"].tolist() == ["u1", "GUEST", " u2", "u1", "0", "n/a"]


def test_drop_anonymous_keeps_everything_when_nothing_is_anonymous():
    df = pd.DataFrame({"uid": ["a", "b"]})
    clean, rep = drop_anonymous(df, report=True)
    assert clean["uid"].tolist() == ["a", "b"]
    assert rep.dropped == 0
    assert len(rep.examples) == 0


def test_drop_anonymous_on_an_empty_frame():
    df = pd.DataFrame({"uid": pd.Series([], dtype=object)})
    clean, rep = drop_anonymous(df, report=True)
    assert len(clean) == 0
    assert (rep.rows_in, rep.dropped) == (0, 0)


def test_missing_column_lists_available_columns(users):
    with pytest.raises(InputError) as info:
        drop_anonymous(users, "customer")
    message = str(info.value)
    assert "'customer'" in message
    assert "'uid'" in message
    assert "'plan'" in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(InputError, match="'plan'"):
        anonymous_report(users, "nope")


def test_drop_anonymous_refuses_a_series():
    with pytest.raises(InputError, match="DataFrame"):
        drop_anonymous(pd.Series(["a"]))


def test_anonymous_report_drops_nothing_and_agrees_with_drop(users):
    rep = anonymous_report(users)
    _, dropped_rep = drop_anonymous(users, report=True)
    assert (rep.missing, rep.blank, rep.placeholder) == (1, 2, 3)
    assert (rep.missing, rep.blank, rep.placeholder) == (
        dropped_rep.missing,
        dropped_rep.blank,
        dropped_rep.placeholder,
    )
    assert len(users) == 10


def test_report_examples_show_dropped_rows_with_reasons(users):
    rep = anonymous_report(users, examples=10)
    assert rep.examples.columns[0] == "reason"
    assert set(rep.examples["reason"]) == {"missing", "blank", "placeholder"}
    assert set(rep.examples.index) <= {101, 102, 103, 106, 107, 108}
    assert len(anonymous_report(users, examples=2).examples) == 2


def test_report_summary_str_and_html(users):
    rep = anonymous_report(users)
    summary = rep.summary()
    assert summary["rows"].tolist() == [1, 2, 3, 6, 4]
    text = str(rep)
    assert "dropped 6" in text
    assert "kept 4" in text
    assert repr(rep).startswith("AnonymousReport(")
    html = rep._repr_html_()
    assert "<table" in html
    assert ">6<" in html


def test_report_html_escapes_the_column_name():
    df = pd.DataFrame({"<script>x</script>": ["a", None]})
    html = anonymous_report(df, "<script>x</script>")._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


# --------------------------------------------------------------------------- near-miss keys
def test_near_miss_key_trims_folds_case_and_normalises_unicode():
    ids = pa.array([" ABC ", "abc", f"JOS{unicodedata.normalize('NFD', 'É')}", f"jos{NFC_E}"])
    key = normalise_for_near_miss(ids).to_pylist()
    assert key[0] == key[1] == "abc"
    assert key[2] == key[3] == f"jos{NFC_E}"


def test_near_miss_key_does_not_depend_on_the_other_ids():
    # \x1f is whitespace to str.strip() (and to classify); an all-ASCII batch must agree.
    alone = normalise_for_near_miss(pa.array(["123\x1f", "123"])).to_pylist()
    mixed = normalise_for_near_miss(pa.array(["123\x1f", "123", NFC_E])).to_pylist()
    assert alone == mixed[:2] == ["123", "123"]


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        (" 1004821", "1004821", "whitespace"),
        ("1004821", "1004821\t", "whitespace"),
        ("ABC", "abc", "case"),
        (" x", " X", "case"),  # the same padding on both sides does not separate them
        (f"jos{NFC_E}", f"jos{NFD_E}", "unicode"),
        (f"JOS{NFD_E.upper()}", f"jos{NFD_E}", "case"),  # both NFD: only case differs
        (f" JOS{NFC_E.upper()}", f"jos{NFD_E}", "whitespace+unicode+case"),
        ("Abc ", "abc", "whitespace+case"),
    ],
)
def test_near_miss_kind(a, b, kind):
    assert near_miss_kind(a, b) == kind
    assert near_miss_kind(b, a) == kind


# --------------------------------------------------------------------------- sample files
def test_sample_a_float_ids_drop_anonymous(app_a, readme_counts):
    assert app_a["ID"].dtype == "float64"
    clean, rep = drop_anonymous(app_a, "ID", report=True)
    assert rep.rows_in == readme_counts["a_rows"]
    assert rep.missing == readme_counts["a_empty_id"]
    assert rep.blank == 0
    assert (
        rep.placeholder == readme_counts["a_placeholder_0"] + readme_counts["a_placeholder_minus_1"]
    )
    assert canonical_ids(clean["ID"]).nunique() == readme_counts["a_distinct_valid_ids"]
    ids = canon(clean["ID"])
    assert all(re.fullmatch(r"\d{7}", i) for i in ids)  # "1004821", never "1004821.0"


def test_sample_b_text_ids_drop_anonymous(app_b, readme_counts):
    clean, rep = drop_anonymous(app_b, "ID", report=True)
    assert rep.rows_in == readme_counts["b_rows"]
    # pandas read empty, null, N/A and None as NaN; guest, unknown, (empty) stay text.
    assert rep.missing == readme_counts["b_id_nan_in_pandas"]
    assert rep.blank == 0
    assert rep.placeholder == (
        readme_counts["b_placeholder_guest"]
        + readme_counts["b_placeholder_unknown"]
        + readme_counts["b_placeholder_empty_parens"]
    )
    ids = canonical_ids(clean["ID"])
    assert ids.nunique() == readme_counts["b_distinct_valid_ids"]
    assert len(ids) - ids.nunique() == readme_counts["b_duplicate_extra_rows"]
    # Stray spaces are kept: MoEngage would not match them either.
    assert sum(i != i.strip() for i in ids) == readme_counts["b_whitespace_ids"]


def test_sample_b_read_as_written(readme_counts):
    raw = pd.read_csv(SAMPLES / "app_b_users.csv", dtype=str, keep_default_na=False)
    rep = anonymous_report(raw, "ID")
    assert rep.missing == 0
    assert rep.blank == readme_counts["b_empty_id"]
    placeholder_keys = [k for k in readme_counts if k.startswith("b_placeholder_")]
    assert len(placeholder_keys) == 6
    assert rep.placeholder == sum(readme_counts[k] for k in placeholder_keys)
    reasons = anonymous_reasons(raw["ID"])
    placeholders = raw.loc[reasons.eq("placeholder").fillna(False).to_numpy(), "ID"]
    assert set(placeholders) == {"guest", "unknown", "null", "N/A", "None", "(empty)"}


def test_package_exports():
    for name in ("canonical_ids", "drop_anonymous", "is_anonymous", "anonymous_reasons"):
        assert name in moecohort.__all__


def test_a_duplicated_id_column_is_named():
    df = pd.DataFrame([["a", "b"]], columns=["uid", "uid"])
    with pytest.raises(InputError, match="'uid' appears 2 times"):
        drop_anonymous(df)


def test_text_that_is_not_valid_unicode_is_an_input_error():
    with pytest.raises(InputError, match="not valid Unicode") as info:
        canonical_ids(pd.Series(["ok", "bad\ud800"], dtype=object, name="uid"))
    assert info.value.column == "uid"
