"""The inspection and control API under ``/_emulator``: JSON in and out, loopback only.

Routes (``GET`` unless noted), under :data:`CONTROL_PREFIX`:

``/`` (summary), ``/workspaces`` (``GET``, ``POST``), ``/workspaces/{ws}`` (``GET``,
``DELETE``), ``/workspaces/{ws}/users``, ``/workspaces/{ws}/users/{uid}``,
``/workspaces/{ws}/segments`` (``GET``, ``POST``), ``/workspaces/{ws}/cohorts``,
``/workspaces/{ws}/cohorts/{id_or_name}``, ``/workspaces/{ws}/cohorts/{id_or_name}/members``,
``/requests?workspace=&endpoint=&limit=``, ``/reset`` (``POST``), ``/faults`` (``GET``,
``POST``).

``POST /workspaces`` takes ``workspace_id``, ``api_key``, ``users`` (a list of uids and/or
objects with ``customer_id`` and attributes, or an object ``uid -> attributes``),
``requests_per_minute``, ``suspended``, ``lookups`` and ``lookups_per_minute``.
``POST /workspaces/{ws}/segments`` takes ``name``, ``type``, ``source``, ``id`` and
``created_time`` (see ``Emulator.add_segment``).

:func:`handle` knows nothing about HTTP framing: it takes the method, path, query and
body the handler read, and returns a :class:`ControlReply` for the handler to send.
Errors use MoEngage's envelope, like the rest of the emulator.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from . import protocol as p
from .common import EMULATOR_VERSION
from .facts import LOOKUPS_PER_MINUTE, REQUESTS_PER_MINUTE
from .faults import Faults
from .model import DEFAULT_SEGMENT_SOURCE, DEFAULT_SEGMENT_TYPE
from .state import EmulatorState

__all__ = ["CONTROL_PREFIX", "ControlCall", "ControlReply", "handle", "is_loopback"]

#: Prefix of the inspection/control API.
CONTROL_PREFIX = "/_emulator"

#: Attributes ``POST /_emulator/workspaces`` accepts.
WORKSPACE_FIELDS = (
    "workspace_id",
    "api_key",
    "users",
    "requests_per_minute",
    "suspended",
    "lookups",
    "lookups_per_minute",
)

#: Attributes ``POST /_emulator/workspaces/{ws}/segments`` accepts.
SEGMENT_FIELDS = ("name", "type", "source", "id", "created_time")


@dataclass(frozen=True)
class ControlCall:
    """One control request, as a route sees it."""

    method: str
    #: The path segments after :data:`CONTROL_PREFIX`, percent-decoded, empty ones dropped.
    parts: list[str]
    #: The raw query string.
    query: str
    #: The decoded JSON object of a ``POST`` (``{}`` for an empty body), else None.
    body: Any


@dataclass(frozen=True)
class ControlReply:
    """What the handler sends back: ``result`` as JSON (200), or ``error`` in the envelope."""

    result: Any = None
    error: p.ProtocolError | None = None
    #: Extra headers for an error (``Allow`` on a 405).
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[EmulatorState, ControlCall], Any]


def is_loopback(host: str) -> bool:
    """True when ``host`` (an IP address, IPv6 scope and IPv4-mapped forms allowed) is loopback."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def handle(
    state: EmulatorState,
    *,
    method: str,
    path: str,
    query: str,
    body: bytes | None,
    client_host: str,
) -> ControlReply:
    """Answer one control request.

    ``path`` starts with :data:`CONTROL_PREFIX`; ``body`` is None when it was too large
    to read. Clients that are not on loopback get a 403 whatever they ask.
    """
    if not is_loopback(client_host):
        return ControlReply(
            error=p.ProtocolError(
                403, p.TYPE_FORBIDDEN, "The control API answers loopback clients only"
            )
        )
    parts = [unquote(s) for s in path[len(CONTROL_PREFIX) :].split("/") if s != ""]
    try:
        route, allowed = _route(parts)
        if route is None:
            raise p.ProtocolError(404, p.TYPE_NOT_FOUND, f"No route for {method} {path}")
        if method not in allowed:
            return ControlReply(
                error=p.ProtocolError(405, p.TYPE_METHOD, f"{method} is not allowed on {path}"),
                headers=(("Allow", ", ".join(allowed)),),
            )
        payload: Any = None
        if method == "POST":
            if body is None:
                raise p.ProtocolError(413, p.TYPE_TOO_LARGE, "Control request too large")
            payload = {} if not body.strip() else p.require_body_object(p.decode_json(body))
        return ControlReply(result=route(state, ControlCall(method, parts, query, payload)))
    except p.ProtocolError as err:
        return ControlReply(error=err)
    except KeyError as err:
        message = str(err.args[0]) if err.args else "Not found"
        return ControlReply(error=p.ProtocolError(404, p.TYPE_NOT_FOUND, message))
    except (ValueError, TypeError) as err:
        return ControlReply(error=p.ProtocolError(400, p.TYPE_INVALID, str(err)))


