"""DataFrame helpers shared by every module that takes a frame and a column name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["require_column"]


def require_column(
    df: pd.DataFrame,
    column: str,
    *,
    param: str = "id_col",
    where: str = "The frame",
    suggest: Callable[[Any], str] | None = None,
) -> None:
    """Raise :class:`InputError` naming the available columns when ``column`` is absent
    (or appears more than once).

    ``param`` is the argument the user should change; ``where`` names the frame;
    ``suggest`` spells the argument to write for a likely column (default
    ``param=column``). The likely column is the error's ``suggestion``, so that each face
    can say how to pass it (see :class:`InputError`).
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"Expected a pandas DataFrame, got {type(df).__name__}.")
    if column in df.columns and isinstance(df[column], pd.DataFrame):
        n = int((df.columns == column).sum())
        raise InputError(
            f"Column {column!r} appears {n} times in {where.lower()}; keep one, for example "
            "df.loc[:, ~df.columns.duplicated()].",
            column=column,
        )
    if column not in df.columns:
        cols = ", ".join(repr(c) for c in df.columns[:30])
        more = f" and {len(df.columns) - 30} more" if len(df.columns) > 30 else ""
        likely = None
        lowered = {str(c).strip().lower(): c for c in df.columns}
        for guess in (str(column).lower(), "id", "uid", "customer_id", "user_id"):
            if guess in lowered:
                likely = lowered[guess]
                break
        raise InputError(
            f"Column {column!r} not found. {where} has: {cols or '(no columns)'}{more}.",
            column=column,
            param=param,
            suggestion=likely,
            spelled=suggest(likely) if suggest and likely is not None else None,
        )
