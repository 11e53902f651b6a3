"""The HTTP front end of the emulator: a threading HTTP/1.1 server and its request handler.

A stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive. Routes:

* ``POST /v1/integrations/cohortsync``: the Cohort Sync API (see :mod:`.cohortsync`).
* ``POST /v1/customers/export?app_id=...``: the Get User API (see :mod:`.lookups`).
* ``GET /v3/custom-segments[?name=...]`` and ``GET /v3/custom-segments/{id}``: the Custom
  Segments API v3, read side (see :mod:`.segments`); other methods get a 405 in that API's
  envelope.
* ``/_emulator/...``: inspection and control, JSON in and out, no authentication,
  answered only to loopback clients (see :mod:`.control`).
* anything else: 404 (unknown path) or 405 (known path, other method), in MoEngage's
  error envelope.

Every response carries ``x-request-id``. That header is an emulator convenience: the
real API only shows a ``request_id`` inside error bodies.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import socketserver
import sys
import threading
import traceback
import uuid
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import control
from . import protocol as p
from .cohortsync import handle_sync
from .common import EMULATOR_NAME, EMULATOR_VERSION
from .facts import (
    COHORT_SYNC_PATH,
    CUSTOM_SEGMENTS_PATH,
    GET_USER_APP_ID_PARAM,
    GET_USER_PATH,
    HEADER_APPKEY,
    HEADER_PARTNER,
)
from .gateway import ENDPOINT_COHORTSYNC, ENDPOINT_GET_USER, Outcome
from .lookups import handle_lookup
from .segments import error_body as segments_error_body
from .segments import handle_segments
from .state import EmulatorState

__all__ = ["HARD_BODY_CAP", "BadRequest", "EmulatorHTTPServer", "Handler", "access_detail"]

#: Bodies longer than this are not read at all: the emulator answers (413 once
#: authenticated) and closes the connection.
HARD_BODY_CAP = 32 * 1024 * 1024


class BadRequest(Exception):
    """The HTTP framing itself is broken (bad Content-Length, bad chunk)."""


def dumps(obj: Any) -> bytes:
    """Compact ASCII JSON, as every emulator response body is."""
    return json.dumps(obj, separators=(",", ":")).encode("ascii")


def access_detail(entry: dict[str, Any]) -> str:
    """The access-log detail of one API request, from its log entry (never a key)."""
    endpoint = entry.get("endpoint")
    if endpoint == ENDPOINT_COHORTSYNC:
        what: tuple[Any, ...] = (
            entry.get("action") or "-",
            f"cohort={entry.get('cohort_id') or '-'}",
            f"members={entry.get('members', 0)}",
        )
    elif endpoint == ENDPOINT_GET_USER:
        what = (
            "get_user",
            f"identifiers={entry.get('identifiers', 0)}",
            f"found={entry.get('found', 0)}",
        )
    else:
        what = (f"segments_{entry.get('format')}", f"results={entry.get('results', 0)}")
    return " ".join(
        str(part)
        for part in (
            entry.get("workspace") or "-",
            *what,
            entry.get("error_type"),
            entry.get("fault"),
            f"req={entry.get('request_id')}",
        )
        if part
    )


class EmulatorHTTPServer(ThreadingHTTPServer):
    """The listening socket: one handler thread per connection, all sharing one state."""

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
        self._busy = 0  # requests being handled (read, applied, answered)
        self._busy_cond = threading.Condition()
        super().__init__(address, Handler)

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

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count a request as being handled until its answer is written (or it failed)."""
        with self._busy_cond:
            self._busy += 1
        try:
            yield
        finally:
            with self._busy_cond:
                self._busy -= 1
                self._busy_cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no request is being handled; False if ``timeout`` passed first."""
        with self._busy_cond:
            return self._busy_cond.wait_for(lambda: self._busy == 0, timeout=timeout)

    def close_connections(self, timeout: float = 2.0) -> None:
        """Shut every open connection down and wait (briefly) for their handlers."""
        with self._conns_cond:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._conns_cond.wait_for(lambda: not self._conns, timeout=timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, BadRequest)):
            return  # the client went away, or we closed it on purpose
        traceback.print_exc(file=sys.stderr)

    def serve_until(self, wake: socket.socket, stop: threading.Event) -> None:
        """Handle requests until ``stop`` is set; a byte sent to ``wake`` interrupts the wait."""
        with selectors.DefaultSelector() as sel:
            sel.register(self, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in sel.select():
                    if key.fileobj is wake or stop.is_set():
                        return
                    self.accept_one()

    def accept_one(self) -> None:
        """Accept one waiting connection and hand it to a handler thread.

        What ``socketserver`` does after its own select, written with public methods only.
        """
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        if not self.verify_request(request, client_address):
            self.shutdown_request(request)
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)
        except BaseException:
            self.shutdown_request(request)
            raise

    def write_access(self, line: str) -> None:
        if self.access_log is None:
            return
        with self._log_lock:
            try:
                self.access_log.write(line + "\n")
                self.access_log.flush()
            except (OSError, ValueError):
                pass


class Handler(BaseHTTPRequestHandler):
    """One connection: Cohort Sync requests go to the state, ``/_emulator`` ones to
    :func:`.control.handle` (its docstring lists the control routes)."""

    protocol_version = "HTTP/1.1"
    server_version = f"{EMULATOR_NAME}/{EMULATOR_VERSION}"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120
    server: EmulatorHTTPServer

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
            raise BadRequest("invalid Content-Length") from None
        if length < 0:
            raise BadRequest("invalid Content-Length")
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
                raise BadRequest("invalid chunk size") from None
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
        self._send(status, dumps(obj), [("x-request-id", uuid.uuid4().hex)])
        self._access(status)

    # --- dispatch -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        try:
            with self.server.busy():
                self._dispatch()
        except BadRequest as exc:
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
        url = urlsplit(self.path)
        path = url.path
        if path in (COHORT_SYNC_PATH, GET_USER_PATH):
            if self.command != "POST":
                self._read_body()
                self._error(
                    405,
                    p.TYPE_METHOD,
                    f"{self.command} is not allowed on {path}",
                    extra=[("Allow", "POST")],
                )
            elif path == COHORT_SYNC_PATH:
                self._cohortsync()
            else:
                self._lookup(url.query)
        elif path == CUSTOM_SEGMENTS_PATH or _segment_id(path) is not None:
            self._segments(path, url.query)
        elif path == control.CONTROL_PREFIX or path.startswith(control.CONTROL_PREFIX + "/"):
            self._control(path)
        else:
            self._read_body()
            self._error(404, p.TYPE_NOT_FOUND, f"No route for {self.command} {path}")

    def _cohortsync(self) -> None:
        body, length = self._read_body()
        h = self.headers
        self._answer(
            handle_sync(
                self.server.state,
                authorization=h.get("Authorization"),
                appkey=h.get(HEADER_APPKEY),
                partner=h.get(HEADER_PARTNER),
                content_type=h.get("Content-Type"),
                body=body,
                body_len=length,
            )
        )

    def _lookup(self, query: str) -> None:
        body, length = self._read_body()
        app_ids = parse_qs(query, keep_blank_values=True).get(GET_USER_APP_ID_PARAM)
        self._answer(
            handle_lookup(
                self.server.state,
                authorization=self.headers.get("Authorization"),
                app_id=app_ids[-1] if app_ids else None,
                content_type=self.headers.get("Content-Type"),
                body=body,
                body_len=length,
            )
        )

    def _segments(self, path: str, query: str) -> None:
        self._read_body()
        if self.command != "GET":
            rid = uuid.uuid4().hex
            message = f"{self.command} is not allowed on {path}"
            body = segments_error_body(405, message, rid)
            self._send(405, body, [("x-request-id", rid), ("Allow", "GET")])
            self._access(405, p.TYPE_METHOD)
            return
        self._answer(
            handle_segments(
                self.server.state,
                segment_id=_segment_id(path),
                query=query,
                authorization=self.headers.get("Authorization"),
                appkey=self.headers.get(HEADER_APPKEY),
            )
        )

    def _answer(self, out: Outcome) -> None:
        """Send (or drop) a pipeline's outcome and write the access-log line."""
        if out.drop:
            self._drop()
        else:
            self._send(out.status, out.body, out.headers)
        if self.server.access_log is not None:
            self._access("dropped" if out.drop else out.status, access_detail(out.entry))

    def _control(self, path: str) -> None:
        body, _ = self._read_body()
        reply = control.handle(
            self.server.state,
            method=self.command,
            path=path,
            query=urlsplit(self.path).query,
            body=body,
            client_host=self.client_address[0],
        )
        if reply.error is not None:
            err = reply.error
            self._error(err.status, err.type, err.message, err.attribute, extra=reply.headers)
        else:
            self._json(reply.result)


def _segment_id(path: str) -> str | None:
    """The percent-decoded ``{id}`` of ``/v3/custom-segments/{id}``, else None."""
    prefix = CUSTOM_SEGMENTS_PATH + "/"
    if not path.startswith(prefix):
        return None
    raw = path[len(prefix) :]
    if not raw or "/" in raw:
        return None
    return unquote(raw)
