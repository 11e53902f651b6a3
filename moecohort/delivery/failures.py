"""Failed users: collected batch by batch while sending, handed over as one DataFrame."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .._constants import MAX_BODY_BYTES
from ..ids._arrow import string_array
from ..payload import Plan

__all__ = ["FAILED_COLUMNS", "FailedPart", "Failures", "failed_frame"]

#: The columns of a failed-users frame (a sync's frame starts with ``op`` too).
FAILED_COLUMNS = ["uid", "status", "error_type", "message", "request_id"]


@dataclass(frozen=True)
class FailedPart:
    """The users of one batch that failed, with what the batch got back."""

    ids: pa.Array
    status: int | None
    error_type: str | None
    message: str | None
    request_id: str | None
    op: str


class Failures:
    """Collects failed users, batch by batch, thread-safely. With ``with_op`` (mirror
    sync) each row also says whether it was an ``add`` or a ``remove``.

    Ids stay in their pyarrow arrays and the per-batch fields are stored once per
    batch (categoricals in the frame), so even millions of failed users (a stopped
    10M-id push) take little more memory than their ids.
    """

    def __init__(self, *, with_op: bool = False) -> None:
        self._parts: list[FailedPart] = []
        self._lock = threading.Lock()
        self.with_op = with_op
        self.count = 0

    def add(
        self,
        ids: pa.Array,
        status: int | None,
        error_type: str | None,
        message: str | None,
        request_id: str | None = None,
        op: str = "add",
    ) -> None:
        if len(ids) == 0:
            return
        part = FailedPart(ids, status, error_type, message, request_id, op)
        with self._lock:
            self._parts.append(part)
            self.count += len(ids)

    def oversize(self, plan: Plan) -> None:
        pairs = (
            ("add", plan.adds, plan.oversize_adds),
            ("remove", plan.removes, plan.oversize_removes),
        )
        for op, members, positions in pairs:
            if positions:
                self.add(
                    members.ids.take(pa.array(positions)),
                    None,
                    "IdTooLarge",
                    f"this id alone makes a request body larger than {MAX_BODY_BYTES:,} bytes; "
                    "not sent",
                    op=op,
                )

    def count_of(self, error_type: str) -> int:
        with self._lock:
            return sum(len(p.ids) for p in self._parts if p.error_type == error_type)

    def frame(self) -> pd.DataFrame:
        with self._lock:
            parts = list(self._parts)
        if not parts:
            empty = failed_frame()
            if self.with_op:
                empty.insert(0, "op", pd.Categorical([], categories=["add", "remove"]))
            return empty
        lengths = np.array([len(p.ids) for p in parts])
        ids = pa.chunked_array([p.ids.cast(pa.large_string()) for p in parts])
        statuses = np.repeat([p.status if p.status is not None else 0 for p in parts], lengths)
        missing = np.repeat([p.status is None for p in parts], lengths)
        columns: dict[str, Any] = {}
        if self.with_op:
            columns["op"] = _repeat_categorical([p.op for p in parts], lengths)
        columns["uid"] = string_array(ids)
        columns["status"] = pd.arrays.IntegerArray(statuses.astype("int64"), missing)
        for name in ("error_type", "message", "request_id"):
            columns[name] = _repeat_categorical([getattr(p, name) for p in parts], lengths)
        return pd.DataFrame(columns)


def _repeat_categorical(values: list[str | None], lengths: np.ndarray) -> pd.Categorical:
    """One value per part, repeated ``lengths`` times, as a categorical (None -> missing)."""
    categories = sorted({v for v in values if v is not None})
    code_of = {v: i for i, v in enumerate(categories)}
    codes = np.repeat([code_of[v] if v is not None else -1 for v in values], lengths)
    return pd.Categorical.from_codes(codes, categories=categories)


def failed_frame() -> pd.DataFrame:
    """An empty frame of failed users, with the columns and dtypes of a real one."""
    return pd.DataFrame(
        {
            "uid": pd.array([], dtype="string"),
            "status": pd.array([], dtype="Int64"),
            "error_type": pd.array([], dtype="string"),
            "message": pd.array([], dtype="string"),
            "request_id": pd.array([], dtype="string"),
        }
    )
