"""The ids of an input held in memory: :func:`prepare_ids` and :class:`PreparedIds`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import AllAnonymousError, EmptyInputError, InputError
from ..ids import as_series, require_column, to_arrow_ids, without_anonymous
from ..ids.spark import is_spark_frame
from .sources import arrow_kind, read_ids

__all__ = ["PreparedIds", "all_anonymous_error", "prepare_ids"]


@dataclass(frozen=True)
class PreparedIds:
    """Canonical ids of a push, after anonymous users and repeats are set aside."""

    column: str
    rows: int
    unique: pa.Array  # large_string, first-appearance order
    anonymous_by_reason: dict[str, int]
    duplicates: int

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())


def prepare_ids(
    data: Any, id_col: str = "uid", *, placeholders: Iterable[str] | None = None
) -> PreparedIds:
    """Validate the input and return its distinct, non-anonymous canonical ids.

    ``data`` is a DataFrame, a Series or list of ids, or any Arrow input: a Polars
    DataFrame, LazyFrame or Series, a DuckDB relation, a pyarrow Table, Dataset, Array
    or ChunkedArray, anything exporting ``__arrow_c_stream__``. Arrow inputs are read as
    Arrow (only the id column), never through pandas.

    Raises :class:`InputError` for an empty input, a missing column, ids that are
    not text or whole numbers, and an input with no usable id at all. A Spark DataFrame
    is counted and de-duplicated in Spark, then its distinct ids are collected.
    """
    if is_spark_frame(data):
        from ..ids.spark.stream import distinct_ids

        with distinct_ids(data, id_col, placeholders=placeholders, ordered=True) as found:
            if found.rows == 0:
                raise EmptyInputError("The DataFrame is empty: there is nobody to push.")
            if found.unique == 0:
                raise all_anonymous_error(found.rows, found.anonymous_by_reason, id_col)
            return PreparedIds(
                id_col,
                found.rows,
                found.in_first_row_order(),
                found.anonymous_by_reason,
                found.duplicates,
            )
    kind = arrow_kind(data)
    if isinstance(data, pd.DataFrame):
        if data.shape[0] == 0:
            raise EmptyInputError("The DataFrame is empty: there is nobody to push.")
        require_column(data, id_col)
        ids = to_arrow_ids(data[id_col], column=id_col, frame=data)
        column = id_col
    elif kind is not None:
        named = getattr(data, "name", None) if kind == "ids" else None
        column = named if isinstance(named, str) and named else id_col
        ids = read_ids(data, id_col, where="The input")
        if len(ids) == 0:
            raise EmptyInputError("The input is empty: there is nobody to push.")
    elif isinstance(data, (pd.Series, pd.Index, list, tuple, np.ndarray)):
        series = as_series(data)
        column = str(series.name) if series.name is not None else id_col
        if len(series) == 0:
            raise EmptyInputError("No ids given: there is nobody to push.")
        ids = to_arrow_ids(series, column=column)
    else:
        raise InputError(
            f"Expected a DataFrame (or a Series / list of ids), got {type(data).__name__}."
        )
    valid, by_reason = without_anonymous(ids, placeholders)
    usable = len(valid)
    if usable == 0:
        raise all_anonymous_error(len(ids), by_reason, column)
    if not pa.types.is_large_string(valid.type):
        valid = valid.cast(pa.large_string())
    unique = pc.unique(valid)  # keeps first-appearance order
    if isinstance(unique, pa.ChunkedArray):
        unique = unique.combine_chunks()
    return PreparedIds(column, len(ids), unique, by_reason, usable - len(unique))


def all_anonymous_error(rows: int, by_reason: dict[str, int], column: str) -> AllAnonymousError:
    """The error for an input whose every id is anonymous, with the counts by reason."""
    detail = ", ".join(f"{n:,} {r}" for r, n in by_reason.items() if n)
    return AllAnonymousError(
        f"Every one of the {rows:,} ids in column {column!r} is anonymous ({detail}); "
        "anonymous users cannot be synced. Is this the right id column?",
        column=column,
    )
