"""Any Arrow input (Polars, DuckDB, pyarrow, anything exporting ``__arrow_c_stream__``)
gives the results the same data gives as pandas: prepare_ids, overlap,
keep_in_destination, push_cohort and sync_cohort, on tricky ids.

Each test runs once per kind of input (``KINDS``); pandas is the reference.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from support import ids

import moecohort as mc
from moecohort.input import READ_ROWS, arrow_kind, is_stream

spooling = importlib.import_module("moecohort.input.spooling")
sources = importlib.import_module("moecohort.input.sources")
compute = importlib.import_module("moecohort.matching.compute")

KEY = "arrow-test-key-77aa"

#: Text ids: unicode (composed and not), spaces inside and around, empty and blank,
#: missing, placeholders in any case, numeric-looking text, repeats.
TEXT = [
    "u1",
    " u1",
    "u1 ",
    "U1",
    "jos\u00e9",
    "jose\u0301",
    "\u65e5\u672c",
    "",
    "   ",
    None,
    "guest",
    "NULL",
    "N/A",
    "0",
    "1004821",
    "1004821",
    "00123",
    "123",
    "1.0",
    "1e3",
    "u1",
    "a\u00a0b",
]


class CStream:
    """Nothing but the Arrow PyCapsule interface (what any other library would export)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._table.__arrow_c_stream__(requested_schema)


def _duck(frame: pd.DataFrame) -> Any:
    return duckdb.connect().from_arrow(pa.Table.from_pandas(frame, preserve_index=False))


#: How each kind of input is made from a pandas frame (None stays None, ints stay ints).
KINDS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "pandas": lambda f: f,
    "polars": pl.from_pandas,
    "polars-lazy": lambda f: pl.from_pandas(f).lazy(),
    "duckdb": _duck,
    "arrow-table": lambda f: pa.Table.from_pandas(f, preserve_index=False),
    "arrow-dataset": lambda f: ds.dataset(pa.Table.from_pandas(f, preserve_index=False)),
    "arrow-reader": lambda f: pa.Table.from_pandas(f, preserve_index=False).to_reader(3),
    "c-stream": lambda f: CStream(pa.Table.from_pandas(f, preserve_index=False)),
}
ARROW_KINDS = [k for k in KINDS if k != "pandas"]


@pytest.fixture(params=ARROW_KINDS)
def kind(request) -> str:
    return request.param


def frames() -> dict[str, pd.DataFrame]:
    """Id columns of every type an export holds, with an unrelated column beside them."""
    n = len(TEXT)
    return {
        "text": pd.DataFrame({"uid": pd.Series(TEXT, dtype=object), "x": range(n)}),
        "int": pd.DataFrame(
            {"uid": pd.array([1, 2, None, 1004821, 2, 0, 17], "Int64"), "x": range(7)}
        ),
        "float": pd.DataFrame({"uid": [1004821.0, None, 17.0, 17.0, np.nan], "x": range(5)}),
        "category": pd.DataFrame(
            {"uid": pd.Series(["a", "b", None, "a", "guest"], dtype="category"), "x": range(5)}
        ),
    }


@pytest.fixture(params=list(frames()))
def data(request) -> pd.DataFrame:
    return frames()[request.param]


def as_kind(frame: pd.DataFrame, kind: str) -> Any:
    return KINDS[kind](frame)


# --------------------------------------------------------------------------- prepare_ids
def test_prepare_ids_is_the_same_as_from_pandas(data, kind):
    expected = mc.prepare_ids(data, "uid")
    got = mc.prepare_ids(as_kind(data, kind), "uid")
    assert got.unique.to_pylist() == expected.unique.to_pylist()
    assert (got.rows, got.anonymous_by_reason, got.duplicates, got.column) == (
        expected.rows,
        expected.anonymous_by_reason,
        expected.duplicates,
        expected.column,
    )


