"""The id rules of :mod:`moecohort.ids` as Spark expressions.

The canonical id (:func:`canonical_id`) follows :func:`moecohort.canonical_ids`: text as it
is (compared byte for byte, whatever the column's collation), ints as decimals, integral
floats as ints (``1004821.0`` -> ``"1004821"``), NaN missing. A fractional or infinite
float, a float too large to be exact, a boolean or a value of any other type fails the
first Spark job that reads it; :func:`reporting_bad_ids` turns that into the
:class:`~moecohort.InputError` the in-memory rules raise, naming the column and a row,
before anything is sent.

Anonymous ids and near-miss keys are worked out once per distinct id
(:func:`classify_distinct`):

* trimming removes what Python's ``str.strip()`` removes (:data:`WHITESPACE`, which is
  also what pyarrow's ``utf8_trim_whitespace`` removes), with ``btrim``: Spark's ``trim``
  removes spaces only;
* ASCII ids are classified by Spark expressions (ASCII lower-casing is the same everywhere);
* ids with other characters go through pyarrow in Python workers (``mapInArrow``), with the
  functions the in-memory path uses. Spark's ``lower`` (ICU) folds a few characters unlike
  pyarrow (utf8proc): ``İ``, a word-final ``Σ``, letters of the newest Unicode version; and
  Spark SQL has no NFC normalisation (``reflect`` into ICU is non-deterministic, so Spark
  refuses it in aggregates). That step runs only when such ids exist: ASCII data never
  starts a Python worker.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ...errors import InputError
from ..anonymous import BLANK, DEFAULT_PLACEHOLDERS, MISSING, OK, PLACEHOLDER
from ..frames import require_column

__all__ = [
    "REASONS",
    "WHITESPACE",
    "Classified",
    "IdColumn",
    "bad_id_error",
    "canonical_id",
    "classify_distinct",
    "column_ref",
    "ensure_ids",
    "exact_rules",
    "native_key",
    "native_reason",
    "placeholder_set",
    "reporting_bad_ids",
    "require_spark_column",
    "trimmed",
]

#: What ``str.strip()`` removes; pyarrow's ``utf8_trim_whitespace`` removes the same
#: characters (tests/test_spark.py holds the three together over every code point).
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
#: Every reason code, real ids first.
REASONS = (OK, MISSING, BLANK, PLACEHOLDER)
_BAD_ID = "moecohort: not a user id in column "
_TOO_LARGE = "a number too large to be stored exactly as a float (it has already been rounded)"
_NON_ASCII = "_moecohort_non_ascii"
_TRIMMED = "_moecohort_trimmed"
_DISTINCT = "distinct"


# --------------------------------------------------------------------------- columns
def column_ref(name: str) -> Column:
    """The column called ``name``, exactly (dots and backticks are part of the name)."""
    return F.col("`" + name.replace("`", "``") + "`")


def require_spark_column(df: DataFrame, column: str, **kwargs: Any) -> None:
    """:func:`~moecohort.ids.require_column`'s check and message, for a Spark DataFrame."""
    require_column(pd.DataFrame(columns=df.columns), column, **kwargs)


@dataclass(frozen=True)
class IdColumn:
    """A column's canonical ids (``value``) and the checks its rows must pass."""

    column: str
    value: Column
    #: (rows that hold no id, what they hold), in the order the in-memory rules check them.
    checks: tuple[tuple[Column, str], ...] = ()
    #: Names this column in the message of the Spark job it fails.
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def marker(self) -> str:
        return f"{_BAD_ID}{self.column!r} [{self.token}]"

    @property
    def checked(self) -> Column:
        """``value``, failing the Spark job at the first row that holds no id."""
        if not self.checks:
            return self.value
        bad = functools.reduce(operator.or_, [check for check, _ in self.checks])
        return F.when(bad, F.raise_error(F.lit(self.marker))).otherwise(self.value)


def canonical_id(df: DataFrame, column: str) -> IdColumn:
    """The canonical ids of ``df[column]`` (see the module docs)."""
    dtype = df.schema[column].dataType
    col = column_ref(column)
    if isinstance(dtype, (T.StringType, T.CharType, T.VarcharType, T.IntegralType)):
        # Text as it is, ints as decimals. Casting to STRING also drops a collation such as
        # UTF8_LCASE, under which "a" and "A" would group as one id.
        return IdColumn(column, col.cast(T.StringType()))
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        x = col.cast(T.DoubleType())
        present = col.isNotNull() & ~F.isnan(x)
        fractional = present & ((F.abs(x) == F.lit(math.inf)) | (x != F.rint(x)))
        limit = 2.0**24 if isinstance(dtype, T.FloatType) else 2.0**53
        huge = present & ~fractional & (F.abs(x) >= F.lit(limit))
        value = F.when(present, x.cast(T.LongType()).cast(T.StringType()))
        checks = ((fractional, "a number with a fractional part"), (huge, _TOO_LARGE))
        return IdColumn(column, value, checks)
    nothing = F.lit(None).cast(T.StringType())
    if isinstance(dtype, T.NullType):
        return IdColumn(column, nothing)
    what = (
        "a boolean"
        if isinstance(dtype, T.BooleanType)
        else f"a value of type {dtype.simpleString()}"
    )
    return IdColumn(column, nothing, ((col.isNotNull(), what),))


