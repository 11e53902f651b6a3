"""The sample exports in data/samples/: shape, quirks, README counts, determinism.

Everything is recomputed from the files with pandas, independently of the generator, and
compared with the counts the generator wrote into data/samples/README.md.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from support import SAMPLES

from moecohort._constants import PLACEHOLDER_IDS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "generate_samples.py"
A_FILE = SAMPLES / "app_a_segment_export.csv"
B_FILE = SAMPLES / "app_b_users.csv"
FILES = ("app_a_segment_export.csv", "app_b_users.csv", "README.md")

A_COLUMNS = [
    "ID",
    "MoEngage User ID",
    "First Name",
    "Email",
    "Country",
    "Plan",
    "Lifetime Value",
    "Orders",
    "First Seen",
    "Last Seen",
    "Push Opt-in",
]
B_COLUMNS = [
    "ID",
    "MoEngage User ID",
    "First Name",
    "Email",
    "Country",
    "Membership Tier",
    "Points Balance",
    "Lifetime Value",
    "Last Seen",
]
README_KEYS = {
    "a_rows",
    "a_empty_id",
    "a_placeholder_0",
    "a_placeholder_minus_1",
    "a_exact_duplicate_rows",
    "a_distinct_valid_ids",
    "b_rows",
    "b_empty_id",
    "b_placeholder_guest",
    "b_placeholder_unknown",
    "b_placeholder_null",
    "b_placeholder_n_a",
    "b_placeholder_none",
    "b_placeholder_empty_parens",
    "b_id_nan_in_pandas",
    "b_whitespace_ids",
    "b_near_misses",
    "b_duplicated_ids",
    "b_duplicate_extra_rows",
    "b_distinct_valid_ids",
    "overlap_exact",
}


def is_placeholder(text: str) -> bool:
    return text.strip().lower() in PLACEHOLDER_IDS


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_a() -> pd.DataFrame:
    return pd.read_csv(A_FILE, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def raw_b() -> pd.DataFrame:
    return pd.read_csv(B_FILE, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def a_ids(app_a) -> set[str]:
    """App A's canonical ids: floats rendered as integers, no NaN, no placeholders."""
    rendered = (str(int(x)) for x in app_a["ID"].dropna())
    return {x for x in rendered if not is_placeholder(x)}


@pytest.fixture(scope="module")
def b_valid(app_b) -> list[str]:
    """App B's usable ids, as written (whitespace kept), one per row."""
    return [x for x in app_b["ID"].dropna() if not is_placeholder(x)]


# --- files and dtypes ---------------------------------------------------------------------------
def test_files_exist_and_parse(app_a, app_b):
    for name in FILES:
        assert (SAMPLES / name).is_file(), name
    assert list(app_a.columns) == A_COLUMNS
    assert list(app_b.columns) == B_COLUMNS
    assert 3_800 <= len(app_a) <= 4_200
    assert 4_800 <= len(app_b) <= 5_200


def test_a_id_reads_as_float_with_gaps(app_a):
    assert app_a["ID"].dtype == "float64"
    assert app_a["ID"].isna().any()
    usable = app_a["ID"].dropna()
    usable = usable[usable > 0]
    assert (usable % 1 == 0).all()
    assert usable.between(1_000_000, 9_999_999).all()  # 7-digit customer ids


def test_b_id_reads_as_text(app_b):
    dtype = app_b["ID"].dtype
    # object in pandas 2, the str dtype (a StringDtype) in pandas 3
    assert pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype), dtype
    assert app_b["ID"].isna().any()
    # Placeholders pandas does not turn into NaN stay as text.
    assert {"guest", "unknown", "(empty)"} <= set(app_b["ID"].dropna())


def test_other_columns(app_a, app_b, raw_a, raw_b):
    hex24 = r"[0-9a-f]{24}"
    for raw in (raw_a, raw_b):
        assert raw["MoEngage User ID"].str.fullmatch(hex24).all()
        emails = raw["Email"][raw["Email"] != ""]
        assert emails.str.fullmatch(r"[a-z0-9.]+@example\.com").all()
    # Internal ids are unique within a file, apart from A's exact duplicate rows.
    assert app_a.drop_duplicates()["MoEngage User ID"].is_unique
    assert app_b["MoEngage User ID"].is_unique
    assert set(app_a["MoEngage User ID"]).isdisjoint(app_b["MoEngage User ID"])

    assert set(app_a["Plan"]) == {"free", "plus", "pro"}
    assert set(app_b["Membership Tier"]) == {"bronze", "silver", "gold"}
    assert app_a["Country"].nunique() >= 6 and app_b["Country"].nunique() >= 6
    assert app_a["Push Opt-in"].dtype == bool
    assert app_a["Lifetime Value"].dtype == "float64" and (app_a["Lifetime Value"] >= 0).all()
    assert app_a["Lifetime Value"].mean() > app_a["Lifetime Value"].median()  # right-skewed
    assert (app_b["Points Balance"] >= 0).all()

    first = pd.to_datetime(app_a["First Seen"], utc=True)
    last = pd.to_datetime(app_a["Last Seen"], utc=True)
    b_last = pd.to_datetime(app_b["Last Seen"], utc=True)
    assert (last >= first).all()
    for col in (first, last, b_last):
        assert col.notna().all()
        assert col.dt.year.between(2025, 2026).all()


