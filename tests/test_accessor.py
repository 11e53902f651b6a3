"""The df.moe accessor: each method gives what the module-level function gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import moecohort
from moecohort import (
    InputError,
    anonymous_report,
    canonical_ids,
    drop_anonymous,
    keep_in_destination,
    overlap,
)


@pytest.fixture
def src() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": [1004821.0, np.nan, 0.0, 1004822.0, 1004821.0, 1004823.0],
            "plan": ["pro", "free", "plus", "pro", "pro", "free"],
        },
        index=list("abcdef"),
    )


@pytest.fixture
def dst() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["1004821", " 1004822", "guest", "1004824"]})


def test_accessor_is_registered_on_import():
    assert hasattr(pd.DataFrame({"uid": []}), "moe")
    assert moecohort.accessor.MoeAccessor is type(pd.DataFrame().moe)


def test_canonical_ids(src):
    via = src.moe.canonical_ids("ID")
    pd.testing.assert_series_equal(via, canonical_ids(src["ID"]))
    assert [None if pd.isna(v) else v for v in via] == [
        "1004821",
        None,
        "0",
        "1004822",
        "1004821",
        "1004823",
    ]


def test_drop_anonymous(src):
    pd.testing.assert_frame_equal(src.moe.drop_anonymous("ID"), drop_anonymous(src, "ID"))
    clean, rep = src.moe.drop_anonymous("ID", report=True, placeholders=set())
    # With no placeholders, only the missing id goes; "0" stays.
    assert list(clean.index) == ["a", "c", "d", "e", "f"]
    assert (rep.missing, rep.blank, rep.placeholder) == (1, 0, 0)


def test_anonymous_report(src):
    via = src.moe.anonymous_report("ID", examples=1)
    direct = anonymous_report(src, "ID", examples=1)
    assert str(via) == str(direct)
    pd.testing.assert_frame_equal(via.summary(), direct.summary())
    pd.testing.assert_frame_equal(via.examples, direct.examples)
    assert (via.missing, via.placeholder) == (1, 1)


@pytest.mark.parametrize("engine", ["pyarrow", "duckdb"])
def test_overlap(src, dst, engine):
    via = src.moe.overlap(dst, on=("ID", "customer_id"), engine=engine, labels=("A", "B"))
    direct = overlap(src, dst, on=("ID", "customer_id"), engine=engine, labels=("A", "B"))
    assert list(via.in_both) == list(direct.in_both) == ["1004821"]
    assert list(via.only_source) == list(direct.only_source) == ["1004822", "1004823"]
    assert list(via.only_destination) == list(direct.only_destination) == [" 1004822", "1004824"]
    pd.testing.assert_frame_equal(via.summary(), direct.summary())
    pd.testing.assert_frame_equal(via.near_misses, direct.near_misses)
    assert via.near_misses["differs_by"].tolist() == ["whitespace"]


def test_keep_in_destination(src, dst):
    via = src.moe.keep_in_destination(dst, "ID", destination_col="customer_id")
    direct = keep_in_destination(src, dst, "ID", destination_col="customer_id")
    pd.testing.assert_frame_equal(via, direct)
    assert list(via.index) == ["a", "e"]


def test_accessor_errors_list_columns(src):
    for call in (
        lambda: src.moe.canonical_ids("uid"),
        lambda: src.moe.drop_anonymous(),
        lambda: src.moe.anonymous_report(),
        lambda: src.moe.overlap(["1"]),
        lambda: src.moe.keep_in_destination(["1"]),
    ):
        with pytest.raises(InputError, match=r"'uid'.*'ID', 'plan'"):
            call()
