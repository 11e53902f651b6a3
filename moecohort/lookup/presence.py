"""How many of these users does the destination know? :func:`estimate_presence` answers
without an export: it looks up a uniform random sample of the distinct ids (all of them
when there are no more than the sample) and gives the fraction found, its interval and
the members a cohort of these users would hold.

The default sample, :data:`DEFAULT_SAMPLE` = 400 ids:

* the margin: at 95 % the widest Wilson interval (half the sample found) is ±4.9 points
  at 400 ids; ±5 points needs 385 (``1.96**2 * 0.25 / 0.05**2``), and the correction
  for a finite population only narrows it;
* the time: the Get User API answers 1,000 users a minute in requests of 20 ids, 50
  requests a minute, 1.2 s apart. 385 ids need 20 requests anyway (19.25), and 400 fill
  those 20 exactly: the 20th starts 22.8 s after the first, so an estimate takes about
  23 s plus the answer time, well under a minute, and costs 400 of the minute's 1,000
  lookups.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..credentials import AppCredentials, get_credentials
from ..delivery import ProgressOption
from ..errors import InputError, LookupFailedError
from .estimate import PresenceEstimate
from .interval import check_confidence
from .options import MAX_EXACT_LOOKUPS, LookupOptions, check_count, check_limit
from .users import IdSource, read_ids, run_lookup
from .wire import UID_FIELD

__all__ = ["DEFAULT_SAMPLE", "Lookup", "estimate_presence", "sample_positions"]

#: Ids looked up by default (see the module docs for why 400).
DEFAULT_SAMPLE = 400

#: A stand-in for the Get User API (``lookup=``): given uids, return those found.
Lookup = Callable[[list[str]], Iterable[str]]


def sample_positions(population: int, size: int, seed: int) -> np.ndarray:
    """``size`` distinct positions of ``range(population)``, uniformly at random, ascending
    (the same for the same seed)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(population, size=size, replace=False))


def _check_sample(sample: object) -> int:
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise InputError(f"sample must be an int >= 1, not {sample!r}.", param="sample")
    return sample


def _check_seed(seed: object) -> int:
    if seed is None:
        # Drawn now and kept in the estimate, so that any run can be repeated.
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be None or an int >= 0, not {seed!r}.", param="seed")
    return seed


def estimate_presence(
    data: Any,
    app: AppCredentials | str | None,
    *,
    id_col: str = "uid",
    sample: int = DEFAULT_SAMPLE,
    confidence: float = 0.95,
    seed: int | None = None,
    exact: bool = False,
    max_lookups: int = MAX_EXACT_LOOKUPS,
    placeholders: Iterable[str] | None = None,
    progress: ProgressOption = "auto",
    lookup: Lookup | None = None,
    **lookup_options: Any,
) -> PresenceEstimate:
    """Estimate how many of the users of ``data`` exist in ``app``, without an export.

    ``data`` is anything :func:`~moecohort.push_cohort` takes. Its distinct canonical ids
    (anonymous ids and repeats set aside, as a push does) are sampled uniformly at random,
    ``sample`` of them (all of them when there are no more), with ``seed`` (None: a seed
    is drawn and kept in the result), and looked up in ``app``'s Get User API. The result
    gives ``fraction``, its interval at ``confidence`` (Wilson score with the finite
    population correction), ``expected_members`` with ``expected_low`` and
    ``expected_high``, and the time it took.

    ``exact=True`` looks every distinct id up (no sampling error), and refuses
    (:class:`~moecohort.TooManyLookupsError`) above ``max_lookups`` ids.

    ``lookup``: a stand-in for the Get User API, ``lookup(uids) -> found uids`` (a set
    membership in tests and simulations; ``app`` may then be None). Other keywords are the
    lookup settings of :func:`~moecohort.lookup_users` (``users_per_minute``,
    ``max_in_flight``, ``max_retries``, ``timeout``, ``clock``, ``session``).
    """
    size = _check_sample(sample)
    level = check_confidence(confidence)
    limit = check_limit(max_lookups)
    chosen_seed = _check_seed(seed)
    if not isinstance(exact, bool):
        raise InputError(f"exact must be True or False, not {exact!r}.", param="exact")
    creds: AppCredentials | None = None
    if lookup is None:
        options = LookupOptions.from_kwargs(progress, lookup_options)
        creds = get_credentials(app)
    elif lookup_options:
        raise InputError(
            f"{', '.join(sorted(lookup_options))}: lookup settings have no use with lookup=.",
            param=sorted(lookup_options)[0],
        )
    else:
        options = LookupOptions.of(progress=False)
    started = options.now()
    with read_ids(data, id_col, placeholders) as source:
        population = source.unique
        if exact:
            check_count(
                population,
                limit,
                options.users_per_minute,
                f"Estimate from a sample instead (exact=False: {DEFAULT_SAMPLE} ids, ±5 points "
                "at 95 % in about 23 s).",
            )
        n = population if exact else min(size, population)
        uids: Iterator[str] | list[str]
        checked = source
        if n == population:
            uids = source.ids()
        else:
            picked = source.take(sample_positions(population, n, chosen_seed).tolist())
            # Looked up in random order, so that the ids answered before a stop (or those of
            # requests that failed) are a uniform sample too, not the first rows of the input.
            order = np.random.default_rng(chosen_seed).permutation(n)
            uids = [picked[i] for i in order]
            # The sample's own lookup accounts for the sample (its rows are the sampled ids).
            checked = IdSource(source.column, n, {}, 0, n, lambda: iter(()))
        if lookup is not None:
            return _with_stand_in(source, list(uids), lookup, level, chosen_seed, started)
        assert creds is not None
        result = run_lookup(creds, checked, uids, n, [UID_FIELD], options, started)
    if result.n_checked == 0:
        raise LookupFailedError(
            f"None of the {result.n_distinct:,} ids picked could be looked up: "
            + result.failure_message(),
            result,
        )
    return PresenceEstimate(
        workspace_id=creds.workspace_id,
        column=source.column,
        input_rows=source.rows,
        skipped_anonymous=source.anonymous,
        skipped_duplicates=source.duplicates,
        n_distinct=population,
        n_checked=result.n_checked,
        n_found=result.n_found,
        n_failed=result.n_failed,
        confidence=level,
        seed=None if n == population else chosen_seed,
        requests=result.requests,
        elapsed_s=options.now() - started,
        lookup=result,
    )


def _with_stand_in(
    source: IdSource,
    uids: list[str],
    lookup: Lookup,
    confidence: float,
    seed: int,
    started: float,
) -> PresenceEstimate:
    """The estimate with ``lookup`` answering instead of the Get User API."""
    asked = set(uids)
    found = {u for u in lookup(uids) if u in asked}
    return PresenceEstimate(
        workspace_id=None,
        column=source.column,
        input_rows=source.rows,
        skipped_anonymous=source.anonymous,
        skipped_duplicates=source.duplicates,
        n_distinct=source.unique,
        n_checked=len(uids),
        n_found=len(found),
        confidence=confidence,
        seed=None if len(uids) == source.unique else seed,
        elapsed_s=time.monotonic() - started,
    )