@pytest.mark.parametrize(
    "column",
    [
        pl.Series("uid", TEXT),
        pa.chunked_array([TEXT[:5], TEXT[5:]]),
        pa.array(TEXT),
        pl.Series("uid", TEXT).to_frame().to_arrow().column(0),
    ],
    ids=["polars-series", "chunked-array", "array", "string-view-column"],
)
def test_a_column_of_ids_is_read_as_ids(column):
    expected = mc.prepare_ids(pd.Series(TEXT, dtype=object), "uid")
    got = mc.prepare_ids(column, "uid")
    assert got.unique.to_pylist() == expected.unique.to_pylist()
    assert got.anonymous_by_reason == expected.anonymous_by_reason
    assert arrow_kind(column) == "ids" and not is_stream(column)


def test_no_pandas_copy_is_made_on_the_way_in(kind, monkeypatch):
    """Arrow in, Arrow ids: nothing goes through a pandas Series or DataFrame."""
    frame = frames()["text"]
    data = as_kind(frame, kind)
    expected = mc.prepare_ids(frame, "uid").unique.to_pylist()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pandas copy was made")

    monkeypatch.setattr(pd.Series, "__init__", refuse)
    monkeypatch.setattr(pd.DataFrame, "__init__", refuse)
    monkeypatch.setattr(pl.DataFrame, "to_pandas", refuse)
    prepared = mc.prepare_ids(data, "uid")
    assert prepared.unique.to_pylist() == expected


# --------------------------------------------------------------------------- overlap
def report_of(report: mc.OverlapReport) -> tuple[Any, ...]:
    nm = report.near_misses
    return (
        list(report.in_both),
        list(report.only_source),
        list(report.only_destination),
        report.source,
        report.destination,
        report.summary().to_dict(),
        list(zip(nm["source_id"], nm["destination_id"], nm["differs_by"], strict=True)),
    )


@pytest.mark.parametrize("engine", ["pyarrow", "numba"])
def test_overlap_is_the_same_as_from_pandas(kind, engine):
    text = frames()["text"]
    source = text.rename(columns={"uid": "ID"})
    destination = pd.DataFrame({"customer": ["U1", "1004821", "123", " u1", "x", None, "x"]})
    on = ("ID", "customer")
    expected = mc.overlap(source, destination, on=on, engine=engine)
    for src, dst in [
        (as_kind(source, kind), as_kind(destination, kind)),
        (source, as_kind(destination, kind)),
        (as_kind(source, kind), destination),
    ]:
        got = mc.overlap(src, dst, on=on, engine=engine)
        assert report_of(got) == report_of(expected)
        assert isinstance(got.in_both, pd.Index)  # results stay pandas


def test_overlap_of_numbers_against_text(kind):
    ints, floats = frames()["int"], frames()["float"]
    expected = mc.overlap(ints, floats, on="uid")
    got = mc.overlap(as_kind(ints, kind), as_kind(floats, kind), on="uid")
    assert report_of(got) == report_of(expected)


def test_a_missing_column_lists_the_columns_of_that_side(kind):
    source = as_kind(pd.DataFrame({"ID": ["a"], "plan": ["b"]}), kind)
    with pytest.raises(mc.InputError, match=r"'id' not found.*'ID', 'plan'.*on=\('ID', 'uid'\)"):
        mc.overlap(source, pd.DataFrame({"uid": ["a"]}), on=("id", "uid"))


@pytest.mark.parametrize(
    ("values", "what", "row"),
    [
        ([True, None, False], "a boolean", 0),
        ([None, 1.0, 2.5], "a number with a fractional part", 2),
        ([1.0, float("inf")], "a number with a fractional part", 1),
    ],
)
def test_unusable_ids_name_the_column_and_the_row(kind, values, what, row):
    frame = pd.DataFrame({"uid": pd.Series(values, dtype=object if None in values else None)})
    if frame["uid"].dtype == object and what != "a boolean":
        frame["uid"] = frame["uid"].astype(float)
    with pytest.raises(mc.InputError, match=rf"'uid' holds {what}.* at row {row}") as caught:
        mc.prepare_ids(as_kind(frame, kind), "uid")
    assert caught.value.column == "uid" and len(caught.value.rows) == 1


