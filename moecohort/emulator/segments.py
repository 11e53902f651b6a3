"""The Custom Segments API v3, read side: ``GET /v3/custom-segments?name=<exact name>`` (list)
and ``GET /v3/custom-segments/{id}`` (get by id).

Basic auth (workspace ID : Data API key) plus ``MOE-APPKEY: <workspace ID>``. The list holds
every segment of the workspace: the cohorts the Cohort Sync endpoint created (``type`` and
``source`` are not documented: :data:`~.facts.COHORT_SEGMENT_TYPE` /
:data:`~.facts.COHORT_SEGMENT_SOURCE`, the emulator's own values) and the segments
registered as made on the dashboard or by file (``Emulator.add_segment``). ``name``
matches exactly (no trimming, no case folding); without it the list holds every segment,
oldest first. Creating segments through this API is not emulated.

200: ``{"data": [{"name", "id", "created_time", "type", "source"}], "response_id",
"type": "custom_segment"}``; get-by-id answers the same shape with a one-item list (emulator
choice: FACTS.md documents this one success shape for the API). Errors:
``{"response_id", "type": "custom_segment", "error": {"code", "message"}}`` with the
documented messages: 400 "Invalid request", 401 "Authentication required" (missing or
unreadable Basic header, wrong key, ``MOE-APPKEY`` missing or not the Basic-auth username),
404 "Entity Not Found", 429 "Too Many Requests", 500 "Internal Server Error". Emulator
choices: ``code`` is the status and its reason phrase (``"404 Not Found"``); a suspended
workspace gets 403 with the suspension's message (the API documents no 403); a 400 is an
empty or repeated ``name`` parameter.

Limits per workspace (:data:`~.facts.SEGMENT_LIST_LIMITS`, :data:`~.facts.SEGMENT_GET_LIMITS`:
fixed windows of a minute, an hour and a day, each opened by its first request): every
authenticated request counts in every window of its kind, including the ones refused, as
Cohort Sync counts. ``x-ratelimit-*`` headers describe the window with the fewest requests
left (the shortest on a tie). ``Emulator(rate_limit=False)`` turns the limits off.
Check order: 401, 403, faults, 400, 429, 404.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from . import protocol as p
from .gateway import ENDPOINT_SEGMENTS, Outcome, inject, new_entry
from .rate import Headers
from .state import EmulatorState

__all__ = [
    "MSG_AUTH",
    "MSG_INVALID",
    "MSG_NOT_FOUND",
    "MSG_RATE",
    "MSG_SERVER",
    "RESPONSE_TYPE",
    "error_body",
    "handle_segments",
]

#: FACTS.md: the ``type`` of every body of this API.
RESPONSE_TYPE = "custom_segment"
#: FACTS.md's messages, by status.
MSG_INVALID = "Invalid request"
MSG_AUTH = "Authentication required"
MSG_NOT_FOUND = "Entity Not Found"
MSG_RATE = "Too Many Requests"
#: 500: documented without a message; the emulator's choice.
MSG_SERVER = "Internal Server Error"


def _error(status: int, message: str) -> p.ProtocolError:
    return p.ProtocolError(status, RESPONSE_TYPE, message)


def error_body(status: int, message: str, response_id: str) -> bytes:
    """The API's error envelope; ``code`` is the status and its reason phrase."""
    body = {
        "response_id": response_id,
        "type": RESPONSE_TYPE,
        "error": {"code": f"{status} {HTTPStatus(status).phrase}", "message": message},
    }
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def handle_segments(
    state: EmulatorState,
    *,
    segment_id: str | None,
    query: str,
    authorization: str | None,
    appkey: str | None,
) -> Outcome:
    """Answer one list (``segment_id`` None) or get-by-id request."""
    rid = uuid.uuid4().hex
    by_id = segment_id is not None
    entry = new_entry(
        ENDPOINT_SEGMENTS,
        "get" if by_id else "list",
        rid,
        name=None,
        segment_id=segment_id,
        results=0,
    )
    headers: Headers = [("x-request-id", rid)]
    creds = p.parse_basic_auth(authorization)
    try:
        with state.lock:
            try:
                ws = state.authenticate(creds, appkey, entry)
            except p.ProtocolError:
                raise _error(401, MSG_AUTH) from None
            windows = ws.get_windows if by_id else ws.list_windows
            over, rate_headers = windows.hit(state.clock(), state.segment_limits(by_id))
            headers += rate_headers
            if ws.suspended:
                raise _error(403, p.SUSPENSION_MESSAGES[ws.suspended])
            draw, faults = state.draw_faults()
            ws_id = ws.workspace_id
    except p.ProtocolError as err:
        return _fail(state, err, entry, headers)

    injected, dropped = inject(draw, faults, state, entry, headers)
    if dropped is not None:
        return dropped
    retry = injected.retry
    if injected.fault == "error_500":
        return _fail(state, _error(500, MSG_SERVER), entry, headers + retry)
    if injected.fault == "rate_429":
        return _fail(state, _error(429, MSG_RATE), entry, headers + retry)
    drop = "after" if injected.drop_after else None
    if drop:
        entry["fault"] = "drop_after"

    try:
        name = None if by_id else _name(query)
        entry["name"] = name
        with state.lock:
            live = state.find_workspace(ws_id)
            if live is None:  # removed by a reset while this request was in flight
                raise _error(401, MSG_AUTH)
            if over:
                raise _error(429, MSG_RATE)
            found = live.all_segments()
            if by_id:
                found = [s for s in found if s.segment_id == segment_id]
                if not found:
                    raise _error(404, MSG_NOT_FOUND)
            elif name is not None:
                found = [s for s in found if s.name == name]
            data = [s.view() for s in found]
            entry["results"] = len(data)
            entry["status"] = 200
            state.append_log(entry)
    except p.ProtocolError as err:
        out = _fail(state, err, entry, headers + retry if err.status == 429 else headers)
        out.drop = drop
        return out
    body: dict[str, Any] = {"data": data, "response_id": rid, "type": RESPONSE_TYPE}
    return Outcome(
        200, json.dumps(body, separators=(",", ":")).encode("ascii"), headers, drop, entry
    )


def _name(query: str) -> str | None:
    """The ``name`` parameter of a list request: None when absent; 400 when empty or given
    more than once (emulator choice). Other parameters are ignored."""
    values = parse_qs(query, keep_blank_values=True).get("name")
    if values is None:
        return None
    if len(values) != 1 or values[0] == "":
        raise _error(400, MSG_INVALID)
    return values[0]


def _fail(
    state: EmulatorState, err: p.ProtocolError, entry: dict[str, Any], headers: Headers
) -> Outcome:
    entry["status"] = err.status
    entry["error_type"] = err.message
    with state.lock:
        state.append_log(entry)
    return Outcome(
        err.status, error_body(err.status, err.message, entry["request_id"]), headers, entry=entry
    )
