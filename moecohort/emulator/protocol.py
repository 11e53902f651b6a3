"""The Cohort Sync wire protocol as the emulator understands it.

Parsing of the ``Authorization`` header, the media-type and size checks, and the
validation of both body formats. Nothing here touches state: every function either
returns plain data or raises :class:`ProtocolError`, which carries the HTTP status
and the fields of MoEngage's error envelope.

Error ``type`` values the real API documents are used verbatim. Where the
documentation is silent the emulator picks one (marked "emulator choice" below).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .facts import FORBIDDEN_COHORT_NAME_CHARS, PARTNER_MOENGAGE, SUCCESS_MESSAGE

FORMAT_PARTNER = "partner"
FORMAT_SEGMENT_SYNC = "segment_sync"
ACTION_ADD = "add_members"
ACTION_REMOVE = "remove_members"
ACTIONS = (ACTION_ADD, ACTION_REMOVE)

# --- error types and messages -------------------------------------------------------------
#: 401 for a missing/unreadable Basic header and for a wrong key (emulator choice of type).
TYPE_UNAUTHORIZED = "Unauthorized"
MSG_AUTH_REQUIRED = "Authentication Header Required"
MSG_KEY_MISMATCH = "App Secret key mismatch. Please login to the dashboard to verify key"
TYPE_AUTH_MISMATCH = "Authentication Mismatch"
MSG_AUTH_MISMATCH = "App key mismatch in params and authentication"

#: 403 types MoEngage documents, with the message the emulator sends (messages: emulator choice).
SUSPENSION_MESSAGES: dict[str, str] = {
    "Account Suspended": "Your account has been suspended. Please contact MoEngage support.",
    "Account Temporarily Suspended": (
        "Your account has been temporarily suspended. Please contact MoEngage support."
    ),
    "BlockedClient": "This client has been blocked. Please contact MoEngage support.",
}
DEFAULT_SUSPENSION = "Account Suspended"

TYPE_MEDIA = "Unsupported media type"
MSG_MEDIA = "Content type is not supported"
TYPE_TOO_LARGE = "Payload too large"
MSG_TOO_LARGE = "Payload can not exceed 128KB"
TYPE_MALFORMED = "Malformed JSON"
MSG_MALFORMED = "Could not decode the request body. The JSON was incorrect or not encoded as UTF-8."
TYPE_MISSING = "MissingAttributeError"
#: 400 for a present but unusable attribute (emulator choice).
TYPE_INVALID = "InvalidAttributeError"
#: 400 when a new cohort would exceed the workspace's segment limit (emulator choice).
TYPE_LIMIT = "LimitExceededError"
TYPE_RATE = "Rate Limits Exceeded"
MSG_RATE = "Rate limits for customers exceeded. Please Try After Some Time"
TYPE_SERVER = "Server Error"
MSG_SERVER = "Internal Server Error"
TYPE_NOT_FOUND = "Not Found"
TYPE_METHOD = "Method Not Allowed"
TYPE_FORBIDDEN = "Forbidden"


class ProtocolError(Exception):
    """A request the emulator answers with an error envelope."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        attribute: str | None = None,
    ) -> None:
        super().__init__(f"{status} {type_}: {message}")
        self.status = status
        self.type = type_
        self.message = message
        self.attribute = attribute


def missing(attribute: str) -> ProtocolError:
    """The 400 MoEngage sends when a required attribute is absent."""
    return ProtocolError(400, TYPE_MISSING, f"{attribute} is not found in the payload", attribute)


def invalid(attribute: str | None, message: str) -> ProtocolError:
    """A 400 for an attribute that is present but unusable."""
    return ProtocolError(400, TYPE_INVALID, message, attribute)