@contextlib.contextmanager
def reporting_bad_ids(df: DataFrame, ids: IdColumn) -> Iterator[None]:
    """Turn the failure of a Spark job at a row that holds no id (:attr:`IdColumn.checked`)
    into the :class:`~moecohort.InputError` the in-memory rules raise."""
    try:
        yield
    except Exception as exc:
        if not ids.checks or ids.marker not in str(exc):
            raise
        raise bad_id_error(df, ids) from None


def ensure_ids(df: DataFrame, ids: IdColumn) -> None:
    """Raise the :class:`~moecohort.InputError` of the first row that holds no id, if any
    (one Spark job, only for the column types that can hold such rows)."""
    if ids.checks:
        error = bad_id_error(df, ids)
        if error.rows is not None:
            raise error


def bad_id_error(df: DataFrame, ids: IdColumn) -> InputError:
    """The error for the first row of ``df`` that holds no id (``rows`` is None if none)."""
    for bad, what in ids.checks:
        found = df.where(bad).limit(1).collect()
        if not found:
            continue
        row = found[0]
        count = df.where(bad).count()
        more = f" ({count:,} such rows)" if count > 1 else ""
        shown = repr(row)
        shown = shown if len(shown) <= 200 else shown[:199] + "…"
        return InputError(
            f"Column {ids.column!r} holds {what}: {row[ids.column]!r} in the row {shown}{more}. "
            "A user id must be text or a whole number; fix the value, or read the column "
            f"as text (for example with a schema that says `{ids.column}` STRING).",
            column=ids.column,
            rows=pd.DataFrame([row.asDict()]),
        )
    return InputError(f"Column {ids.column!r} holds values that are not user ids.")


# --------------------------------------------------------------------------- anonymous, keys
def placeholder_set(placeholders: Iterable[str] | None) -> frozenset[str]:
    """The placeholders as the in-memory rules compare them: trimmed, lower-cased."""
    if placeholders is None:
        return DEFAULT_PLACEHOLDERS
    if isinstance(placeholders, str):
        raise TypeError("placeholders must be a collection of strings, not a single string")
    return frozenset(str(p).strip().lower() for p in placeholders)


def trimmed(ids: Column) -> Column:
    """``ids`` without what ``str.strip()`` removes at either end."""
    return F.btrim(ids, F.lit(WHITESPACE))


def native_reason(ids: Column, text: Column, marks: frozenset[str]) -> Column:
    """The reason code of missing and ASCII ids (not exact for other ids), given the ids
    ``trimmed`` (``text``)."""
    reason = F.when(ids.isNull(), MISSING).when(text == "", BLANK)
    ascii_marks = sorted(m for m in marks if m and m.isascii())
    if ascii_marks:  # bytes are characters in ASCII text
        short = F.octet_length(text) <= max(len(m) for m in ascii_marks)
        reason = reason.when(short & F.lower(text).isin(ascii_marks), PLACEHOLDER)
    return reason.otherwise(OK)


def native_key(text: Column) -> Column:
    """The near-miss key of ASCII ids, given them ``trimmed`` (``text``): lower-cased (NFC
    changes no ASCII text)."""
    return F.lower(text)


def _non_ascii(ids: Column) -> Column:
    return F.coalesce(F.octet_length(ids) != F.length(ids), F.lit(False))


Batches = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def exact_rules(marks: frozenset[str], keys: bool) -> Batches:
    """What ``mapInArrow`` runs on the distinct non-ASCII ids: appends their reason code
    and, with ``keys``, their near-miss key, computed by pyarrow as
    :func:`~moecohort.ids.classify` and
    :func:`~moecohort.matching.near_miss.normalise_for_near_miss` compute them.

    The function is pickled by value and imports only pyarrow: executors need pyarrow
    (as for any Arrow UDF), not moecohort."""
    values = sorted(marks)
    ok, blank, placeholder = OK, BLANK, PLACEHOLDER

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.compute as pc

        for batch in batches:
            ids = batch.column(batch.schema.get_field_index("id"))
            text = pc.utf8_trim_whitespace(ids)
            lowered = pc.utf8_lower(text)
            hit = pc.is_in(lowered, value_set=pa.array(values, type=lowered.type))
            reason = pc.if_else(hit, placeholder, ok)
            reason = pc.if_else(pc.equal(pc.binary_length(text), 0), blank, reason)
            arrays = [*batch.columns, reason.cast(pa.int32())]
            names = [*batch.schema.names, "reason"]
            if keys:
                arrays.append(pc.utf8_lower(pc.utf8_normalize(text, "NFC")))
                names.append("key")
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    return apply


