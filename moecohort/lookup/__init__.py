"""Looking users up in the destination app: how many of a cohort will really land.

The Cohort Sync API never creates users and silently drops the uids the destination does
not know (a 200 only means "accepted"). This package asks the destination instead of an
export of it:

* :mod:`~moecohort.lookup.users`: :func:`lookup_users`, an exact lookup through the Get
  User API (20 ids a request, 1,000 users a minute, retries included);
* :mod:`~moecohort.lookup.presence`: :func:`estimate_presence`, the fraction a uniform
  random sample finds, with its interval (:mod:`~moecohort.lookup.interval`);
* :mod:`~moecohort.lookup.destination`: :func:`keep_in_destination`, the rows whose user the
  destination knows, from an export or from the app itself;
* :mod:`~moecohort.lookup.segments`: :func:`find_segments`, the Custom Segments API's list,
  counted against its minute, hour and day limits;
* :mod:`~moecohort.lookup.result` and :mod:`~moecohort.lookup.estimate`: :class:`LookupResult`
  and :class:`PresenceEstimate`, with their text and notebook views;
* :mod:`~moecohort.lookup.run`, :mod:`~moecohort.lookup.wire`, :mod:`~moecohort.lookup.options`:
  sending the requests, the wire format, the settings.
"""

from __future__ import annotations

from .destination import MAX_EXACT_LOOKUPS, keep_in_destination
from .estimate import Expected, PresenceEstimate
from .interval import wilson_interval
from .options import Clock, LookupOptions
from .presence import DEFAULT_SAMPLE, estimate_presence
from .result import LookupResult
from .segments import SegmentList, SegmentsBudget, find_segments
from .users import lookup_users

__all__ = [
    "DEFAULT_SAMPLE",
    "MAX_EXACT_LOOKUPS",
    "Clock",
    "Expected",
    "LookupOptions",
    "LookupResult",
    "PresenceEstimate",
    "SegmentList",
    "SegmentsBudget",
    "estimate_presence",
    "find_segments",
    "keep_in_destination",
    "lookup_users",
    "wilson_interval",
]