def _route(parts: list[str]) -> tuple[Route | None, tuple[str, ...]]:
    """The route for ``parts`` and the methods it allows; ``(None, ())`` when there is none."""
    n = len(parts)
    if n == 0:
        return _summary, ("GET",)
    head = parts[0]
    if head == "workspaces":
        if n == 1:
            return _workspaces, ("GET", "POST")
        if n == 2:
            return _workspace, ("GET", "DELETE")
        if n == 3 and parts[2] == "users":
            return _users, ("GET",)
        if n == 4 and parts[2] == "users":
            return _user, ("GET",)
        if n == 3 and parts[2] == "segments":
            return _segments, ("GET", "POST")
        if n == 3 and parts[2] == "cohorts":
            return _cohorts, ("GET",)
        if n == 4 and parts[2] == "cohorts":
            return _cohort, ("GET",)
        if n == 5 and parts[2] == "cohorts" and parts[4] == "members":
            return _members, ("GET",)
    elif n == 1 and head == "requests":
        return _requests, ("GET",)
    elif n == 1 and head == "reset":
        return _reset, ("POST",)
    elif n == 1 and head == "faults":
        return _faults, ("GET", "POST")
    return None, ()


# --- routes -------------------------------------------------------------------------------
def _summary(state: EmulatorState, call: ControlCall) -> Any:
    return {"emulator": "moecohort", "version": EMULATOR_VERSION, **state.summary()}


def _workspaces(state: EmulatorState, call: ControlCall) -> Any:
    if call.method == "GET":
        return {"workspaces": state.workspaces()}
    body = call.body
    unknown = sorted(set(body) - set(WORKSPACE_FIELDS))
    if unknown:
        raise p.invalid(unknown[0], f"unknown attribute(s): {', '.join(unknown)}")
    for key in ("workspace_id", "api_key"):
        p.require(body, key)
    users = body.get("users") or []
    if not isinstance(users, (list, dict)):
        raise p.invalid(
            "users", "users must be a list of uids and user objects, or an object uid -> attributes"
        )
    ws = state.add_workspace(
        body["workspace_id"],
        body["api_key"],
        users,
        requests_per_minute=body.get("requests_per_minute", REQUESTS_PER_MINUTE),
        suspended=body.get("suspended", False),
        lookups=body.get("lookups", True),
        lookups_per_minute=body.get("lookups_per_minute", LOOKUPS_PER_MINUTE),
    )
    return {"status": "success", "workspace": ws}


def _workspace(state: EmulatorState, call: ControlCall) -> Any:
    if call.method == "DELETE":
        state.remove_workspace(call.parts[1])
        return {"status": "success"}
    return state.workspace(call.parts[1])


def _users(state: EmulatorState, call: ControlCall) -> Any:
    ws = call.parts[1]
    users = state.users(ws)
    return {"workspace_id": ws, "count": len(users), "users": users}


def _user(state: EmulatorState, call: ControlCall) -> Any:
    return state.user(call.parts[1], call.parts[3])


def _segments(state: EmulatorState, call: ControlCall) -> Any:
    ws = call.parts[1]
    if call.method == "GET":
        return {"workspace_id": ws, "segments": state.segments(ws)}
    body = call.body
    unknown = sorted(set(body) - set(SEGMENT_FIELDS))
    if unknown:
        raise p.invalid(unknown[0], f"unknown attribute(s): {', '.join(unknown)}")
    segment = state.add_segment(
        ws,
        p.require(body, "name"),
        type_=body.get("type", DEFAULT_SEGMENT_TYPE),
        source=body.get("source", DEFAULT_SEGMENT_SOURCE),
        segment_id=body.get("id"),
        created_time=body.get("created_time"),
    )
    return {"status": "success", "segment": segment}


def _cohorts(state: EmulatorState, call: ControlCall) -> Any:
    ws = call.parts[1]
    return {"workspace_id": ws, "cohorts": state.cohorts(ws)}


def _cohort(state: EmulatorState, call: ControlCall) -> Any:
    return state.cohort(call.parts[1], call.parts[3])


def _members(state: EmulatorState, call: ControlCall) -> Any:
    ws = call.parts[1]
    info = state.cohort(ws, call.parts[3])
    members = sorted(state.cohort_members(ws, info["cohort_id"]))
    return {
        "workspace_id": ws,
        "cohort_id": info["cohort_id"],
        "name": info["name"],
        "count": len(members),
        "members": members,
    }


def _requests(state: EmulatorState, call: ControlCall) -> Any:
    query = parse_qs(call.query)
    ws = query.get("workspace", [None])[-1]
    endpoint = query.get("endpoint", [None])[-1]
    raw_limit = query.get("limit", ["100"])[-1]
    try:
        limit = int(raw_limit)
    except ValueError:
        raise p.invalid("limit", "limit must be an integer") from None
    if limit < 0:
        raise p.invalid("limit", "limit must be >= 0")
    entries = state.request_log(ws, limit if limit > 0 else None, endpoint)
    return {"requests": entries, "count": len(entries)}


def _reset(state: EmulatorState, call: ControlCall) -> Any:
    flag = call.body.get("workspaces", False)
    if not isinstance(flag, bool):
        raise p.invalid("workspaces", "workspaces must be true or false")
    state.reset(workspaces=flag)
    return {"status": "success"}


def _faults(state: EmulatorState, call: ControlCall) -> Any:
    if call.method == "POST":
        state.set_faults(Faults.from_dict(call.body))
        return {"status": "success", "faults": state.faults.to_dict()}
    return {"faults": state.faults.to_dict()}
