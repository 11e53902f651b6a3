"""HTTP front end of the emulator, the :class:`Emulator` facade and :func:`serve`.

A stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive. Routes:

* ``POST /v1/integrations/cohortsync``: the Cohort Sync API (see :mod:`.state`).
* ``/_emulator/...``: inspection and control, JSON in and out, no authentication,
  answered only to loopback clients (see :class:`_Handler` for the list).
* anything else: 404 (unknown path) or 405 (known path, other method), in MoEngage's
  error envelope.

Every response carries ``x-request-id``. That header is an emulator convenience: the
real API only shows a ``request_id`` inside error bodies.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import selectors
import socket
import socketserver
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

from moecohort._constants import (
    COHORT_SYNC_PATH,
    DEFAULT_REQUESTS_PER_MINUTE,
    HEADER_APPKEY,
    HEADER_PARTNER,
    VERSION,
)

from . import protocol as p
from .state import DEFAULT_LOG_LIMIT, DEFAULT_MAX_COHORTS, EmulatorState, Faults, Outcome

__all__ = ["CONTROL_PREFIX", "HARD_BODY_CAP", "Emulator", "serve"]

#: Bodies longer than this are not read at all: the emulator answers (413 once
#: authenticated) and closes the connection.
HARD_BODY_CAP = 32 * 1024 * 1024

#: Prefix of the inspection/control API.
CONTROL_PREFIX = "/_emulator"


class _BadRequest(Exception):
    """The HTTP framing itself is broken (bad Content-Length, bad chunk)."""


def _is_loopback(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("ascii")


def _sync_detail(entry: dict[str, Any]) -> str:
    """The access-log detail of one Cohort Sync request, from its log entry."""
    return " ".join(
        str(part)
        for part in (
            entry.get("workspace") or "-",
            entry.get("action") or "-",
            f"cohort={entry.get('cohort_id') or '-'}",
            f"members={entry.get('members', 0)}",
            entry.get("error_type"),
            entry.get("fault"),
            f"req={entry.get('request_id')}",
        )
        if part
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: EmulatorState,
        access_log: IO[str] | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.access_log = access_log
        self._log_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._conns_cond = threading.Condition()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket) -> None:
        with self._conns_cond:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_cond:
            self._conns.discard(conn)
            self._conns_cond.notify_all()

    def close_connections(self, timeout: float = 2.0) -> None:
        """Shut every open connection down and wait (briefly) for their handlers."""
        with self._conns_cond:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._conns_cond.wait_for(lambda: not self._conns, timeout=timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, _BadRequest)):
            return  # the client went away, or we closed it on purpose
        traceback.print_exc(file=sys.stderr)

    def write_access(self, line: str) -> None:
        if self.access_log is None:
            return
        with self._log_lock:
            try:
                self.access_log.write(line + "\n")
                self.access_log.flush()
            except (OSError, ValueError):
                pass


class _Handler(BaseHTTPRequestHandler):
    """One connection. Control routes (``GET`` unless noted), under ``/_emulator``:

    ``/`` (summary), ``/workspaces`` (``GET``, ``POST``), ``/workspaces/{ws}`` (``GET``,
    ``DELETE``), ``/workspaces/{ws}/cohorts``, ``/workspaces/{ws}/cohorts/{id_or_name}``,
    ``/workspaces/{ws}/cohorts/{id_or_name}/members``, ``/requests?workspace=&limit=``,
    ``/reset`` (``POST``), ``/faults`` (``GET``, ``POST``).
    """

    protocol_version = "HTTP/1.1"
    server_version = f"moecohort-emulator/{VERSION}"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120
    server: _Server

    # --- plumbing -----------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def log_message(self, fmt: str, *args: Any) -> None:
        """Silence http.server's own logging; see ``access_log`` instead."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Framing errors (bad request line, headers too long...) in the JSON envelope."""
        self.close_connection = True
        reason = self.responses.get(code, ("Error", ""))[0]
        rid = uuid.uuid4().hex
        body = p.error_body(reason, message or reason, None, rid)
        with contextlib.suppress(OSError):
            self._send(code, body, [("x-request-id", rid)])

    def _send(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"{self.protocol_version} {status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if getattr(self, "command", None) == "HEAD":
            body = b""
        self.wfile.write(head + body)

    def _read_body(self, cap: int = HARD_BODY_CAP) -> tuple[bytes | None, int]:
        """Read the request body. Returns ``(None, length)`` when over ``cap`` (not read)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(cap)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b"", 0
        try:
            length = int(raw.strip())
        except ValueError:
            raise _BadRequest("invalid Content-Length") from None
        if length < 0:
            raise _BadRequest("invalid Content-Length")
        if length > cap:
            self.close_connection = True
            return None, length
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise ConnectionResetError("client closed the connection mid-body")
        return data, length

    def _read_chunked(self, cap: int) -> tuple[bytes | None, int]:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionResetError("client closed the connection mid-body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("invalid chunk size") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts), total
            total += size
            if total > cap:
                self.close_connection = True
                return None, total
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionResetError("client closed the connection mid-body")
            parts.append(chunk)
            self.rfile.readline(3)  # CRLF after the chunk

    def _drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _access(self, status: int | str, detail: str = "-") -> None:
        if self.server.access_log is not None:
            self.server.write_access(
                f'{self.client_address[0]} "{self.command} {self.path}" {status} {detail}'
            )

    def _error(
        self,
        status: int,
        type_: str,
        message: str,
        attribute: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        rid = uuid.uuid4().hex
        body = p.error_body(type_, message, attribute, rid)
        self._send(status, body, [("x-request-id", rid), *extra])
        self._access(status, type_)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, _dumps(obj), [("x-request-id", uuid.uuid4().hex)])
        self._access(status)

    # --- dispatch -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        try:
            self._dispatch()
        except _BadRequest as exc:
            self.send_error(400, str(exc))
        except OSError:
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._error(500, p.TYPE_SERVER, "Internal emulator error (see its stderr)")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        if path == COHORT_SYNC_PATH:
            if self.command == "POST":
                self._cohortsync()
            else:
                self._read_body()
                self._error(
                    405,
                    p.TYPE_METHOD,
                    f"{self.command} is not allowed on {path}",
                    extra=[("Allow", "POST")],
                )
        elif path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            self._control(path)
        else:
            self._read_body()
            self._error(404, p.TYPE_NOT_FOUND, f"No route for {self.command} {path}")

    def _cohortsync(self) -> None:
        body, length = self._read_body()
        h = self.headers
        out: Outcome = self.server.state.handle_sync(
            authorization=h.get("Authorization"),
            appkey=h.get(HEADER_APPKEY),
            partner=h.get(HEADER_PARTNER),
            content_type=h.get("Content-Type"),
            body=body,
            body_len=length,
        )
        if out.drop:
            self._drop()
        else:
            self._send(out.status, out.body, out.headers)
        if self.server.access_log is not None:
            self._access("dropped" if out.drop else out.status, _sync_detail(out.entry))

    # --- control API --------------------------------------------------------------------------
    def _control(self, path: str) -> None:
        body, _ = self._read_body()
        if not _is_loopback(self.client_address[0]):
            self._error(403, p.TYPE_FORBIDDEN, "The control API answers loopback clients only")
            return
        parts = [unquote(s) for s in path[len(CONTROL_PREFIX) :].split("/") if s != ""]
        method = self.command
        state = self.server.state
        try:
            route, allowed = self._route(parts)
            if route is None:
                self._error(404, p.TYPE_NOT_FOUND, f"No route for {method} {path}")
                return
            if method not in allowed:
                self._error(
                    405,
                    p.TYPE_METHOD,
                    f"{method} is not allowed on {path}",
                    extra=[("Allow", ", ".join(allowed))],
                )
                return
            payload: Any = None
            if method == "POST":
                if body is None:
                    raise p.ProtocolError(413, p.TYPE_TOO_LARGE, "Control request too large")
                payload = {} if not body.strip() else p.require_body_object(p.decode_json(body))
            self._json(route(state, parts, method, payload))
        except p.ProtocolError as err:
            self._error(err.status, err.type, err.message, err.attribute)
        except KeyError as err:
            self._error(404, p.TYPE_NOT_FOUND, str(err.args[0]) if err.args else "Not found")
        except (ValueError, TypeError) as err:
            self._error(400, p.TYPE_INVALID, str(err))

    def _route(
        self, parts: list[str]
    ) -> tuple[Callable[[EmulatorState, list[str], str, Any], Any] | None, tuple[str, ...]]:
        n = len(parts)
        if n == 0:
            return _ctl_summary, ("GET",)
        head = parts[0]
        if head == "workspaces":
            if n == 1:
                return _ctl_workspaces, ("GET", "POST")
            if n == 2:
                return _ctl_workspace, ("GET", "DELETE")
            if n == 3 and parts[2] == "cohorts":
                return _ctl_cohorts, ("GET",)
            if n == 4 and parts[2] == "cohorts":
                return _ctl_cohort, ("GET",)
            if n == 5 and parts[2] == "cohorts" and parts[4] == "members":
                return _ctl_members, ("GET",)
        elif n == 1 and head == "requests":
            return self._ctl_requests, ("GET",)
        elif n == 1 and head == "reset":
            return _ctl_reset, ("POST",)
        elif n == 1 and head == "faults":
            return _ctl_faults, ("GET", "POST")
        return None, ()

    def _ctl_requests(self, state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
        query = parse_qs(urlsplit(self.path).query)
        ws = query.get("workspace", [None])[-1]
        raw_limit = query.get("limit", ["100"])[-1]
        try:
            limit = int(raw_limit)
        except ValueError:
            raise p.invalid("limit", "limit must be an integer") from None
        if limit < 0:
            raise p.invalid("limit", "limit must be >= 0")
        entries = state.request_log(ws, limit if limit > 0 else None)
        return {"requests": entries, "count": len(entries)}


def _ctl_summary(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    return {"emulator": "moecohort", "version": VERSION, **state.summary()}


_WORKSPACE_FIELDS = ("workspace_id", "api_key", "users", "requests_per_minute", "suspended")


def _ctl_workspaces(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    if method == "GET":
        return {"workspaces": state.workspaces()}
    unknown = sorted(set(body) - set(_WORKSPACE_FIELDS))
    if unknown:
        raise p.invalid(unknown[0], f"unknown attribute(s): {', '.join(unknown)}")
    for key in ("workspace_id", "api_key"):
        p.require(body, key)
    users = body.get("users") or []
    if not isinstance(users, list):
        raise p.invalid("users", "users must be a list of uid strings")
    ws = state.add_workspace(
        body["workspace_id"],
        body["api_key"],
        users,
        requests_per_minute=body.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE),
        suspended=body.get("suspended", False),
    )
    return {"status": "success", "workspace": ws}


def _ctl_workspace(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    if method == "DELETE":
        state.remove_workspace(parts[1])
        return {"status": "success"}
    return state.workspace(parts[1])


def _ctl_cohorts(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    return {"workspace_id": parts[1], "cohorts": state.cohorts(parts[1])}


def _ctl_cohort(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    return state.cohort(parts[1], parts[3])


def _ctl_members(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    info = state.cohort(parts[1], parts[3])
    members = sorted(state.cohort_members(parts[1], info["cohort_id"]))
    return {
        "workspace_id": parts[1],
        "cohort_id": info["cohort_id"],
        "name": info["name"],
        "count": len(members),
        "members": members,
    }


def _ctl_reset(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    flag = body.get("workspaces", False)
    if not isinstance(flag, bool):
        raise p.invalid("workspaces", "workspaces must be true or false")
    state.reset(workspaces=flag)
    return {"status": "success"}


def _ctl_faults(state: EmulatorState, parts: list[str], method: str, body: Any) -> Any:
    if method == "POST":
        state.set_faults(Faults.from_dict(body))
        return {"status": "success", "faults": state.faults.to_dict()}
    return {"faults": state.faults.to_dict()}


# --- the facade ---------------------------------------------------------------------------
class Emulator:
    """A local stand-in for the destination side of MoEngage's Cohort Sync API.

    A real HTTP server on a daemon thread, in the spirit of moto::

        with Emulator(seed=1) as emu:
            emu.add_workspace("WS1", "secret-key", users=["u1", "u2"])
            requests.post(emu.url + "/v1/integrations/cohortsync", ...)
            assert emu.cohort_members("WS1", "my cohort") == {"u1"}

    Args:
        host: interface to bind (loopback by default; the control API only ever
            answers loopback clients).
        port: TCP port; 0 lets the OS choose. A restarted emulator reuses the port it
            had, so clients configured with :attr:`url` reach it again.
        seed: seed of the fault-injection RNG (None: unpredictable).
        db: SQLite file keeping all state across restarts; None keeps it in memory.
        rate_limit: False disables per-workspace rate limits (for benchmarks);
            ``Faults.requests_per_minute`` still applies.
        faults: initial :class:`Faults`.
        max_cohorts: cohorts a workspace may hold (MoEngage: 1,000 active segments).
        log_limit: request-log entries kept in memory (None: unbounded).
        clock: monotonic clock (seconds) for rate windows; tests can pass a fake one.
        access_log: text stream for one line per request (None: silent).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        db: str | os.PathLike[str] | None = None,
        rate_limit: bool = True,
        faults: Faults | None = None,
        max_cohorts: int = DEFAULT_MAX_COHORTS,
        log_limit: int | None = DEFAULT_LOG_LIMIT,
        clock: Callable[[], float] | None = None,
        access_log: IO[str] | None = None,
    ) -> None:
        self._state = EmulatorState(
            seed=seed,
            db=db,
            rate_limit=rate_limit,
            faults=faults,
            max_cohorts=max_cohorts,
            log_limit=log_limit,
            clock=clock,
        )
        self._host = host
        self._port = port
        self._access_log = access_log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._wake: tuple[socket.socket, socket.socket] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind and serve on a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server((self._host, self._port), self._state, self._access_log)
        self._port = server.server_port
        self._server = server
        self._stop_event = threading.Event()
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve,
            args=(server, self._wake[0], self._stop_event),
            name=f"moecohort-emulator:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    @staticmethod
    def _serve(server: _Server, wake: socket.socket, stop: threading.Event) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(server, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in sel.select():
                    if key.fileobj is wake or stop.is_set():
                        return
                    server._handle_request_noblock()

    def stop(self) -> None:
        """Stop serving, free the port, close open connections and the SQLite file."""
        server, thread, wake = self._server, self._thread, self._wake
        if server is not None and thread is not None and wake is not None:
            self._stop_event.set()
            with contextlib.suppress(OSError):
                wake[1].send(b"x")
            thread.join(timeout=5)
            server.server_close()
            server.close_connections()
            for sock in wake:
                sock.close()
        self._server = self._thread = self._wake = None
        self._state.close()

    close = stop

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while serving."""
        return self._server is not None

    @property
    def host(self) -> str:
        """The interface the emulator binds to."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the requested one before the first start)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (append the Cohort Sync path)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use `with`")
        host = self._host
        if host in ("", "0.0.0.0"):  # noqa: S104 - only mapping a wildcard bind to a URL
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

    @property
    def endpoint(self) -> str:
        """Full Cohort Sync URL: ``url + "/v1/integrations/cohortsync"``."""
        return self.url + COHORT_SYNC_PATH

    @property
    def seed(self) -> int | None:
        """Seed of the fault RNG."""
        return self._state.seed

    @property
    def max_cohorts(self) -> int:
        """Cohorts a workspace may hold before new ones get a 400."""
        return self._state.max_cohorts

    @property
    def rate_limit(self) -> bool:
        """False when per-workspace rate limits are off."""
        return self._state.rate_limit

    @property
    def db(self) -> str | None:
        """Path of the SQLite file, or None for in-memory state."""
        return self._state.db_path

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<Emulator {where} workspaces={len(self._state.workspaces())}>"

    # --- workspaces ---------------------------------------------------------------------------
    def add_workspace(
        self,
        workspace_id: str,
        api_key: str,
        users: Iterable[str] = (),
        *,
        requests_per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE,
        suspended: bool | str = False,
    ) -> dict[str, Any]:
        """Register (or replace) a destination workspace.

        Args:
            workspace_id: the Basic-auth username and ``MOE-APPKEY`` value.
            api_key: the Data API key (Basic-auth password).
            users: uids that exist in the workspace; only these can join cohorts.
                Matching is exact (no trimming or case folding).
            requests_per_minute: rate limit (None: unlimited).
            suspended: True (403 "Account Suspended") or one of "Account Suspended",
                "Account Temporarily Suspended", "BlockedClient".

        Re-adding an existing workspace replaces its key, users and settings but keeps
        its cohorts and current rate window. Returns the workspace as
        :meth:`workspaces` shows it (the key only as a hint).
        """
        return self._state.add_workspace(
            workspace_id,
            api_key,
            users,
            requests_per_minute=requests_per_minute,
            suspended=suspended,
        )

    def remove_workspace(self, workspace_id: str) -> None:
        """Forget a workspace and its cohorts (KeyError if unknown)."""
        self._state.remove_workspace(workspace_id)

    def workspaces(self) -> list[dict[str, Any]]:
        """Registered workspaces: id, key hint, user/cohort counts, limit, suspension."""
        return self._state.workspaces()

    # --- cohorts ------------------------------------------------------------------------------
    def cohorts(self, workspace_id: str) -> list[dict[str, Any]]:
        """Cohorts of a workspace, oldest first.

        Each dict: ``cohort_id``, ``name``, ``description``, ``members`` (count),
        ``unmatched`` (count of distinct uids sent for adding that matched no user and
        were not removed since), ``created_at``, ``updated_at`` (ISO 8601 UTC),
        ``format`` (wire format last used: "partner" or "segment_sync"), ``partner``.
        Raises KeyError for an unknown workspace.
        """
        return self._state.cohorts(workspace_id)

    def cohort(self, workspace_id: str, cohort_id_or_name: str) -> dict[str, Any]:
        """One cohort, looked up by id first, then by name (as in :meth:`cohorts`)."""
        return self._state.cohort(workspace_id, cohort_id_or_name)

    def cohort_members(self, workspace_id: str, cohort_id_or_name: str) -> set[str]:
        """Matched members of a cohort (a copy). KeyError if not found; ValueError if a
        name is ambiguous."""
        return self._state.cohort_members(workspace_id, cohort_id_or_name)

    def cohort_unmatched(self, workspace_id: str, cohort_id_or_name: str) -> set[str]:
        """uids sent for adding to a cohort that matched no user (a copy)."""
        return self._state.cohort_unmatched(workspace_id, cohort_id_or_name)

    # --- log, reset, faults -------------------------------------------------------------------
    def request_log(
        self, ws: str | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Cohort Sync requests, oldest first (only the last ``limit`` if given).

        Each entry: ``seq``, ``time`` (ISO), ``ts`` (epoch), ``request_id``,
        ``workspace`` (the Basic-auth username, even when authentication failed),
        ``authenticated``, ``format``, ``action``, ``cohort_id``, ``cohort_name``,
        ``members`` (uids in the request), ``unmatched`` (of those, not workspace
        users), ``page`` (segment-sync pagination), ``body_bytes``, ``status`` (None
        when dropped before answering), ``error_type`` and ``fault`` (the injected
        fault, if any). Control-API calls are not logged.
        """
        return self._state.request_log(ws, limit)

    def reset(self, workspaces: bool = False) -> None:
        """Clear cohorts, the request log and rate windows, and re-seed the fault RNG.

        With ``workspaces=True`` also forget every workspace. Faults are kept.
        """
        self._state.reset(workspaces=workspaces)

    @property
    def faults(self) -> Faults:
        """The current fault settings."""
        return self._state.faults

    def set_faults(self, faults: Faults | None = None, /, **settings: Any) -> Faults:
        """Replace the fault settings: ``set_faults(Faults(...))``, ``set_faults(error_500=0.1)``,
        or ``set_faults()`` to clear them. Keywords given with a Faults override its fields."""
        if faults is None:
            new = Faults(**settings)
        else:
            new = Faults.from_dict({**faults.to_dict(), **settings})
        return self._state.set_faults(new)


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    db: str | os.PathLike[str] | None = None,
    samples_dir: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    quiet: bool = False,
    *,
    stop_event: threading.Event | None = None,
    out: IO[str] | None = None,
) -> None:
    """Run an emulator in the foreground until Ctrl-C (or until ``stop_event`` is set).

    Prints the URL, the control API and, with ``samples_dir``, the demo workspaces and
    their keys (see :func:`load_samples`). Unless ``quiet``, one line per request goes
    to stderr. ``out`` is where the banner goes (stdout by default).
    """
    from .samples import load_samples

    stream = out if out is not None else sys.stdout
    emu = Emulator(host=host, port=port, db=db, seed=seed, access_log=None if quiet else sys.stderr)
    emu.start()
    try:
        lines = [
            f"moecohort emulator listening on {emu.url}",
            f"  Cohort Sync endpoint: {emu.endpoint}",
            f"  control API:          {emu.url}{CONTROL_PREFIX}/",
            f"  state:                {emu.db or 'in memory'}",
        ]
        if samples_dir is not None:
            info = load_samples(emu, samples_dir)
            lines.append("  demo workspaces (from the sample CSVs):")
            for role, ws in info.items():
                lines.append(
                    f"    {role:<12} workspace_id={ws['workspace_id']}  "
                    f"api_key={ws['api_key']}  users={ws['users']}"
                )
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), file=stream, flush=True)
        event = stop_event if stop_event is not None else threading.Event()
        while not event.wait(0.25):
            pass
    except KeyboardInterrupt:
        print("\nstopping the emulator", file=stream, flush=True)
    finally:
        emu.stop()
