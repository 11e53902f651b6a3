"""The statistics of a presence estimate: the Wilson score interval, corrected for a finite
population, and the sample it needs.

A uniform random sample of ``n`` of the ``N`` distinct ids, ``x`` of them found in the
destination, estimates the fraction found, ``p = x / n``. The interval is Wilson's score
interval (Wilson 1927; Brown, Cai and DasGupta 2001 recommend it over the normal
approximation, which undercovers near 0 and 1 and at small ``n``), with ``z`` the normal
quantile of the confidence and the finite population correction ``f = (N - n) / (N - 1)``
applied to the variance (sampling without replacement; the same as Wilson with the
effective sample size ``n (N - 1) / (N - n)``)::

    z2     = z**2 * f
    centre = (p + z2 / (2 n)) / (1 + z2 / n)
    half   = sqrt(z2) / (1 + z2 / n) * sqrt(p (1 - p) / n + z2 / (4 n**2))

``f`` is about 1 while the sample is a small part of the ids, and 0 when every id was
checked, so the interval closes on ``p``: the exact answer. Whatever the sample, the bounds
never leave what the ids allow: at least ``x / N`` (those found exist) and at most
``(N - (n - x)) / N`` (those not found do not).
"""

from __future__ import annotations

import math
from statistics import NormalDist

from ..errors import InputError

__all__ = ["check_confidence", "wilson_interval", "worst_case_margin", "z_score"]


def check_confidence(confidence: object) -> float:
    """``confidence`` as a float strictly between 0 and 1; :class:`InputError` otherwise."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not 0 < confidence < 1
    ):
        raise InputError(
            f"confidence must be a number between 0 and 1 (0.95 for 95 %), not {confidence!r}.",
            param="confidence",
        )
    return float(confidence)


def z_score(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (1.96 for 0.95)."""
    return NormalDist().inv_cdf(1 - (1 - check_confidence(confidence)) / 2)


def wilson_interval(
    found: int, checked: int, population: int, confidence: float = 0.95
) -> tuple[float, float]:
    """The interval of the fraction of ``population`` ids found, from ``found`` of ``checked``
    ids drawn uniformly without replacement (see the module docs). ``(0.0, 1.0)`` when
    nothing was checked."""
    if not 0 <= found <= checked <= population:
        raise ValueError(
            f"need 0 <= found <= checked <= population, got {found}, {checked}, {population}"
        )
    if checked == 0:
        return 0.0, 1.0
    n = checked
    p = found / n
    fpc = (population - n) / (population - 1) if population > 1 else 0.0
    z2 = z_score(confidence) ** 2 * fpc
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = math.sqrt(z2) / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # What the ids themselves allow: the found ones exist, the others do not.
    floor = found / population
    ceiling = (population - (checked - found)) / population
    return max(floor, centre - half), min(ceiling, centre + half)


def worst_case_margin(sample: int, population: int, confidence: float = 0.95) -> float:
    """The half-width of the interval when half the sample is found (the widest case)."""
    sample = min(sample, population)
    low, high = wilson_interval(sample // 2, sample, population, confidence)
    return (high - low) / 2
