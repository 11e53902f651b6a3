"""Payload: cohort names and ids, request envelopes, and packing members into bodies.

* :mod:`~moecohort.payload.names`: cohort names MoEngage accepts, suggestions, stable ids;
* :mod:`~moecohort.payload.envelope`: the two wire formats' envelopes;
* :mod:`~moecohort.payload.packing`: exact-byte packing into bodies of at most 128,000
  bytes, in memory (:func:`pack`) or piece by piece from disk (:class:`StreamedPlan`).
"""

from __future__ import annotations

from .envelope import (
    INTEGRATION_ID,
    WIRE_FORMATS,
    Envelope,
    WireFormat,
    check_envelope,
    check_wire_format,
)
from .names import check_cohort_id, cohort_id_for, suggest_cohort_name, validate_cohort_name
from .packing import Batch, ChunkSource, EncodedMembers, Plan, StreamedPlan, pack

__all__ = [
    "INTEGRATION_ID",
    "WIRE_FORMATS",
    "Batch",
    "ChunkSource",
    "EncodedMembers",
    "Envelope",
    "Plan",
    "StreamedPlan",
    "WireFormat",
    "check_cohort_id",
    "check_envelope",
    "check_wire_format",
    "cohort_id_for",
    "pack",
    "suggest_cohort_name",
    "validate_cohort_name",
]
