"""The :class:`Emulator` facade and :func:`serve`, the foreground server of ``moecohort emulator``.

The HTTP front end is in :mod:`.handler`, the control API in :mod:`.control`, the state in
:mod:`.state`, the API pipelines in :mod:`.cohortsync`, :mod:`.lookups` and :mod:`.segments`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from .control import CONTROL_PREFIX
from .facts import (
    COHORT_SYNC_PATH,
    CUSTOM_SEGMENTS_PATH,
    GET_USER_PATH,
    LOOKUPS_PER_MINUTE,
    REQUESTS_PER_MINUTE,
)
from .faults import Faults
from .handler import EmulatorHTTPServer
from .model import DEFAULT_SEGMENT_SOURCE, DEFAULT_SEGMENT_TYPE
from .samples import load_samples
from .state import DEFAULT_LOG_LIMIT, DEFAULT_MAX_COHORTS, EmulatorState
from .users import UsersArg

__all__ = ["Emulator", "serve"]


class Emulator:
    """A local stand-in for MoEngage's Cohort Sync API, the Get User API and the Custom
    Segments API v3 (read side), as a destination app answers them.

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
        max_cohorts: segments of all kinds a workspace may hold, cohorts included
            (MoEngage: 1,000 active segments).
        log_limit: request-log entries kept in memory (None: unbounded).
        clock: monotonic clock (seconds) for every rate window; tests can pass a fake one.
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
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._wake: tuple[socket.socket, socket.socket] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind and serve on a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = EmulatorHTTPServer((self._host, self._port), self._state, self._access_log)
        self._port = server.server_port
        self._server = server
        self._stop_event = threading.Event()
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=server.serve_until,
            args=(self._wake[0], self._stop_event),
            name=f"moecohort-emulator:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

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
    def lookup_endpoint(self) -> str:
        """Get User API URL without the query: ``url + "/v1/customers/export"``."""
        return self.url + GET_USER_PATH

    @property
    def segments_endpoint(self) -> str:
        """Custom Segments API URL: ``url + "/v3/custom-segments"``."""
        return self.url + CUSTOM_SEGMENTS_PATH

    @property
    def max_cohorts(self) -> int:
        """Segments of all kinds a workspace may hold; a new cohort beyond gets a 400."""
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
        users: UsersArg = (),
        *,
        requests_per_minute: int | None = REQUESTS_PER_MINUTE,
        suspended: bool | str = False,
        lookups: bool = True,
        lookups_per_minute: int | None = LOOKUPS_PER_MINUTE,
    ) -> dict[str, Any]:
        """Register (or replace) a destination workspace.

        Args:
            workspace_id: the Basic-auth username, ``MOE-APPKEY`` and ``app_id`` value.
            api_key: the Data API key (Basic-auth password).
            users: the users that exist in the workspace; only these can join cohorts or be
                looked up. Matching is exact (no trimming or case folding). An iterable of
                uids, a mapping ``uid -> {attribute: value}``, or a list of uids and dicts
                with the uid under ``customer_id`` (see :mod:`moecohort.emulator.users`).
                An ``id`` attribute is MoEngage's internal id; without one each user gets a
                stable 24-hex-digit id derived from the workspace and the uid.
            requests_per_minute: Cohort Sync rate limit (None: unlimited).
            suspended: True (403 "Account Suspended") or one of "Account Suspended",
                "Account Temporarily Suspended", "BlockedClient".
            lookups: False: the Get User API is not enabled for the workspace (403).
            lookups_per_minute: Get User API limit in users (identifiers) a minute
                (None: unlimited).

        Re-adding an existing workspace replaces its key, users and settings but keeps
        its cohorts, segments and current rate windows. Returns the workspace as
        :meth:`workspaces` shows it (the key only as a hint).
        """
        return self._state.add_workspace(
            workspace_id,
            api_key,
            users,
            requests_per_minute=requests_per_minute,
            suspended=suspended,
            lookups=lookups,
            lookups_per_minute=lookups_per_minute,
        )

    def remove_workspace(self, workspace_id: str) -> None:
        """Forget a workspace and its cohorts (KeyError if unknown)."""
        self._state.remove_workspace(workspace_id)

    def workspaces(self) -> list[dict[str, Any]]:
        """Registered workspaces: id, key hint, user/cohort/segment counts, limits,
        suspension, whether lookups are enabled."""
        return self._state.workspaces()

    # --- users --------------------------------------------------------------------------------
    def users(self, workspace_id: str) -> list[dict[str, Any]]:
        """Every user of a workspace as the Get User API shows it (``customer_id``, ``id``,
        then the attributes), in registration order. KeyError for an unknown workspace."""
        return self._state.users(workspace_id)

    def user(self, workspace_id: str, uid: str) -> dict[str, Any]:
        """One user, as in :meth:`users`. KeyError if the workspace or the user is unknown."""
        return self._state.user(workspace_id, uid)

    # --- segments -----------------------------------------------------------------------------
    def add_segment(
        self,
        workspace_id: str,
        name: str,
        *,
        type: str = DEFAULT_SEGMENT_TYPE,  # noqa: A002 - the API's own field name
        source: str = DEFAULT_SEGMENT_SOURCE,
        id: str | None = None,  # noqa: A002 - the API's own field name
        created_time: str | float | None = None,
    ) -> dict[str, Any]:
        """Register a segment made on the dashboard (``source="DASHBOARD"``) or through the
        File Segment API (``"FILE"``, or ``"API"``), as the Custom Segments API lists it.

        The Cohort Sync endpoint then refuses (400) a cohort with the same name. ``type``
        defaults to the value MoEngage's example shows; the ``source`` spellings are the
        emulator's own. ``id`` defaults to 24 hex digits derived from the workspace and the
        name; ``created_time`` (ISO 8601 or epoch seconds, default now) is shown in UTC
        without a zone. ValueError for a name or id the workspace already has, or beyond
        ``max_cohorts`` segments of all kinds ("Total active segments limit breached").
        Returns the segment as the API shows it.
        """
        return self._state.add_segment(
            workspace_id,
            name,
            type_=type,
            source=source,
            segment_id=id,
            created_time=created_time,
        )

    def segments(self, workspace_id: str) -> list[dict[str, Any]]:
        """Every segment of a workspace as ``GET /v3/custom-segments`` lists it, oldest
        first: the cohorts the Cohort Sync endpoint created (``type`` "COHORT_SYNC",
        ``source`` "COHORT_SYNC_API": not documented, the emulator's own values) and the
        registered ones. Each: ``name``, ``id``, ``created_time``, ``type``, ``source``."""
        return self._state.segments(workspace_id)

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
    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Wait until no request is being handled (every request received has been applied
        and answered, or dropped): what a test reads after a client died mid-request.
        Returns False if ``timeout`` seconds passed first."""
        server = self._server
        return True if server is None else server.wait_idle(timeout)

    def request_log(
        self, ws: str | None = None, *, limit: int | None = None, endpoint: str | None = None
    ) -> list[dict[str, Any]]:
        """API requests, oldest first (only the last ``limit`` if given; only those of
        ``endpoint`` if given: ``"cohortsync"``, ``"get_user"`` or ``"custom_segments"``).

        Every entry: ``seq``, ``time`` (ISO), ``ts`` (epoch), ``request_id``,
        ``workspace`` (the Basic-auth username, even when authentication failed),
        ``authenticated``, ``endpoint``, ``format``, ``status`` (None when dropped before
        answering), ``error_type`` and ``fault`` (the injected fault, if any).

        Cohort Sync (``format`` "partner" or "segment_sync") adds ``action``,
        ``cohort_id``, ``cohort_name``, ``members`` (uids in the request), ``unmatched``
        (of those, not workspace users), ``page`` (segment-sync pagination),
        ``body_bytes``. The Get User API (``format`` "export_users") adds
        ``identifiers`` (as sent), ``found`` (users answered), ``not_found`` (identifiers
        that named nobody) and ``body_bytes``. The Custom Segments API (``format`` "list"
        or "get") adds ``name``, ``segment_id`` and ``results``. Control-API calls are
        not logged.
        """
        return self._state.request_log(ws, limit, endpoint)

    def reset(self, workspaces: bool = False) -> None:
        """Clear cohorts, registered segments, the request log and rate windows, and
        re-seed the fault RNG. Users stay with their workspaces.

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
    faults: Faults | None = None,
) -> None:
    """Run an emulator in the foreground until Ctrl-C (or until ``stop_event`` is set).

    Prints the URL, the control API and, with ``samples_dir``, the demo workspaces and
    their keys (see :func:`load_samples`). Unless ``quiet``, one line per request goes
    to stderr. ``out`` is where the banner goes (stdout by default). ``faults``: the
    initial :class:`Faults` (as ``Emulator(faults=...)``).
    """
    stream = out if out is not None else sys.stdout
    emu = Emulator(
        host=host,
        port=port,
        db=db,
        seed=seed,
        access_log=None if quiet else sys.stderr,
        faults=faults,
    )
    emu.start()
    try:
        lines = [
            f"moecohort emulator listening on {emu.url}",
            f"  Cohort Sync endpoint: {emu.endpoint}",
            f"  Get User API:         {emu.lookup_endpoint}?app_id=<workspace_id>",
            f"  Custom Segments API:  {emu.segments_endpoint}",
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
