"""The Cohort Sync pipeline: ``POST /v1/integrations/cohortsync``.

:func:`handle_sync` runs one request through every check in the order a real gateway
applies them: authentication (401), account state (403), media type (415), size (413),
body (400), rate (429), then applies it. Every authenticated request counts in the
workspace's window (300 a minute), including the ones it rejects. Faults are drawn for
every request that gets past the account check.

Segments of all kinds share one cap (``max_cohorts``, MoEngage's 1,000 active segments):
a request that would create a cohort beyond it gets a 400 ``LimitExceededError`` (emulator
choice: MoEngage does not document what Cohort Sync answers then). A cohort named like a
segment made on the dashboard or by file gets a 400 too (see :func:`_check_conflicts`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from . import protocol as p
from .facts import MAX_BODY_BYTES
from .gateway import ENDPOINT_COHORTSYNC, Outcome, inject, new_entry
from .model import Cohort, Workspace
from .rate import Headers
from .state import EmulatorState

__all__ = ["handle_sync"]


def handle_sync(
    state: EmulatorState,
    *,
    authorization: str | None,
    appkey: str | None,
    partner: str | None,
    content_type: str | None,
    body: bytes | None,
    body_len: int,
) -> Outcome:
    """Run one ``POST /v1/integrations/cohortsync`` through every check and apply it.

    ``body`` is None when the HTTP layer did not read an oversized body; ``body_len``
    is its (declared or counted) length.
    """
    rid = uuid.uuid4().hex
    segment_format = p.is_moengage_partner(partner)
    entry = new_entry(
        ENDPOINT_COHORTSYNC,
        p.FORMAT_SEGMENT_SYNC if segment_format else p.FORMAT_PARTNER,
        rid,
        action=None,
        cohort_id=None,
        cohort_name=None,
        members=0,
        unmatched=0,
        page=None,
        body_bytes=body_len,
    )
    headers: Headers = [("x-request-id", rid)]
    creds = p.parse_basic_auth(authorization)
    try:
        with state.lock:
            ws = state.authenticate(creds, appkey, entry)
            over, rate_headers = ws.window.hit(state.clock(), state.sync_limit(ws))
            headers += rate_headers
            if ws.suspended:
                raise p.ProtocolError(403, ws.suspended, p.SUSPENSION_MESSAGES[ws.suspended])
            draw, faults = state.draw_faults()
            ws_id = ws.workspace_id
    except p.ProtocolError as err:
        return _fail(state, err, entry, headers)

    injected, dropped = inject(draw, faults, state, entry, headers)
    if dropped is not None:
        return dropped
    retry = injected.retry
    if injected.fault == "error_500":
        return _fail(
            state, p.ProtocolError(500, p.TYPE_SERVER, p.MSG_SERVER), entry, headers + retry
        )
    if injected.fault == "rate_429":
        return _fail(state, p.ProtocolError(429, p.TYPE_RATE, p.MSG_RATE), entry, headers + retry)
    drop = "after" if injected.drop_after else None
    if drop:
        entry["fault"] = "drop_after"

    try:
        if not p.is_json_content_type(content_type):
            raise p.ProtocolError(415, p.TYPE_MEDIA, p.MSG_MEDIA)
        if body is None or body_len > MAX_BODY_BYTES:
            raise p.ProtocolError(413, p.TYPE_TOO_LARGE, p.MSG_TOO_LARGE)
        obj = p.decode_json(body)
        req = p.parse_segment_sync(obj) if segment_format else p.parse_partner(obj)
        entry["action"] = req.action
        entry["cohort_id"] = req.cohort_id
        entry["cohort_name"] = req.cohort_name
        entry["members"] = len(req.add) + len(req.remove)
        entry["page"] = req.page
        with state.lock:
            live = state.find_workspace(ws_id)
            if live is None:  # removed by a reset while this request was in flight
                raise p.ProtocolError(401, p.TYPE_UNAUTHORIZED, p.MSG_KEY_MISMATCH)
            _check_conflicts(state, live, req, segment_format)
            if over:
                raise p.ProtocolError(429, p.TYPE_RATE, p.MSG_RATE)
            _apply(state, live, req, entry)
            entry["status"] = 200
            state.append_log(entry)
    except p.ProtocolError as err:
        out = _fail(state, err, entry, headers + retry if err.status == 429 else headers)
        out.drop = drop
        return out
    return Outcome(200, p.SUCCESS_BODY, headers, drop=drop, entry=entry)


def _check_conflicts(
    state: EmulatorState, ws: Workspace, req: p.SyncRequest, segment_format: bool
) -> None:
    """The 400s that depend on the workspace's segments. Lock held.

    A cohort named exactly like a segment made on the dashboard or by file: FACTS.md says
    only that cohort sync "cannot update" such a segment; what the real API answers is not
    documented. The emulator's strict reading refuses the request (nothing is applied).
    """
    conflict = ws.registered_named(req.cohort_name)
    if conflict is not None:
        raise p.invalid(
            "moengage_sync_name" if segment_format else "cohort_name",
            f"A segment named {req.cohort_name!r} already exists and was not created by "
            f"cohort sync (source {conflict.source}); cohort sync cannot update it",
        )
    count = ws.active_segments()
    if req.cohort_id not in ws.cohorts and count >= state.max_cohorts:
        raise p.ProtocolError(
            400,
            p.TYPE_LIMIT,
            f"The workspace already has {count} active segments (limit {state.max_cohorts}); "
            "a new cohort cannot be created",
            "moengage_sync_id" if segment_format else "cohort_id",
        )


def _apply(state: EmulatorState, ws: Workspace, req: p.SyncRequest, entry: dict[str, Any]) -> None:
    """Apply a validated request. Lock held. Work is proportional to the uids sent."""
    now = time.time()
    cohort = ws.cohorts.get(req.cohort_id)
    if cohort is None:
        cohort = Cohort(
            req.cohort_id, req.cohort_name, req.description, req.partner, req.format, now, now
        )
        ws.cohorts[req.cohort_id] = cohort
    else:
        cohort.name = req.cohort_name
        if req.description is not None:
            cohort.description = req.description
        cohort.partner = req.partner
        cohort.format = req.format
        cohort.updated_at = now
    users = ws.users
    unmatched = 0
    add_known: list[str] = []
    add_unknown: list[str] = []
    for uid in req.add:
        if uid in users:
            add_known.append(uid)
        else:
            add_unknown.append(uid)
    unmatched += len(add_unknown)
    cohort.members.update(add_known)
    cohort.unmatched.update(add_unknown)
    if req.remove:
        unmatched += sum(1 for uid in req.remove if uid not in users)
        cohort.members.difference_update(req.remove)
        cohort.unmatched.difference_update(req.remove)
    entry["unmatched"] = unmatched
    db = state.db
    if db is not None:
        db.put_cohort(ws.workspace_id, cohort)
        cid = cohort.cohort_id
        db.change_uids("members", ws.workspace_id, cid, add_known, add=True)
        db.change_uids("unmatched", ws.workspace_id, cid, add_unknown, add=True)
        if req.remove:
            db.change_uids("members", ws.workspace_id, cid, req.remove, add=False)
            db.change_uids("unmatched", ws.workspace_id, cid, req.remove, add=False)


def _fail(
    state: EmulatorState, err: p.ProtocolError, entry: dict[str, Any], headers: Headers
) -> Outcome:
    entry["status"] = err.status
    entry["error_type"] = err.type
    with state.lock:
        state.append_log(entry)
    body = p.error_body(err.type, err.message, err.attribute, entry["request_id"])
    return Outcome(err.status, body, headers, entry=entry)
