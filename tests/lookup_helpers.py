"""Helpers for the tests of looking users up (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import requests
from support import FakeClock

from moecohort.emulator import Emulator

WS = "DEST-LOOKUP"
KEY = "lookup-secret-key-7f3a9c"
#: What would carry the key on the wire (Basic auth) besides the key itself.
B64 = base64.b64encode(f"{WS}:{KEY}".encode()).decode()


@dataclass(frozen=True)
class Sent:
    """One HTTP attempt as the client made it."""

    at: float
    method: str
    url: str
    identifiers: int | None
    nbytes: int


class RecordingSession(requests.Session):
    """A ``requests.Session`` that records every attempt (time on ``clock``, identifiers in
    a Get User body, body size) before sending it."""

    def __init__(self, clock: Any) -> None:
        super().__init__()
        self.clock = clock
        self.sent: list[Sent] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        data = kwargs.get("data")
        identifiers = None
        if data and "/v1/customers/export" in url:
            identifiers = len(json.loads(data)["data"]["identifiers"])
        self.sent.append(Sent(self.clock(), method, url, identifiers, len(data or b"")))
        return super().request(method, url, *args, **kwargs)

    def lookups(self) -> list[Sent]:
        return [s for s in self.sent if s.identifiers is not None]


def busiest_window(sent: list[Sent], width: float = 60.0) -> tuple[int, int]:
    """The most attempts, and the most identifiers, that started in any half-open window
    ``[t, t + width)``, over every attempt (retries included)."""
    times = sorted(sent, key=lambda s: s.at)
    most_requests = most_ids = 0
    j = 0
    for i, first in enumerate(times):
        while j < len(times) and times[j].at < first.at + width:
            j += 1
        window = times[i:j]
        most_requests = max(most_requests, len(window))
        most_ids = max(most_ids, sum(s.identifiers or 0 for s in window))
    return most_requests, most_ids


def fake_emulator(clock: FakeClock, **kwargs: Any) -> Emulator:
    """An emulator (to start, or use with ``with``) whose rate windows run on ``clock``."""
    return Emulator(clock=clock, **kwargs)
