"""The Get User API as the client speaks it: the endpoint, request bodies, and answers.

``POST {host}/v1/customers/export?app_id={workspace_id}`` with Basic auth (workspace ID :
Data API key) and ``{"data": {"identifiers": [{"identifier_type": "customer_id",
"identifier": "<uid>"}, ...], "user_fields_to_export": [...]}}``. A request holds at most
:data:`~moecohort._constants.MAX_LOOKUP_IDENTIFIERS` identifiers and at most
:data:`~moecohort._constants.MAX_BODY_BYTES` bytes (exact byte accounting, as for Cohort
Sync bodies): :func:`requests_of` cuts a stream of uids into such requests, and sets
aside an id that could not fit a request alone. :func:`read_answer` reads a 200 into the
users found and the uids not found, matched to the uids sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .._constants import (
    GET_USER_APP_ID_PARAM,
    GET_USER_PATH,
    LOOKUP_IDENTIFIER_TYPE,
    MAX_BODY_BYTES,
    MAX_LOOKUP_IDENTIFIERS,
)
from ..credentials import AppCredentials
from ..errors import InputError
from ..transport import Endpoint

__all__ = [
    "UID_FIELD",
    "Answer",
    "LookupRequest",
    "body_of",
    "check_fields",
    "lookup_endpoint",
    "read_answer",
    "requests_of",
]

#: The attribute of a user that holds its uid.
UID_FIELD = "customer_id"


def lookup_endpoint(app: AppCredentials) -> Endpoint:
    """The Get User API of ``app``: its URL (with ``app_id``), method and headers. Its
    ``x-ratelimit-*`` headers count users, at most 20 a request."""
    query = urlencode({GET_USER_APP_ID_PARAM: app.workspace_id})
    return Endpoint(
        url=f"{app.host}{GET_USER_PATH}?{query}",
        method="POST",
        headers={"Content-Type": "application/json"},
        units_per_request=MAX_LOOKUP_IDENTIFIERS,
    )


def check_fields(fields: object) -> list[str] | None:
    """``fields`` as the ``user_fields_to_export`` to send: None (every attribute the API
    returns), or the names given with ``customer_id`` first (the uid each user is matched
    by). :class:`~moecohort.errors.InputError` for anything else."""
    if fields is None:
        return None
    if isinstance(fields, str) or not isinstance(fields, Iterable):
        raise InputError(
            "fields must be a list of attribute names (or None for every attribute), "
            f"not {fields!r}.",
            param="fields",
        )
    names = list(fields)
    if not all(isinstance(f, str) and f for f in names):
        raise InputError("fields must be non-empty attribute names.", param="fields")
    return [UID_FIELD, *dict.fromkeys(f for f in names if f != UID_FIELD)]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _identifier(uid: str) -> dict[str, str]:
    return {"identifier_type": LOOKUP_IDENTIFIER_TYPE, "identifier": uid}


def body_of(uids: Sequence[str], fields: list[str] | None) -> bytes:
    """The request body looking ``uids`` up (UTF-8 JSON, no spaces)."""
    data: dict[str, Any] = {"identifiers": [_identifier(u) for u in uids]}
    if fields is not None:
        data["user_fields_to_export"] = fields
    return _dumps({"data": data})


@dataclass
class LookupRequest:
    """The uids of one request (at most 20, at most 128,000 bytes of body)."""

    uids: list[str] = field(default_factory=list)
    nbytes: int = 0


def requests_of(
    uids: Iterable[str], fields: list[str] | None, oversize: list[str]
) -> Iterator[LookupRequest]:
    """Cut ``uids`` into requests, in order: up to 20 uids each, each body within
    :data:`MAX_BODY_BYTES`. A uid whose request would exceed the limit alone is appended
    to ``oversize`` instead (never sent)."""
    base = len(body_of([], fields))  # the envelope, with an empty identifiers list
    current = LookupRequest(nbytes=base)
    for uid in uids:
        size = len(_dumps(_identifier(uid)))
        if base + size > MAX_BODY_BYTES:
            oversize.append(uid)
            continue
        extra = size + (1 if current.uids else 0)  # the comma between two identifiers
        if len(current.uids) == MAX_LOOKUP_IDENTIFIERS or current.nbytes + extra > MAX_BODY_BYTES:
            yield current
            current = LookupRequest(nbytes=base)
            extra = size
        current.uids.append(uid)
        current.nbytes += extra
    if current.uids:
        yield current


@dataclass
class Answer:
    """A 200 read against the uids sent: users found (their attributes, by uid), the uids
    the API listed as not found, and the uids it said nothing about."""

    found: dict[str, dict[str, Any]]
    not_found: list[str]
    unanswered: list[str]


def read_answer(uids: Sequence[str], body: Any) -> Answer | None:
    """Match a 200 body to the uids sent; None when the body is not the documented shape
    (``{"data": {"users": [{"user_attributes": {...}}], "users_not_found": [...]}}``).

    A user counts as found when its ``customer_id`` is one of the uids sent (exactly); a uid
    is not found when ``users_not_found`` lists it as a ``customer_id``. A uid in neither
    is ``unanswered``: reported, never guessed.
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return None
    users = data.get("users", [])
    missing = data.get("users_not_found", [])
    if not isinstance(users, list) or not isinstance(missing, list):
        return None
    sent = set(uids)
    found: dict[str, dict[str, Any]] = {}
    for user in users:
        attributes = user.get("user_attributes") if isinstance(user, dict) else None
        if not isinstance(attributes, dict):
            return None
        uid = attributes.get(UID_FIELD)
        if isinstance(uid, str) and uid in sent:
            found.setdefault(uid, attributes)
    listed = {
        item.get("identifier")
        for item in missing
        if isinstance(item, dict)
        and item.get("identifier_type", LOOKUP_IDENTIFIER_TYPE) == LOOKUP_IDENTIFIER_TYPE
    }
    not_found = [u for u in uids if u not in found and u in listed]
    unanswered = [u for u in uids if u not in found and u not in listed]
    return Answer(found, not_found, unanswered)