@dataclass
class Classified:
    """Distinct ids with their reason code (column ``reason``; ``key`` too when asked),
    and sums per reason code, computed in Spark. The table is cached on the executors
    until :meth:`unpersist`."""

    table: DataFrame
    #: Per reason code: each sum asked for, and ``"distinct"``, the number of ids.
    sums: dict[int, dict[str, int]]
    cached: list[DataFrame] = field(default_factory=list)

    def total(self, name: str, reasons: Sequence[int] = REASONS) -> int:
        """The sum ``name`` over ``reasons``."""
        return sum(self.sums.get(r, {}).get(name, 0) for r in reasons)

    def unpersist(self) -> None:
        """Free the cached tables (the table stays readable: Spark recomputes it)."""
        for frame in self.cached:
            frame.unpersist()
        self.cached.clear()


def classify_distinct(
    frame: DataFrame,
    placeholders: Iterable[str] | None,
    sums: dict[str, Column],
    *,
    keys: bool = False,
) -> Classified:
    """Classify the distinct ids of ``frame`` (column ``id``, one row per id) and add up
    ``sums`` (aggregate expressions) per reason, in Spark.

    With ``keys``, each id also gets ``changed`` (whether its near-miss key differs from
    it; counted per reason as ``"changed"``) and ``key``, its near-miss key.

    One job classifies every id with Spark expressions and caches the table; when some
    ids are not ASCII, a second one classifies those again with pyarrow
    (:func:`exact_rules`), which is what counts for them."""
    marks = placeholder_set(placeholders)
    ids, text = F.col("id"), F.col(_TRIMMED)
    columns = [native_reason(ids, text, marks).alias("reason"), _non_ascii(ids).alias(_NON_ASCII)]
    aggs = [e.alias(name) for name, e in sums.items()]
    if keys:
        columns.append((native_key(text) != ids).alias("changed"))
        aggs.append(F.count_if(F.col("changed")).alias("changed"))
    aggs.append(F.count(F.lit(1)).alias(_DISTINCT))
    names = [*sums, *(["changed"] if keys else []), _DISTINCT]
    # Trimmed once, in a projection of its own: inside CASE WHEN branches Spark would
    # trim again for every branch that reads it.
    with_text = frame.select("*", trimmed(ids).alias(_TRIMMED))
    first = with_text.select(*[column_ref(c) for c in frame.columns], *columns).persist()
    found = Classified(first, {}, [first])
    try:
        other = 0
        for row in first.groupBy(_NON_ASCII, "reason").agg(*aggs).collect():
            if row[_NON_ASCII]:
                other += row[_DISTINCT]
            else:
                _add(found.sums, row, names)
        plain = first.where(~F.col(_NON_ASCII)).drop(_NON_ASCII)
        if keys:  # the key of the ids it changes (few); the others are their own key
            changed_key = native_key(trimmed(ids))
            plain = plain.withColumn("key", F.when(F.col("changed"), changed_key).otherwise(ids))
        found.table = plain
        if not other:
            return found
        fields = [*frame.schema.fields, T.StructField("reason", T.IntegerType())]
        if keys:
            fields.append(T.StructField("key", T.StringType()))
        exact = first.where(F.col(_NON_ASCII)).select(*[column_ref(c) for c in frame.columns])
        exact = exact.mapInArrow(exact_rules(marks, keys), T.StructType(fields))
        if keys:
            exact = exact.withColumn("changed", F.col("key") != ids)
        exact = exact.persist()
        found.cached.append(exact)
        for row in exact.groupBy("reason").agg(*aggs).collect():
            _add(found.sums, row, names)
        found.table = plain.unionByName(exact)
    except BaseException:
        found.unpersist()
        raise
    return found


def _add(sums: dict[int, dict[str, int]], row: Any, names: list[str]) -> None:
    """Add a row of sums to those of its reason code."""
    into = sums.setdefault(int(row["reason"]), dict.fromkeys(names, 0))
    for name in names:
        into[name] += int(row[name] or 0)
