"""The Get User API pipeline: ``POST /v1/customers/export?app_id={workspace_id}``.

:func:`handle_lookup` applies the checks in the order a gateway applies them, like Cohort
Sync: authentication (401), account state (403: suspended, or the API not enabled for the
workspace), the faults drawn for the request, media type (415), size (413, more than
128,000 bytes), body (400), rate (429), then looks the users up. Errors use the same
``{"status": "fail", "error": {...}}`` envelope as Cohort Sync.

Counting (per workspace, a fixed 60 s window, :data:`~.facts.LOOKUPS_PER_MINUTE` users by
default): a valid request costs one unit per identifier *as sent* (duplicates and
identifiers that match nobody included: they were looked up). A request whose identifiers
do not all fit in what is left of the window is refused whole (429) and costs nothing; so
do requests that fail before the lookup (400, 413, 415, injected 500/429). Every response
to an authenticated request carries ``x-ratelimit-limit`` (users a minute),
``x-ratelimit-remaining`` (users left) and ``x-ratelimit-reset`` (seconds left in the
window), none when the limit is off; the window opens at the first authenticated request.

Matching is exact: ``customer_id`` is the uid as registered (no trimming, no case folding,
``"007"`` is not ``"7"``); ``id`` is MoEngage's internal id (see :mod:`.users`).

Where FACTS.md is silent, the emulator's choices: a user named by several identifiers of one
request is answered once (see :func:`look_up`); a requested field the user does not have is
left out of its attributes rather than sent as null; an empty ``user_fields_to_export``
gives ``customer_id`` and ``id`` only; an empty ``identifiers`` list and an identifier that
is not a non-empty string get a 400 ``InvalidAttributeError``.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import protocol as p
from . import userapi as u
from .facts import MAX_BODY_BYTES
from .gateway import ENDPOINT_GET_USER, Outcome, inject, new_entry
from .model import Workspace
from .rate import Headers
from .state import EmulatorState
from .users import user_view

__all__ = ["handle_lookup", "look_up"]


def handle_lookup(
    state: EmulatorState,
    *,
    authorization: str | None,
    app_id: str | None,
    content_type: str | None,
    body: bytes | None,
    body_len: int,
) -> Outcome:
    """Run one Get User request through every check and answer it.

    ``app_id`` is the query parameter (None when absent). It must equal the Basic-auth
    username: when it does not (or is absent) the answer is the 401 ``Authentication
    Mismatch`` "App key mismatch in params and authentication", the documented message
    closest to the case (it names the params); the Get User API's own documented 401s
    ("App Secret key mismatch...", "Authentication Header Required") are for a wrong key
    and a missing header, as on Cohort Sync.
    """
    rid = uuid.uuid4().hex
    entry = new_entry(
        ENDPOINT_GET_USER,
        u.RESPONSE_TYPE,
        rid,
        identifiers=0,
        found=0,
        not_found=0,
        body_bytes=body_len,
    )
    headers: Headers = [("x-request-id", rid)]
    creds = p.parse_basic_auth(authorization)
    ws: Workspace | None = None
    try:
        with state.lock:
            ws = state.authenticate(creds, app_id, entry)
            ws_id = ws.workspace_id
            ws.lookup_window.roll(state.clock())
            if ws.suspended:
                raise p.ProtocolError(403, ws.suspended, p.SUSPENSION_MESSAGES[ws.suspended])
            if not ws.lookups:
                # The real wording is not documented; FACTS.md says a workspace without the
                # API "may be refused (401/403)". The emulator answers 403.
                raise p.ProtocolError(403, u.TYPE_NOT_ENABLED, u.MSG_NOT_ENABLED)
            draw, faults = state.draw_faults()
    except p.ProtocolError as err:
        return _fail(state, err, entry, headers, ws)

    injected, dropped = inject(draw, faults, state, entry, headers)
    if dropped is not None:
        return dropped
    retry = injected.retry
    if injected.fault == "error_500":
        server_error = p.ProtocolError(500, u.TYPE_SERVER, p.MSG_SERVER)
        return _fail(state, server_error, entry, headers + retry, ws)
    if injected.fault == "rate_429":
        return _fail(
            state, p.ProtocolError(429, u.TYPE_RATE, u.MSG_RATE), entry, headers + retry, ws
        )
    drop = "after" if injected.drop_after else None
    if drop:
        entry["fault"] = "drop_after"

    try:
        if not p.is_json_content_type(content_type):
            raise p.ProtocolError(415, p.TYPE_MEDIA, p.MSG_MEDIA)
        if body is None or body_len > MAX_BODY_BYTES:
            raise p.ProtocolError(413, u.TYPE_TOO_LARGE, u.MSG_TOO_LARGE)
        req = u.parse_lookup(p.decode_json(body))
        entry["identifiers"] = len(req.identifiers)
        with state.lock:
            live = state.find_workspace(ws_id)
            if live is None:  # removed by a reset while this request was in flight
                raise p.ProtocolError(401, p.TYPE_UNAUTHORIZED, p.MSG_KEY_MISMATCH)
            ws = live
            now = state.clock()
            limit = state.lookup_limit(live)
            if not live.lookup_window.take(now, limit, len(req.identifiers)):
                raise p.ProtocolError(429, u.TYPE_RATE, u.MSG_RATE)
            users, not_found = look_up(live, req.identifiers, req.fields)
            entry["found"] = len(users)
            entry["not_found"] = len(not_found)
            entry["status"] = 200
            state.append_log(entry)
            headers += live.lookup_window.headers(now, limit)
    except p.ProtocolError as err:
        out = _fail(state, err, entry, headers + retry if err.status == 429 else headers, ws)
        out.drop = drop
        return out
    return Outcome(200, u.success_body(users, not_found), headers, drop=drop, entry=entry)


def look_up(
    ws: Workspace, identifiers: list[tuple[str, str]], fields: list[str] | None
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The users ``identifiers`` name, and the identifiers that name nobody.

    Each user is answered once, in the order of its first identifier, even when several
    identifiers name it (the same one twice, or its uid and its id); each identifier that
    names nobody is listed once, as sent. With ``fields`` a user shows ``customer_id``,
    ``id`` and those of the fields it has: a requested field the user does not have is left
    out of its attributes (not sent as null). Lock held.
    """
    found: dict[str, dict[str, Any]] = {}
    missing: dict[tuple[str, str], None] = {}
    for kind, value in identifiers:
        uid = ws.uid_of(value) if kind == "id" else value if value in ws.users else None
        if uid is None:
            missing[(kind, value)] = None
        elif uid not in found:
            found[uid] = user_view(ws.workspace_id, uid, ws.users[uid], fields)
    return list(found.values()), list(missing)


def _fail(
    state: EmulatorState,
    err: p.ProtocolError,
    entry: dict[str, Any],
    headers: Headers,
    ws: Workspace | None,
) -> Outcome:
    entry["status"] = err.status
    entry["error_type"] = err.type
    with state.lock:
        if ws is not None and entry["authenticated"]:
            headers = headers + ws.lookup_window.headers(state.clock(), state.lookup_limit(ws))
        state.append_log(entry)
    body = p.error_body(err.type, err.message, err.attribute, entry["request_id"])
    return Outcome(err.status, body, headers, entry=entry)
