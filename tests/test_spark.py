"""moecohort on Spark DataFrames, in a local Spark session: the same canonical ids, anonymous
rules, near misses, reports and pushes as in memory.

Every Spark result is compared with the pandas result on the same data: the tricky ids of
tests/test_overlap.py (its POOL and the characters its checks are built from), plus the
characters where Spark's own lower-casing differs from pyarrow's. Spark start-up is slow:
one session serves the whole run (the ``spark`` fixture of conftest.py), and each report
is computed once per module where several tests read it.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from test_overlap import CHARS, NFC_E, NFD_E, POOL, assert_same_report, py_canonical

import moecohort as mc
import moecohort.input as input_module
from moecohort.ids import DEFAULT_PLACEHOLDERS, PLACEHOLDER, classify
from moecohort.ids.spark import is_spark_frame
from moecohort.ids.spark import stream as spark_stream
from moecohort.ids.spark.rules import (
    WHITESPACE,
    canonical_id,
    classify_distinct,
    ensure_ids,
    exact_rules,
)
from moecohort.matching.near_miss import normalise_for_near_miss
from moecohort.matching.spark import SparkOverlapReport

pytestmark = pytest.mark.spark

# Where Spark's lower (ICU, full case mapping) differs from pyarrow's (utf8proc, simple):
# "İ" lower-cases to "i" in pyarrow (so "İD" is the placeholder "id") and to "i̇" in Spark;
# a word-final "Σ" to "σ" in pyarrow and "ς" in Spark; U+A7DD, a letter of Unicode 17,
# only in pyarrow. Spark SQL has no NFC at all.
SPARK_LOWER_DIFFERS = ["İD", "id", "ΟΔΟΣ", "οδοσ", "οδος", "\ua7dd", "\u0277", "İ"]


def spark_ids(spark, values: list, name: str = "uid", partitions: int | None = None) -> DataFrame:
    """A Spark DataFrame with one id column, in the order given. Text (and None) stays a
    string column; other lists go through the pandas rules first (a Spark column has one
    type), so both sides hold the same canonical ids."""
    if not all(v is None or isinstance(v, str) for v in values):
        values = [py_canonical(v) for v in values]
    frame = spark.createDataFrame(pa.table({name: pa.array(values, pa.string())}))
    return frame.repartition(partitions) if partitions else frame


def from_pandas(spark, frame: pd.DataFrame) -> DataFrame:
    """A Spark DataFrame of a pandas one, through Arrow (no Python worker involved)."""
    return spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))


def tricky_pool() -> list[str | None]:
    """Every canonical POOL id, the texts test_overlap's classify checks are built from (all
    strings of up to two of its CHARS, padded placeholders) and where Spark differs."""
    pool = [py_canonical(v) for v in POOL]
    pool += ["".join(p) for n in (1, 2) for p in itertools.product(CHARS, repeat=n)]
    words = ["guest", "GUEST", "Null", "un\u212anown", "n/a", "<NA>", "\u212aENT", "İD"]
    pool += ["".join(t) for t in itertools.product(["", " ", "\xa0"], words, ["", "\u3000"])]
    return pool + SPARK_LOWER_DIFFERS + [f"jos{NFC_E}", f"JOS{NFD_E}", "x" * 80 + "\u2003"]


def tricky_sides(seed: int = 12) -> tuple[list, list]:
    rng = random.Random(seed)
    pool = tricky_pool()
    src = [rng.choice(pool) for _ in range(700)] + pool[::3]
    dst = [rng.choice(pool) for _ in range(700)] + pool[1::3]
    return src, dst


# --------------------------------------------------------------------------- detection
def test_spark_frames_are_told_apart_without_importing_pyspark(spark):
    assert is_spark_frame(spark.range(1))
    for other in (pd.DataFrame({"uid": ["a"]}), ["a"], pa.table({"uid": ["a"]}), None):
        assert not is_spark_frame(other)
    code = (
        "import sys, pandas as pd, moecohort as mc\n"
        "mc.overlap(pd.DataFrame({'uid': ['a', 'b']}), ['a'])\n"
        "mc.keep_in_destination(pd.DataFrame({'uid': ['a']}), ['a'])\n"
        "mc.push_cohort(pd.DataFrame({'uid': ['a']}), None, 'x', dry_run=True)\n"
        "mc.push_cohort(iter([pd.DataFrame({'uid': ['a']})]), None, 'x', dry_run=True)\n"
        "assert not [m for m in sys.modules if m.startswith(('pyspark', 'py4j'))]\n"
    )
    root = Path(__file__).resolve().parents[1]  # this checkout's moecohort, not an installed one
    subprocess.run(
        [sys.executable, "-c", code + "assert mc.__file__.startswith(sys.argv[1])\n", str(root)],
        check=True,
        cwd=root,
    )


# --------------------------------------------------------------------------- the id rules
def test_whitespace_is_what_str_strip_and_pyarrow_remove(spark):
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    python = {c for c in chars if c.isspace()}
    padded = pa.array([f"{c}a{c}" for c in chars])
    trimmed = pc.utf8_trim_whitespace(padded)
    arrow = {c for c, t in zip(chars, trimmed.to_pylist(), strict=True) if t == "a"}
    assert set(WHITESPACE) == python == arrow
    # Spark's btrim with that set trims exactly as pyarrow does, over every code point.
    frame = spark.createDataFrame(pa.table({"s": padded, "t": trimmed}))
    same = F.btrim("s", F.lit(WHITESPACE)) == F.col("t")
    assert frame.select(F.count_if(same), F.count_if(~same)).first() == (len(chars), 0)
    # Spark's own trim removes spaces only: "\t1\n" would not be trimmed.
    assert spark.range(1).select(F.trim(F.lit("\t1\n"))).first()[0] == "\t1\n"


@pytest.fixture(scope="module")
def typed_frame(spark):
    """Id columns of every type, with the pandas column each stands for."""
    frame = pd.DataFrame(
        {
            "long": pd.array([1004821, None, 7, -(2**62)], dtype="Int64"),
            "int": pd.array([1, 2, None, -5], dtype="Int32"),
            "short": pd.array([1, 2, 3, None], dtype="Int16"),
            "byte": pd.array([1, None, 3, 4], dtype="Int8"),
            "double": [1004821.0, np.nan, -0.0, 2.0**53 - 1],
            "float": np.array([17.0, np.nan, 2.0**24 - 1, 0.0], dtype="float32"),
            "text": [" 1004821", "1004821.0", None, "ABC"],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column("nothing", pa.nulls(len(frame)))
    return spark.createDataFrame(table), frame.assign(nothing=[None] * len(frame))


def test_canonical_ids_of_every_column_type_match_the_pandas_rules(typed_frame):
    sdf, frame = typed_frame
    assert dict(sdf.dtypes)["long"] == "bigint" and dict(sdf.dtypes)["float"] == "float"
    columns = list(frame.columns)
    got = sdf.select([canonical_id(sdf, c).checked.alias(c) for c in columns]).toArrow()
    for c in columns:
        expected = [None if pd.isna(v) else v for v in mc.canonical_ids(frame[c])]
        assert got[c].to_pylist() == expected, c
    assert got["double"].to_pylist()[0] == "1004821"  # 1004821.0 -> "1004821"
    assert got["text"].to_pylist()[:2] == [" 1004821", "1004821.0"]  # text untouched


def test_a_collated_string_column_is_compared_byte_for_byte(spark):
    sdf = spark.sql("SELECT collate(s, 'UTF8_LCASE') AS uid FROM VALUES ('a'), ('A'), ('a') t(s)")
    assert sdf.select("uid").distinct().count() == 1  # what Spark itself would group
    prepared = mc.prepare_ids(sdf)
    assert prepared.unique.to_pylist() == ["a", "A"] and prepared.duplicates == 1


@pytest.mark.parametrize(
    ("values", "dtype", "message"),
    [
        (
            [1.0, 1.5, 2.5],
            "double",
            r"Column 'ID' holds a number with a fractional part: 1\.5 "
            r"in the row Row\(ID=1\.5\) \(2 such rows\)",
        ),
        ([1.0, math.inf], "double", r"'ID' holds a number with a fractional part: inf"),
        ([1.0, 2.0**53], "double", r"'ID' holds a number too large to be stored exactly"),
        ([1.0, 2.0**24], "float", r"'ID' holds a number too large to be stored exactly"),
        ([True, None], "boolean", r"'ID' holds a boolean: True"),
    ],
)
def test_values_that_are_not_ids_are_an_input_error_naming_column_and_row(
    spark, values, dtype, message
):
    sdf = spark.createDataFrame(pa.table({"ID": values})).select(F.col("ID").cast(dtype))
    ids = canonical_id(sdf, "ID")
    with pytest.raises(mc.InputError, match=message) as info:
        ensure_ids(sdf, ids)
    assert info.value.column == "ID"
    assert list(info.value.rows.columns) == ["ID"] and len(info.value.rows) == 1


def test_a_date_column_is_refused_by_overlap_before_anything_else(spark):
    sdf = spark.sql("SELECT DATE'2024-01-02' AS uid")
    with pytest.raises(mc.InputError, match=r"'uid' holds a value of type date"):
        mc.overlap(sdf, ["a"])


def classified(spark, values: list[str | None], placeholders=None) -> dict:
    """(reason, key) per distinct value, as classify_distinct computes them in Spark."""
    frame = spark.createDataFrame(pa.table({"id": pa.array(list(dict.fromkeys(values)))}))
    found = classify_distinct(frame, placeholders, {}, keys=True)
    try:
        rows = found.table.select("id", "reason", "key").collect()
    finally:
        found.unpersist()
    return {r["id"]: (r["reason"], r["key"]) for r in rows}


@pytest.mark.parametrize("custom", [None, {"test", " Kent ", "x" * 30, "gäst", "İd", "ΟΔΟΣ"}])
def test_reasons_and_near_miss_keys_match_the_pyarrow_rules(spark, custom):
    values = tricky_pool()
    got = classified(spark, values, custom)
    distinct = list(dict.fromkeys(values))
    reasons = classify(pa.chunked_array([pa.array(distinct, pa.string())]), custom)
    keys = normalise_for_near_miss(pa.array(distinct, pa.string())).to_pylist()
    assert len(got) == len(distinct)
    for value, reason, key in zip(distinct, reasons.tolist(), keys, strict=True):
        assert got[value][0] == reason, (value, got[value], reason)
        assert got[value][1] == key, (value, got[value], key)
    # Spark's lower would have got these wrong; pyarrow (in Python workers) does not.
    if custom is None:
        assert got["İD"][0] == PLACEHOLDER and got["ΟΔΟΣ"][1] == "οδοσ"


def test_ascii_ids_never_start_a_python_worker(spark):
    context = spark.sparkContext
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(context, "pythonExec", "/nonexistent/python")
        report = mc.overlap(spark_ids(spark, ["a", "B", " b", "guest"]), ["b", "c"])
        assert (report.n_in_both, len(report.near_misses)) == (0, 2)
        with pytest.raises(Exception, match="nonexistent"):  # an id that is not ASCII needs one
            mc.overlap(spark_ids(spark, ["a", f"jos{NFC_E}"]), ["b"])


def test_the_worker_function_needs_pyarrow_not_moecohort():
    from pyspark import cloudpickle

    blob = cloudpickle.dumps(exact_rules(DEFAULT_PLACEHOLDERS, keys=True))
    code = (
        "import pickle, sys\n"
        "sys.modules['moecohort'] = None  # not importable on this executor\n"
        "import pyarrow as pa\n"
        "apply = pickle.loads(sys.stdin.buffer.read())\n"
        "batch = pa.record_batch({'id': pa.array(['\\u3000GUEST', 'İD', 'JOSÉ '])})\n"
        "out = next(apply(iter([batch])))\n"
        "print(out.column('reason').to_pylist(), out.column('key').to_pylist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=blob, capture_output=True, check=True
    ).stdout
    assert out.decode().strip() == "[3, 3, 0] ['guest', 'id', 'josé']"


# --------------------------------------------------------------------------- overlap
@pytest.fixture(scope="module")
def tricky_reports(spark) -> tuple[mc.OverlapReport, SparkOverlapReport]:
    src, dst = tricky_sides()
    expected = mc.overlap(list(src), list(dst), labels=("A", "B"))
    got = mc.overlap(spark_ids(spark, src), spark_ids(spark, dst), labels=("A", "B"))
    yield expected, got
    got.unpersist()


def test_spark_overlap_equals_the_pandas_overlap_on_tricky_ids(tricky_reports):
    expected, got = tricky_reports
    assert isinstance(got, SparkOverlapReport)
    assert (got.source, got.destination) == (expected.source, expected.destination)
    assert (got.n_in_both, got.n_only_source, got.n_only_destination) == (
        expected.n_in_both,
        expected.n_only_source,
        expected.n_only_destination,
    )
    pd.testing.assert_frame_equal(got.summary(), expected.summary())
    pd.testing.assert_frame_equal(got.near_misses, expected.near_misses)
    assert len(got.near_misses) > 50 and got.source.anonymous > 50 and got.source.duplicates
    # Read as pandas, the sets are the same Indexes in the same order (of first appearance).
    assert_same_report(expected, got.to_pandas())


def test_the_sets_stay_spark_dataframes_until_read(tricky_reports):
    expected, got = tricky_reports
    for which in ("in_both", "only_source", "only_destination"):
        ids = getattr(got, which)
        assert isinstance(ids, DataFrame)
        assert ids.columns == ["uid"]
        assert sorted(r[0] for r in ids.collect()) == sorted(getattr(expected, which))
        index = got.to_index(which)
        assert isinstance(index.array, pd.arrays.ArrowStringArray)
        assert list(index) == list(getattr(expected, which))


def test_the_report_faces_are_the_pandas_ones(tricky_reports):
    expected, got = tricky_reports
    text, html = repr(got), got._repr_html_()
    assert text.startswith("OverlapReport (Spark): ")
    assert expected.summary().to_string() in text
    assert repr(expected).splitlines()[-1] in text  # the near misses shown
    assert "Spark DataFrames" in text
    assert got.match_rate == expected.match_rate
    for sample in ("sample ids in both apps", "sample ids only in A", "sample ids only in B"):
        assert sample in html
    assert got.sample("in_both") == list(expected.in_both[:10])
    import matplotlib

    matplotlib.use("Agg")
    ax = got.plot()
    assert ax.get_title() == expected.plot().get_title()


def test_order_and_counts_do_not_depend_on_partitions(spark):
    src, dst = tricky_sides(seed=5)
    expected = mc.overlap(list(src), list(dst))
    got = mc.overlap(spark_ids(spark, src, partitions=3), spark_ids(spark, dst, partitions=5))
    try:
        assert (got.source, got.destination) == (expected.source, expected.destination)
        pd.testing.assert_frame_equal(got.near_misses, expected.near_misses)
        pandas = got.to_pandas()
        for which in ("in_both", "only_source", "only_destination"):
            assert sorted(getattr(pandas, which)) == sorted(getattr(expected, which))
    finally:
        got.unpersist()


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        pytest.param(
            [" x1", "ABC", f"jos{NFC_E}", "Z9", "same"],
            ["x1", "abc", f"jos{NFD_E}", "z9 ", "same"],
            id="kinds",
        ),
        pytest.param(["abc", "ABC", " abc"], ["zzz"], id="one-side-only"),
        pytest.param(["abc", "ABC"], ["ABC", "abc"], id="both-exact"),
        pytest.param(["abc"], ["abc", "ABC "], id="next-to-exact"),
        pytest.param(["Guest", " null"], ["guest", "NULL"], id="anonymous"),
        pytest.param(["123\x1f", f"jos{NFC_E}"], ["123"], id="unrelated"),
        pytest.param(["ΟΔΟΣ", "İD", "x"], ["οδοσ", "id", "X"], id="spark-lower-differs"),
        pytest.param([None, "guest"], [" ", "0"], id="all-anonymous"),
        pytest.param([], [], id="both-empty"),
    ],
)
def test_known_cases_agree_with_pandas(spark, source, destination):
    expected = mc.overlap(source, destination)
    got = mc.overlap(spark_ids(spark, source), spark_ids(spark, destination))
    try:
        assert_same_report(expected, got.to_pandas())
        assert "<table" in got._repr_html_()
    finally:
        got.unpersist()


def test_typed_columns_pairs_of_columns_and_mixed_sides(spark, typed_frame):
    sdf, frame = typed_frame
    dst = pd.DataFrame({"customer_id": ["1004821", "7", "17", "0", "x"]})
    for column in ("long", "double", "float"):
        expected = mc.overlap(frame, dst, on=(column, "customer_id"), near_misses=False)
        for other in (dst, from_pandas(spark, dst)):  # a pandas side goes to Spark
            got = mc.overlap(sdf, other, on=(column, "customer_id"), near_misses=False)
            assert_same_report(expected, got.to_pandas())
            assert got.in_both.columns == [column]
            assert got.only_destination.columns == ["customer_id"]
    # The pandas side may be the source too, and anything overlap takes in memory.
    got = mc.overlap(["7", "8", None], sdf, on=("uid", "long"))
    assert got.to_pandas().in_both.tolist() == ["7"] and got.source.anonymous == 1


def test_missing_columns_are_reported_as_for_pandas(spark):
    a = from_pandas(spark, pd.DataFrame({"ID": ["1"]}))
    b = from_pandas(spark, pd.DataFrame({"uid": ["1"]}))
    with pytest.raises(
        mc.InputError, match=r"The destination has: 'uid'\. Did you mean on=\('ID', 'uid'\)"
    ):
        mc.overlap(a, b, on="ID")
    with pytest.raises(mc.InputError, match=r"Did you mean on=\('ID', 'uid'\)"):
        mc.overlap(a, pd.DataFrame({"uid": ["1"]}), on="uid")


def test_keep_in_destination_and_report_keep(spark):
    df = pd.DataFrame({"uid": ["a", "b", "a", None, "guest", " a", "c"], "n": range(7)})
    dst = ["a", "c", "guest", None, "zzz"]
    expected = mc.keep_in_destination(df, dst)
    sdf = from_pandas(spark, df)
    for destination in (dst, spark_ids(spark, dst)):
        kept = mc.keep_in_destination(sdf, destination)
        assert isinstance(kept, DataFrame)
        assert sorted(kept.toArrow()["n"].to_pylist()) == expected["n"].tolist() == [0, 2, 6]
    local = mc.keep_in_destination(df, spark_ids(spark, dst))  # pandas rows, Spark destination
    pd.testing.assert_frame_equal(local, expected)
    report = mc.overlap(sdf, spark_ids(spark, dst))
    try:
        assert sorted(report.keep(sdf).toArrow()["n"].to_pylist()) == [0, 2, 6]
    finally:
        report.unpersist()
    with pytest.raises(mc.InputError, match="fractional part"):
        mc.keep_in_destination(from_pandas(spark, pd.DataFrame({"uid": [1.5]})), dst)


# --------------------------------------------------------------------------- push and sync
@pytest.fixture(scope="module")
def tricky_push_frames(spark) -> tuple[pd.DataFrame, DataFrame]:
    src, _ = tricky_sides(seed=3)
    frame = pd.DataFrame({"uid": pd.array(src, dtype=object), "n": range(len(src))})
    return frame, spark_ids(spark, src).withColumn("n", F.lit(1))


def test_prepare_ids_counts_in_spark_like_pandas(tricky_push_frames):
    frame, sdf = tricky_push_frames
    expected, got = mc.prepare_ids(frame), mc.prepare_ids(sdf)
    assert (got.rows, got.anonymous_by_reason, got.duplicates) == (
        expected.rows,
        expected.anonymous_by_reason,
        expected.duplicates,
    )
    assert got.unique.to_pylist() == expected.unique.to_pylist()  # first-appearance order


def test_push_streams_distinct_ids_in_bounded_parts(tricky_push_frames, monkeypatch):
    frame, sdf = tricky_push_frames
    fetched = []
    local_iterator = type(sdf).toLocalIterator

    def spy(self, prefetchPartitions=False):
        fetched.append((self.rdd.getNumPartitions(), prefetchPartitions))
        return local_iterator(self, prefetchPartitions)

    monkeypatch.setattr(type(sdf), "toLocalIterator", spy)
    monkeypatch.setattr(spark_stream, "PART_ROWS", 40)
    chunks = []
    add = input_module.IdSpool.add

    def counting_add(store, ids, placeholders=None):
        chunks.append(len(ids))
        add(store, ids, placeholders)

    monkeypatch.setattr(input_module.IdSpool, "add", counting_add)
    monkeypatch.setattr(spark_stream, "CHUNK_ROWS", 25)
    got = mc.push_cohort(sdf, None, "Spark streamed", dry_run=True)
    spark_chunks = list(chunks)  # the pandas push below adds its own
    expected = mc.push_cohort(iter([frame]), None, "Spark streamed", dry_run=True)
    unique = len(mc.prepare_ids(frame).unique)
    assert fetched == [(-(-unique // 40), False)]  # partitions of at most 40 ids, one at a time
    assert max(spark_chunks) == 25 and sum(spark_chunks) == unique
    for name in ("input_rows", "skipped_anonymous", "skipped_duplicates", "members_planned"):
        assert getattr(got, name) == getattr(expected, name), name
    assert got.anonymous_by_reason == expected.anonymous_by_reason
    pd.testing.assert_frame_equal(got.plan, expected.plan)  # the same ids, in the same order


def test_push_and_sync_a_spark_dataframe_against_the_emulator(spark, moe_emulator):
    moe_emulator.add_workspace("WS", "key-spark-0001", users=["u1", "u2", "u3"])
    app = mc.AppCredentials("WS", "key-spark-0001", base_url=moe_emulator.url)
    users = spark_ids(spark, ["u1", "u2", "u2", "guest", None, "u9", " u1"])
    result = mc.push_cohort(users, app, "Spark cohort", progress=False)
    assert result.ok and (result.input_rows, result.skipped_anonymous) == (7, 2)
    assert (result.skipped_duplicates, result.members_accepted) == (1, 4)
    assert result.anonymous_by_reason == {"missing": 1, "blank": 0, "placeholder": 1}
    assert moe_emulator.cohort_members("WS", "Spark cohort") == {"u1", "u2"}

    import tempfile
    from pathlib import Path

    state = str(Path(tempfile.mkdtemp()) / "sync.sqlite")
    first = mc.sync_cohort(
        spark_ids(spark, ["u1", "u2"]), app, "Mirror", state=state, progress=False
    )
    second = mc.sync_cohort(
        spark_ids(spark, ["u2", "u3"]), app, "Mirror", state=state, progress=False
    )
    assert first.ok and second.ok and (second.to_add, second.to_remove) == (1, 1)
    assert moe_emulator.cohort_members("WS", "Mirror") == {"u2", "u3"}


def test_bad_and_empty_inputs_fail_before_anything_is_sent(spark, moe_emulator):
    moe_emulator.add_workspace("WS", "key-spark-0002", users=["u1"])
    app = mc.AppCredentials("WS", "key-spark-0002", base_url=moe_emulator.url)
    fractional = from_pandas(spark, pd.DataFrame({"uid": [1.0, 2.5]}))
    with pytest.raises(mc.InputError, match=r"'uid' holds a number with a fractional part: 2\.5"):
        mc.push_cohort(fractional, app, "Bad", progress=False)
    with pytest.raises(mc.EmptyInputError):
        mc.push_cohort(spark_ids(spark, []), app, "Bad", progress=False)
    with pytest.raises(mc.AllAnonymousError, match="1 missing, 2 placeholder"):
        mc.push_cohort(spark_ids(spark, [None, "guest", "0"]), app, "Bad", progress=False)
    with pytest.raises(mc.InputError, match=r"Column 'ID' not found\. The frame has: 'uid'"):
        mc.push_cohort(spark_ids(spark, ["u1"]), app, "Bad", id_col="ID", progress=False)
    with pytest.raises(mc.EmptyInputError):
        mc.prepare_ids(spark_ids(spark, []))
    assert moe_emulator.request_log("WS") == []


# --------------------------------------------------------------------------- the README
def test_the_readme_spark_example_runs(spark, moe_emulator):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```py\n(# Spark.*?)```", readme, flags=re.S)
    assert len(blocks) == 1
    moe_emulator.add_workspace("DEST-APP", "dest-data-api-key-9f2a", users=["1004821"])
    app = mc.AppCredentials("DEST-APP", "dest-data-api-key-9f2a", base_url=moe_emulator.url)
    namespace = {"mc": mc, "pd": pd, "app": app}
    exec(compile(blocks[0], "README.md (Spark)", "exec"), namespace)
    assert namespace["spark"] is spark  # getOrCreate: the session of the run
    assert moe_emulator.cohort_members("DEST-APP", "Lake buyers") == {"1004821"}