def error_body(status_type: str, message: str, attribute: str | None, request_id: str) -> bytes:
    """Encode MoEngage's error envelope."""
    envelope = {
        "status": "fail",
        "error": {
            "attribute": attribute,
            "message": message,
            "type": status_type,
            "request_id": request_id,
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode("ascii")


SUCCESS_BODY = json.dumps(
    {"status": "success", "message": SUCCESS_MESSAGE}, separators=(",", ":")
).encode("ascii")


# --- headers ------------------------------------------------------------------------------
def parse_basic_auth(value: str | None) -> tuple[str, str] | None:
    """Return ``(username, password)`` from an ``Authorization: Basic`` value, else None.

    The scheme is matched case-insensitively (RFC 7617). The credentials must be valid
    base64 of ``user:password`` with a non-empty user.
    """
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "basic" or not token:
        return None
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, sep, password = text.partition(":")
    if not sep or not user:
        return None
    return user, password


def is_json_content_type(value: str | None) -> bool:
    """True for ``application/json``, with or without parameters such as a charset."""
    if not value:
        return False
    return value.split(";", 1)[0].strip().lower() == "application/json"


def is_moengage_partner(value: str | None) -> bool:
    """True when ``MOE-DESTINATION-PARTNER`` selects the Outbound Segment Sync format."""
    return value is not None and value.strip().lower() == PARTNER_MOENGAGE


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes) -> Any:
    """Decode a strict UTF-8 JSON body (no NaN/Infinity), or raise the 400 Malformed JSON."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(400, TYPE_MALFORMED, MSG_MALFORMED) from exc


# --- bodies -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncRequest:
    """A validated Cohort Sync request, whichever wire format it came in."""

    format: str
    action: str
    cohort_id: str
    cohort_name: str
    description: str | None
    partner: str | None
    add: list[str]
    remove: list[str]
    page: dict[str, Any] | None = None


def require(obj: dict[str, Any], key: str) -> Any:
    """``obj[key]``, or raise MoEngage's 400 MissingAttributeError when absent or null."""
    value = obj.get(key)
    if value is None:
        raise missing(key)
    return value


def _require_object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = require(obj, key)
    if not isinstance(value, dict):
        raise invalid(key, f"{key} must be a JSON object")
    return value


def _check_id(value: Any, attribute: str) -> str:
    if not isinstance(value, str) or value == "":
        raise invalid(attribute, f"{attribute} must be a non-empty string")
    return value


def bad_name_chars(name: str) -> list[str]:
    """The forbidden characters of ``name``, once each, in order of appearance."""
    seen: list[str] = []
    for ch in name:
        if ch in FORBIDDEN_COHORT_NAME_CHARS and ch not in seen:
            seen.append(ch)
    return seen


def check_cohort_name(value: Any, attribute: str) -> str:
    """Validate a cohort (segment) name; ``attribute`` is the payload key it came from."""
    if not isinstance(value, str):
        raise invalid(attribute, f"{attribute} must be a string")
    if value == "":
        raise invalid(attribute, f"{attribute} must not be empty")
    if value.startswith("."):
        raise invalid(attribute, f"{attribute} must not start with '.'")
    bad = bad_name_chars(value)
    if bad:
        raise invalid(
            attribute, f"{attribute} contains characters that are not allowed: {' '.join(bad)}"
        )
    return value


def _uids(users: Any, attribute: str) -> list[str]:
    if not isinstance(users, list):
        raise invalid(attribute, f"{attribute} must be a list of objects with a uid")
    out: list[str] = []
    append = out.append
    for user in users:
        if not isinstance(user, dict):
            raise invalid(attribute, f"{attribute} must be a list of objects with a uid")
        uid = user.get("uid")
        if uid is None:
            raise missing("uid")
        if type(uid) is not str or uid == "":
            raise invalid("uid", "uid must be a non-empty string")
        append(uid)
    return out


def require_body_object(obj: Any) -> dict[str, Any]:
    """``obj`` if it is a JSON object, else the 400 for a body that is not one."""
    if not isinstance(obj, dict):
        raise invalid(None, "The request body must be a JSON object")
    return obj


def parse_partner(obj: Any) -> SyncRequest:
    """Validate the public partner format (``action`` / ``partner`` / ``parameters``)."""
    body = require_body_object(obj)
    action = require(body, "action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise invalid("action", 'action must be "add_members" or "remove_members"')
    partner = require(body, "partner")
    if not isinstance(partner, str) or partner == "":
        raise invalid("partner", "partner must be a non-empty string")
    params = _require_object(body, "parameters")
    name = check_cohort_name(require(params, "cohort_name"), "cohort_name")
    cohort_id = _check_id(require(params, "cohort_id"), "cohort_id")
    description = params.get("cohort_description")
    if description is not None and not isinstance(description, str):
        raise invalid("cohort_description", "cohort_description must be a string")
    members = _uids(require(params, "members"), "members")
    add, remove = (members, []) if action == ACTION_ADD else ([], members)
    return SyncRequest(FORMAT_PARTNER, action, cohort_id, name, description, partner, add, remove)


def parse_segment_sync(obj: Any) -> SyncRequest:
    """Validate the Outbound Segment Sync format (``type`` / ``pagination`` / ``data``)."""
    body = require_body_object(obj)
    kind = require(body, "type")
    if kind != FORMAT_SEGMENT_SYNC:
        raise invalid("type", 'type must be "segment_sync"')
    data = _require_object(body, "data")
    sync_id = _check_id(require(data, "moengage_sync_id"), "moengage_sync_id")
    name = check_cohort_name(require(data, "moengage_sync_name"), "moengage_sync_name")
    adds = data.get("add_users")
    removes = data.get("remove_users")
    add = [] if adds is None else _uids(adds, "add_users")
    remove = [] if removes is None else _uids(removes, "remove_users")
    page = None
    pagination = body.get("pagination")
    if isinstance(pagination, dict):
        page = {k: pagination.get(k) for k in ("page_count", "total_pages")}
    return SyncRequest(
        FORMAT_SEGMENT_SYNC,
        FORMAT_SEGMENT_SYNC,
        sync_id,
        name,
        None,
        PARTNER_MOENGAGE,
        add,
        remove,
        page,
    )
