"""The Get User API's wire format as the emulator understands it.

``POST /v1/customers/export?app_id={workspace_id}`` with
``{"data": {"identifiers": [{"identifier_type": "customer_id" | "id", "identifier": "..."}],
"user_fields_to_export": [...]}}``. Nothing here touches state: :func:`parse_lookup` returns
a :class:`LookupRequest` or raises :class:`~.protocol.ProtocolError` in MoEngage's
``{"status": "fail", "error": {...}}`` envelope (the one Cohort Sync uses).

Error types and messages FACTS.md documents for this API are used verbatim; the rest are
marked "emulator choice".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import protocol as p
from .facts import IDENTIFIER_TYPES, MAX_LOOKUP_IDENTIFIERS

__all__ = [
    "MSG_LIMIT_BREACHED",
    "MSG_NOT_ENABLED",
    "MSG_RATE",
    "MSG_TOO_LARGE",
    "RESPONSE_TYPE",
    "TYPE_LIMIT_BREACHED",
    "TYPE_NOT_ENABLED",
    "TYPE_RATE",
    "TYPE_SERVER",
    "TYPE_TOO_LARGE",
    "LookupRequest",
    "parse_lookup",
    "success_body",
]

#: FACTS.md: 400 ``LimitBreached`` (attribute ``users``, "max limit allowed is 20").
TYPE_LIMIT_BREACHED = "LimitBreached"
MSG_LIMIT_BREACHED = f"max limit allowed is {MAX_LOOKUP_IDENTIFIERS}"
#: FACTS.md: 413 (``PayloadTooLarge``, "Payload size exceeds 128 KB").
TYPE_TOO_LARGE = "PayloadTooLarge"
MSG_TOO_LARGE = "Payload size exceeds 128 KB"
#: FACTS.md: 429 (``RateLimitError``, "Rate limit exceeded").
TYPE_RATE = "RateLimitError"
MSG_RATE = "Rate limit exceeded"
#: FACTS.md: 500 (``ServerError``); the message is the emulator's choice.
TYPE_SERVER = "ServerError"
#: A workspace without the API enabled. FACTS.md only says it "may be refused (401/403)":
#: the type and the wording are the emulator's choice, not MoEngage's documented text.
TYPE_NOT_ENABLED = "Forbidden"
MSG_NOT_ENABLED = (
    "The Get User API is not enabled for this workspace. Please contact MoEngage to enable it."
)
#: FACTS.md: the success body's ``type``.
RESPONSE_TYPE = "export_users"


@dataclass(frozen=True)
class LookupRequest:
    """A validated Get User request."""

    #: ``(identifier_type, identifier)`` pairs, as sent (duplicates kept).
    identifiers: list[tuple[str, str]]
    #: ``user_fields_to_export``, or None when absent (every attribute).
    fields: list[str] | None


def parse_lookup(obj: Any) -> LookupRequest:
    """Validate a Get User body, checks in this order: the body is an object; ``data``
    (missing: MissingAttributeError); ``identifiers`` (missing: MissingAttributeError; more
    than 20: LimitBreached; empty: emulator choice, InvalidAttributeError); each identifier;
    ``user_fields_to_export`` (optional, a list of strings)."""
    body = p.require_body_object(obj)
    data = p.require(body, "data")
    if not isinstance(data, dict):
        raise p.invalid("data", "data must be a JSON object")
    identifiers = p.require(data, "identifiers")
    if not isinstance(identifiers, list):
        raise p.invalid("identifiers", "identifiers must be a list of objects")
    if len(identifiers) > MAX_LOOKUP_IDENTIFIERS:
        raise p.ProtocolError(400, TYPE_LIMIT_BREACHED, MSG_LIMIT_BREACHED, "users")
    if not identifiers:
        raise p.invalid("identifiers", "identifiers must hold at least one identifier")
    pairs: list[tuple[str, str]] = []
    for item in identifiers:
        if not isinstance(item, dict):
            raise p.invalid(
                "identifiers",
                "each identifier must be an object with identifier_type and identifier",
            )
        kind = p.require(item, "identifier_type")
        if kind not in IDENTIFIER_TYPES:
            raise p.invalid("identifier_type", 'identifier_type must be "customer_id" or "id"')
        value = p.require(item, "identifier")
        if not isinstance(value, str) or value == "":
            raise p.invalid("identifier", "identifier must be a non-empty string")
        pairs.append((kind, value))
    fields = data.get("user_fields_to_export")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise p.invalid("user_fields_to_export", "user_fields_to_export must be a list of strings")
    return LookupRequest(pairs, fields)


def success_body(users: list[dict[str, Any]], not_found: list[tuple[str, str]]) -> bytes:
    """The 200 body: found users (each under ``user_attributes``) and ``users_not_found``."""
    body = {
        "status": "success",
        "type": RESPONSE_TYPE,
        "data": {
            "users_not_found": [
                {"identifier_type": kind, "identifier": value} for kind, value in not_found
            ],
            "users": [{"user_attributes": user} for user in users],
        },
    }
    return json.dumps(body, separators=(",", ":")).encode("ascii")