# --- README counts --------------------------------------------------------------------------
def test_readme_counts_match_files(app_a, app_b, raw_a, raw_b, a_ids, b_valid, readme_counts):
    b_counts = Counter(b_valid)
    raw_b_ids = raw_b["ID"]
    actual = {
        "a_rows": len(app_a),
        "a_empty_id": int((raw_a["ID"] == "").sum()),
        "a_placeholder_0": int((app_a["ID"] == 0).sum()),
        "a_placeholder_minus_1": int((app_a["ID"] == -1).sum()),
        "a_exact_duplicate_rows": int(app_a.duplicated().sum()),
        "a_distinct_valid_ids": len(a_ids),
        "b_rows": len(app_b),
        "b_empty_id": int((raw_b_ids == "").sum()),
        "b_placeholder_guest": int((raw_b_ids == "guest").sum()),
        "b_placeholder_unknown": int((raw_b_ids == "unknown").sum()),
        "b_placeholder_null": int((raw_b_ids == "null").sum()),
        "b_placeholder_n_a": int((raw_b_ids == "N/A").sum()),
        "b_placeholder_none": int((raw_b_ids == "None").sum()),
        "b_placeholder_empty_parens": int((raw_b_ids == "(empty)").sum()),
        "b_id_nan_in_pandas": int(app_b["ID"].isna().sum()),
        "b_whitespace_ids": sum(x != x.strip() for x in b_valid),
        "b_near_misses": sum(x not in a_ids and x.strip() in a_ids for x in b_valid),
        "b_duplicated_ids": sum(c > 1 for c in b_counts.values()),
        "b_duplicate_extra_rows": sum(c - 1 for c in b_counts.values()),
        "b_distinct_valid_ids": len(b_counts),
        "overlap_exact": len(a_ids & set(b_counts)),
    }
    assert set(readme_counts) == README_KEYS
    assert readme_counts == actual


def test_quirk_sizes(readme_counts):
    c = readme_counts
    assert 0.03 <= c["a_empty_id"] / c["a_rows"] <= 0.05
    assert c["a_placeholder_0"] > 0 and c["a_placeholder_minus_1"] > 0
    assert 0.005 <= (c["a_placeholder_0"] + c["a_placeholder_minus_1"]) / c["a_rows"] <= 0.015
    assert 0.005 <= c["a_exact_duplicate_rows"] / c["a_rows"] <= 0.015
    assert 0.02 <= c["b_empty_id"] / c["b_rows"] <= 0.04
    for key in README_KEYS:
        if key.startswith("b_placeholder_"):
            assert 1 <= c[key] <= 10, key
    assert 15 <= c["b_whitespace_ids"] <= 25
    assert 20 <= c["b_duplicated_ids"] <= 40
    # What pandas turns into NaN: empty cells, "null", "N/A", "None".
    nan_keys = ("b_empty_id", "b_placeholder_null", "b_placeholder_n_a", "b_placeholder_none")
    assert c["b_id_nan_in_pandas"] == sum(c[k] for k in nan_keys)


# --- overlap ------------------------------------------------------------------------------------
def test_overlap_in_expected_range(a_ids, b_valid):
    overlap = a_ids & set(b_valid)
    assert 2_300 <= len(overlap) <= 2_500
    assert a_ids - set(b_valid), "app A must have ids that are not in app B"
    assert set(b_valid) - a_ids, "app B must have ids that are not in app A"


def test_near_misses_exist(a_ids, b_valid):
    near = [x for x in b_valid if x not in a_ids and x.strip() in a_ids]
    assert near
    assert all(x != x.strip() for x in near)


def test_shared_users_are_better_customers(app_a, app_b, a_ids, b_valid):
    shared = a_ids & set(b_valid)
    a_rows = app_a.drop_duplicates()
    a_rows = a_rows[a_rows["ID"].notna() & (a_rows["ID"] > 0)]
    in_both = a_rows["ID"].map(lambda x: str(int(x)) in shared)
    paid = a_rows["Plan"].isin(["plus", "pro"])
    assert paid[in_both].mean() > paid[~in_both].mean() + 0.1
    ltv = a_rows["Lifetime Value"]
    assert ltv[in_both].median() > 1.3 * ltv[~in_both].median()

    b_rows = app_b[app_b["ID"].isin(b_valid)]
    b_both = b_rows["ID"].isin(shared)
    gold = b_rows["Membership Tier"] == "gold"
    assert gold[b_both].mean() > gold[~b_both].mean()


# --- determinism ------------------------------------------------------------------------------
def test_regenerating_gives_identical_files(tmp_path):
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
