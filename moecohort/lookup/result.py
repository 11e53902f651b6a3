"""What an exact lookup found: :class:`LookupResult`, with its text and notebook views."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import _html
from ..delivery import Accounting
from ..errors import LookupFailedError

__all__ = ["LookupResult", "empty_found"]


def empty_found() -> pd.DataFrame:
    """A ``found`` frame without users: the ``uid`` column only."""
    return pd.DataFrame({"uid": pd.array([], dtype="string")})


@dataclass(repr=False, kw_only=True)
class LookupResult(Accounting):
    """Which users of a list the destination app knows, asked of its Get User API.

    Every input row is accounted for exactly once: ``n_found + n_not_found + n_failed +
    skipped_anonymous + skipped_duplicates == input_rows`` (:attr:`accounted`).

    * ``found``: one row per user found, ``uid`` (the canonical id sent) then the attributes
      the API returned (``id`` is MoEngage's own id of the user; ``customer_id``, equal to
      ``uid``, is not repeated), in the order of the input;
    * ``not_found``: the uids the destination does not know, in the order of the input;
    * ``failed``: one row per uid whose request failed after every retry (or was not sent
      because the lookup stopped): ``uid``, ``status``, ``error_type``, ``message``,
      ``request_id``. Ids too large for a request alone are here too (``IdTooLarge``), and
      uids a 200 said nothing about (``Unanswered``).
    """

    workspace_id: str | None
    #: The input's id column.
    column: str = "uid"
    #: ``user_fields_to_export`` as sent (None: every attribute).
    fields: list[str] | None = None
    found: pd.DataFrame = field(default_factory=empty_found)
    not_found: list[str] = field(default_factory=list)

    # ---- counts
    @property
    def n_found(self) -> int:
        return len(self.found)

    @property
    def n_not_found(self) -> int:
        return len(self.not_found)

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    @property
    def n_checked(self) -> int:
        """Ids with an answer: found or not found."""
        return self.n_found + self.n_not_found

    @property
    def n_distinct(self) -> int:
        """Distinct, non-anonymous ids of the input."""
        return self.n_checked + self.n_failed

    @property
    def accounted(self) -> int:
        """Rows accounted for; always equals ``input_rows``."""
        return self.n_distinct + self.skipped_anonymous + self.skipped_duplicates

    @property
    def fraction_found(self) -> float:
        """Found among the ids with an answer (NaN when none has one)."""
        return self.n_found / self.n_checked if self.n_checked else math.nan

    @property
    def found_ids(self) -> set[str]:
        return set(self.found["uid"].tolist())

    @property
    def ok(self) -> bool:
        """True when every id got an answer (found or not)."""
        return self.n_failed == 0 and self.stopped_by is None

    def raise_for_status(self) -> LookupResult:
        """Raise :class:`~moecohort.LookupFailedError` unless every id got an answer."""
        if not self.ok:
            raise LookupFailedError(self.failure_message(), self)
        return self

    def failure_message(self) -> str:
        reasons = self.failed["error_type"].astype("string").fillna("no answer")
        top = ", ".join(f"{k} {v:,}" for k, v in reasons.value_counts().head(3).items())
        return (
            f"{self.n_failed:,} of {self.n_distinct:,} ids could not be looked up"
            + (f" ({top})" if top else "")
            + (f"; stopped: {self.stopped_by}" if self.stopped_by else "")
            + "; see result.failed"
        )

    def as_dict(self) -> dict[str, Any]:
        """The counts and how the lookup ended, JSON-ready (for ``--json`` outputs)."""
        return {
            "ok": self.ok,
            "workspace_id": self.workspace_id,
            "input_rows": self.input_rows,
            "found": self.n_found,
            "not_found": self.n_not_found,
            "failed": self.n_failed,
            "skipped_anonymous": self.skipped_anonymous,
            "skipped_duplicates": self.skipped_duplicates,
            "requests": self.requests,
            "batches": self.batches,
            "retries": self.retries,
            "elapsed_s": round(self.elapsed_s, 3),
            "stopped_by": self.stopped_by,
        }

    # ---- views
    @property
    def headline(self) -> str:
        share = f" ({self.fraction_found:.1%})" if self.n_checked else ""
        where = f" in workspace {self.workspace_id}" if self.workspace_id else ""
        text = f"{self.n_found:,} of {self.n_checked:,} users found{where}{share}"
        if self.n_failed:
            text += f", {self.n_failed:,} not looked up"
        return text + f" in {self.elapsed_s:.1f}s"

    def _rows(self) -> list[tuple[str, int]]:
        return [
            ("input rows", self.input_rows),
            ("found", self.n_found),
            ("not found", self.n_not_found),
            ("failed (no answer)", self.n_failed),
            ("skipped: anonymous", self.skipped_anonymous),
            ("skipped: duplicate", self.skipped_duplicates),
            ("requests (HTTP attempts)", self.requests),
            ("request bodies", self.batches),
            ("retries", self.retries),
        ]

    def summary(self) -> pd.DataFrame:
        """The counts, one per row."""
        return pd.DataFrame(self._rows(), columns=["", "count"]).set_index("")

    def __repr__(self) -> str:
        lines = [f"LookupResult: {self.headline}"]
        lines += [f"  {k:<26} {v:>12,}" for k, v in self._rows()]
        if self.stopped_by:
            lines.append(f"  stopped: {self.stopped_by}")
        if self.n_failed:
            lines.append("  failed (first rows):")
            lines += ["    " + line for line in self.failed.head(5).to_string().splitlines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        sections = []
        if self.n_found:
            sections.append((f"found ({self.n_found:,})", _html.frame_html(self.found)))
        if self.n_not_found:
            shown = ", ".join(_html.esc(repr(u)) for u in self.not_found[:20])
            more = f" … {self.n_not_found - 20:,} more" if self.n_not_found > 20 else ""
            sections.append(
                (f"not found ({self.n_not_found:,})", f"<div class='note'>{shown}{more}</div>")
            )
        if self.n_failed:
            sections.append((f"failed ({self.n_failed:,})", _html.frame_html(self.failed)))
        note = html.escape(f"Stopped: {self.stopped_by}") if self.stopped_by else None
        return _html.table_html(
            f"LookupResult: {self.headline}",
            [(k, f"{v:,}") for k, v in self._rows()],
            note=note,
            status=(self.ok, "ok" if self.ok else "incomplete"),
            sections=sections,
        )
