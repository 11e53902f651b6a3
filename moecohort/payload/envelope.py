"""Request envelopes: everything in a body except the members, in both wire formats."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Literal

from .._constants import MAX_BODY_BYTES, PARTNER_MOENGAGE
from ..errors import InputError
from .names import COHORT_NAMESPACE

__all__ = [
    "INTEGRATION_ID",
    "WIRE_FORMATS",
    "Envelope",
    "WireFormat",
    "check_envelope",
    "check_wire_format",
]

WireFormat = Literal["segment_sync", "cohort_sync"]
#: The wire formats, each mapped to itself as a :data:`WireFormat`.
_FORMATS: dict[str, WireFormat] = {"segment_sync": "segment_sync", "cohort_sync": "cohort_sync"}
WIRE_FORMATS: tuple[str, ...] = tuple(_FORMATS)

#: Stable integration id sent as ``moengage_integration_id`` in segment_sync bodies.
INTEGRATION_ID = str(uuid.uuid5(COHORT_NAMESPACE, "moecohort-integration"))


def check_wire_format(value: object) -> WireFormat:
    """``value`` as a :data:`WireFormat`; :class:`InputError` naming the valid ones."""
    found = _FORMATS.get(value) if isinstance(value, str) else None
    if found is None:
        raise InputError(
            f"wire_format must be one of {', '.join(WIRE_FORMATS)}, not {value!r}.",
            param="wire_format",
        )
    return found


def _js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Envelope:
    """Everything in a request body except the members."""

    wire_format: WireFormat
    cohort_name: str
    cohort_id: str
    description: str | None = None
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    integration_id: str = INTEGRATION_ID
    partner: str = PARTNER_MOENGAGE

    def render(self, adds: bytes, removes: bytes, *, page: int = 1, total: int = 1) -> bytes:
        """The complete body. For ``cohort_sync`` exactly one of adds/removes is used
        (the action follows it: an empty ``removes`` means ``add_members``)."""
        head, mid, tail = self._parts(page, total, "remove" if removes and not adds else "add")
        if self.wire_format == "segment_sync":
            return head + adds + mid + removes + tail
        return head + (adds or removes) + tail

    def overhead(self, *, page: int = 1, total: int = 1, action: str = "add") -> int:
        """Bytes of the body with empty member lists."""
        head, mid, tail = self._parts(page, total, action)
        return len(head) + len(mid) + len(tail)

    def _parts(self, page: int, total: int, action: str) -> tuple[bytes, bytes, bytes]:
        if self.wire_format == "segment_sync":
            head = (
                '{"type":"segment_sync","pagination":{"total_pages":%d,"page_count":%d},'
                '"data":{"moengage_sync_id":%s,"moengage_sync_name":%s,'
                '"moengage_execution_id":%s,"moengage_integration_id":%s,"add_users":['
                % (
                    total,
                    page,
                    _js(self.cohort_id),
                    _js(self.cohort_name),
                    _js(self.execution_id),
                    _js(self.integration_id),
                )
            )
            return head.encode(), b'],"remove_users":[', b"]}}"
        params = '"cohort_name":%s,"cohort_id":%s,' % (_js(self.cohort_name), _js(self.cohort_id))
        if self.description is not None:
            params += '"cohort_description":%s,' % _js(self.description)
        verb = "add_members" if action == "add" else "remove_members"
        head = '{"action":"%s","partner":%s,"parameters":{%s"members":[' % (
            verb,
            _js(self.partner),
            params,
        )
        return head.encode(), b"", b"]}}"


def check_envelope(envelope: Envelope) -> None:
    """Refuse a cohort name, id or description so long that little room is left for users."""
    overhead = max(envelope.overhead(action="add"), envelope.overhead(action="remove"))
    if overhead > MAX_BODY_BYTES // 2:
        raise InputError(
            f"The cohort name, cohort_id and description take {overhead:,} bytes of each "
            f"{MAX_BODY_BYTES:,}-byte request; shorten them."
        )
