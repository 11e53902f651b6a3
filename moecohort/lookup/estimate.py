"""How many of a list's users the destination knows: :class:`PresenceEstimate`, with its
text and notebook views, and what it means for a cohort of a given size
(:meth:`PresenceEstimate.expected_for`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import _html
from .interval import wilson_interval
from .result import LookupResult

__all__ = ["Expected", "PresenceEstimate"]

#: Tolerance for turning fractions of a count back into whole users.
_EPS = 1e-9


@dataclass(frozen=True)
class Expected:
    """Members expected to land, with the interval at the estimate's confidence."""

    members: int
    low: int
    high: int
    confidence: float
    exact: bool

    def __str__(self) -> str:
        if self.exact or self.low == self.high:
            return f"{self.members:,}"
        return f"{self.members:,} ({self.low:,} to {self.high:,}, {self.confidence:.0%})"


@dataclass(repr=False, kw_only=True)
class PresenceEstimate:
    """How many of the distinct ids of an input the destination app knows: the fraction
    found among the ids checked (all of them, or a uniform random sample), its interval at
    ``confidence`` (Wilson score, finite population correction: see
    :mod:`moecohort.lookup.interval`), and the members a cohort of these users would hold.
    """

    workspace_id: str | None
    column: str = "uid"
    input_rows: int = 0
    skipped_anonymous: int = 0
    skipped_duplicates: int = 0
    #: Distinct, non-anonymous ids of the input: the members a push would send.
    n_distinct: int
    #: Ids looked up that got an answer (found or not found).
    n_checked: int
    n_found: int
    #: Ids picked for checking whose lookup failed (not counted in ``n_checked``).
    n_failed: int = 0
    confidence: float = 0.95
    seed: int | None = None
    #: HTTP attempts, retries included.
    requests: int = 0
    elapsed_s: float = 0.0
    #: The lookup of the ids checked (None when a custom ``lookup=`` did the checking).
    lookup: LookupResult | None = None

    @classmethod
    def from_lookup(cls, result: LookupResult, confidence: float = 0.95) -> PresenceEstimate:
        """The estimate an exact lookup gives: every id of its input checked."""
        return cls(
            workspace_id=result.workspace_id,
            column=result.column,
            input_rows=result.input_rows,
            skipped_anonymous=result.skipped_anonymous,
            skipped_duplicates=result.skipped_duplicates,
            n_distinct=result.n_distinct,
            n_checked=result.n_checked,
            n_found=result.n_found,
            n_failed=result.n_failed,
            confidence=confidence,
            requests=result.requests,
            elapsed_s=result.elapsed_s,
            lookup=result,
        )

    # ---- the estimate
    @property
    def exact(self) -> bool:
        """True when every distinct id was checked: no sampling error."""
        return self.n_checked == self.n_distinct

    @property
    def fraction(self) -> float:
        """Found among the ids checked (NaN when none was)."""
        return self.n_found / self.n_checked if self.n_checked else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """The fraction's interval at :attr:`confidence`."""
        return wilson_interval(self.n_found, self.n_checked, self.n_distinct, self.confidence)

    @property
    def low(self) -> float:
        return self.interval[0]

    @property
    def high(self) -> float:
        return self.interval[1]

    @property
    def margin(self) -> float:
        """The larger distance from :attr:`fraction` to a bound (± this many, as a fraction)."""
        low, high = self.interval
        return max(self.fraction - low, high - self.fraction) if self.n_checked else math.nan

    def expected_for(self, members: int) -> Expected:
        """Of ``members`` users of this input sent to the destination, how many are
        expected to land (the same fraction and interval, scaled)."""
        low, high = self.interval
        point = self.fraction * members if self.n_checked else math.nan
        return Expected(
            members=round(point) if self.n_checked else 0,
            low=math.floor(low * members + _EPS),
            high=math.ceil(high * members - _EPS),
            confidence=self.confidence,
            exact=self.exact and members == self.n_distinct,
        )

    @property
    def expected(self) -> Expected:
        """Members a cohort of every distinct id would hold."""
        return self.expected_for(self.n_distinct)

    @property
    def expected_members(self) -> int:
        return self.expected.members

    @property
    def expected_low(self) -> int:
        return self.expected.low

    @property
    def expected_high(self) -> int:
        return self.expected.high

    def as_dict(self) -> dict[str, Any]:
        """The figures, JSON-ready (for ``--json`` outputs); fractions between 0 and 1."""
        low, high = self.interval
        known = bool(self.n_checked)
        return {
            "workspace_id": self.workspace_id,
            "input_rows": self.input_rows,
            "skipped_anonymous": self.skipped_anonymous,
            "skipped_duplicates": self.skipped_duplicates,
            "n_distinct": self.n_distinct,
            "n_checked": self.n_checked,
            "n_found": self.n_found,
            "n_failed": self.n_failed,
            "exact": self.exact,
            "fraction": self.fraction if known else None,
            "low": low if known else None,
            "high": high if known else None,
            "confidence": self.confidence,
            "expected_members": self.expected_members if known else None,
            "expected_low": self.expected_low if known else None,
            "expected_high": self.expected_high if known else None,
            "seed": self.seed,
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    # ---- views
    @property
    def method(self) -> str:
        if self.exact:
            return "every id looked up"
        return f"a uniform random sample of {self.n_checked + self.n_failed:,} ids looked up"

    @property
    def headline(self) -> str:
        where = f" in workspace {self.workspace_id}" if self.workspace_id else ""
        if not self.n_checked:
            return f"no id could be checked{where}"
        if self.exact:
            return (
                f"{self.n_found:,} of {self.n_distinct:,} users are known{where} "
                f"({self.fraction:.1%}, every id looked up)"
            )
        low, high = self.interval
        return (
            f"about {self.fraction:.1%} of {self.n_distinct:,} users are known{where} "
            f"({low:.1%} to {high:.1%}, {self.confidence:.0%}); "
            f"expected members {self.expected}"
        )

    def _rows(self) -> list[tuple[str, str]]:
        low, high = self.interval
        rows = [
            ("distinct ids", f"{self.n_distinct:,}"),
            ("checked", f"{self.n_checked:,}"),
            ("found", f"{self.n_found:,}"),
        ]
        if self.n_failed:
            rows.append(("lookups failed", f"{self.n_failed:,}"))
        if self.n_checked:
            rows += [
                ("fraction known", f"{self.fraction:.1%}"),
                (f"interval ({self.confidence:.0%})", f"{low:.1%} to {high:.1%}"),
                ("expected members", str(self.expected)),
            ]
        rows += [
            ("skipped: anonymous", f"{self.skipped_anonymous:,}"),
            ("skipped: duplicate", f"{self.skipped_duplicates:,}"),
            ("requests (HTTP attempts)", f"{self.requests:,}"),
            ("time", f"{self.elapsed_s:.1f} s"),
        ]
        return rows

    def summary(self) -> pd.DataFrame:
        """The figures, one per row, as text."""
        return pd.DataFrame(self._rows(), columns=["", "value"]).set_index("")

    def __repr__(self) -> str:
        lines = [f"PresenceEstimate: {self.headline}"]
        lines += [f"  {k:<26} {v:>24}" for k, v in self._rows()]
        seed = f", seed {self.seed}" if self.seed is not None else ""
        lines.append(f"  method: {self.method}{seed}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        note = _html.esc(
            f"Method: {self.method}. Interval: Wilson score"
            + (", finite population correction" if self.n_checked else "")
            + "."
        )
        ok = self.n_checked > 0
        return _html.table_html(
            f"PresenceEstimate: {self.headline}",
            self._rows(),
            note=note,
            status=(ok, ("exact" if self.exact else "estimate") if ok else "no answer"),
        )