def test_decimals_without_a_fraction_are_ints():
    """DuckDB's HUGEINT (and DECIMAL(p, 0)) arrive as Arrow decimals."""
    rel = duckdb.sql("SELECT * FROM (VALUES (1004821::HUGEINT), (NULL), (17)) t(uid)")
    assert mc.prepare_ids(rel, "uid").unique.to_pylist() == ["1004821", "17"]
    with pytest.raises(mc.InputError, match="fractional part: Decimal"):
        mc.prepare_ids(duckdb.sql("SELECT 1.5::DECIMAL(4, 1) AS uid"), "uid")


# --------------------------------------------------------------------------- keep_in_destination
def test_keep_in_destination_takes_arrow_on_either_side(kind):
    source = pd.DataFrame({"uid": ["u1", "u2", None, "u3", "u1"], "ltv": [1, 2, 3, 4, 5]})
    destination = pd.DataFrame({"uid": ["u1", "u3", "guest"]})
    expected = mc.keep_in_destination(source, destination)
    from_arrow_destination = mc.keep_in_destination(source, as_kind(destination, kind))
    pd.testing.assert_frame_equal(from_arrow_destination, expected)
    if kind in ("polars", "polars-lazy", "duckdb", "arrow-table", "arrow-dataset"):
        rows = mc.keep_in_destination(as_kind(source, kind), destination)
        assert isinstance(rows, pd.DataFrame)  # results stay pandas
        assert rows["uid"].tolist() == ["u1", "u3", "u1"] and rows["ltv"].tolist() == [1, 4, 5]


# --------------------------------------------------------------------------- push and sync
def test_arrow_tables_are_streamed_in_pieces(monkeypatch):
    """A large Polars frame is read in pieces (bounded memory), like a file."""
    sizes: list[int] = []
    add = spooling.IdSpool.add

    def spy(store: Any, chunk: pa.ChunkedArray, placeholders: Any = None) -> None:
        sizes.append(len(chunk))
        add(store, chunk, placeholders)

    monkeypatch.setattr(sources, "READ_ROWS", 1000)
    monkeypatch.setattr(spooling.IdSpool, "add", spy)
    frame = pl.DataFrame({"uid": ids(10_000), "x": range(10_000)})
    assert is_stream(frame) and is_stream(frame.lazy()) and is_stream(_duck(frame.to_pandas()))
    result = mc.push_cohort(frame, None, "Pieces", dry_run=True)
    assert result.members_planned == 10_000
    assert len(sizes) >= 10 and max(sizes) <= 1000
    assert READ_ROWS > 1000  # the default reads far larger pieces


@pytest.fixture
def app(moe_emulator) -> mc.AppCredentials:
    users = [t for t in TEXT if t] + ["17", "1", "2", "a", "b"] + ids(50)
    moe_emulator.add_workspace("WS", KEY, users=users, requests_per_minute=1_000_000)
    return mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)


def test_push_is_the_same_as_from_pandas(moe_emulator, app, data, kind):
    expected = mc.push_cohort(data, app, "From pandas", progress=False)
    got = mc.push_cohort(as_kind(data, kind), app, f"From {kind}", progress=False)
    assert got.ok and expected.ok
    for field in ("members_accepted", "skipped_anonymous", "skipped_duplicates", "input_rows"):
        assert getattr(got, field) == getattr(expected, field), field
    assert got.anonymous_by_reason == expected.anonymous_by_reason
    assert moe_emulator.cohort_members("WS", f"From {kind}") == moe_emulator.cohort_members(
        "WS", "From pandas"
    )


def test_sync_is_the_same_as_from_pandas(moe_emulator, app, kind, tmp_path):
    state = tmp_path / "state.sqlite"
    first, second = frames()["text"], pd.DataFrame({"uid": ["u1", "a", "b", *ids(50)]})
    for name, convert in (("pandas", KINDS["pandas"]), (kind, KINDS[kind])):
        a = mc.sync_cohort(convert(first), app, f"Mirror {name}", state=state, progress=False)
        b = mc.sync_cohort(convert(second), app, f"Mirror {name}", state=state, progress=False)
        assert a.ok and b.ok
        counts = [(r.input_rows, r.desired, r.to_add, r.to_remove) for r in (a, b)]
        if name == "pandas":
            expected = counts
        else:
            assert counts == expected
    assert moe_emulator.cohort_members("WS", f"Mirror {kind}") == moe_emulator.cohort_members(
        "WS", "Mirror pandas"
    )
