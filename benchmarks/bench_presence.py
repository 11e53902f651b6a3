"""Knowing what will land, at the Get User API's production limits.

1. A default ``estimate_presence`` (a sample of 400) of 1,000,000 ids, 65 % of them users of
   the destination: the wall time, from a DataFrame and from a Parquet file (streamed,
   spooled on disk). Target: under 40 s.
2. The lookup rate of ``lookup_users`` over a few minutes, as a share of the API's 1,000
   users a minute, with a short and a long answer time. Target: at least 95 %, no 429.

The emulator runs in its own process, with the production limit (1,000 users a minute per
workspace, fixed 60 s windows, ``x-ratelimit-*`` headers counted in users).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from _emulator_proc import EmulatorProcess

from _common import markdown_table, write_section

KEY = "bench-presence-key-0001"


class TimedSession(requests.Session):
    """Records when each Get User request leaves the client, and how many ids it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[float, int]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        data = kwargs.get("data")
        if isinstance(data, bytes) and "/v1/customers/export" in url:
            self.sent.append((time.time(), data.count(b'"identifier_type"')))
        return super().request(method, url, *args, **kwargs)


def busiest_minute(times: list[tuple[float, int]]) -> int:
    """Most ids in any half-open 60 s window ``[t, t + 60)`` of ``(time, ids)`` pairs."""
    times = sorted(times)
    return max(sum(n for t, n in times if start <= t < start + 60) for start, _ in times)


def add_workspace(emu: EmulatorProcess, workspace_id: str, users: list[str]) -> None:
    requests.post(
        emu.url + "/_emulator/workspaces",
        json={"workspace_id": workspace_id, "api_key": KEY, "users": users},
        timeout=600,
    ).raise_for_status()


def set_latency(emu: EmulatorProcess, seconds: float) -> None:
    requests.post(
        emu.url + "/_emulator/faults", json={"latency_s": seconds}, timeout=10
    ).raise_for_status()


def lookup_log(emu: EmulatorProcess, workspace_id: str) -> list[dict]:
    return [e for e in emu.requests_log(workspace_id) if e["endpoint"] == "get_user"]


def estimate_rows(emu: EmulatorProcess, n: int, share: float, tmp: Path) -> list[list[object]]:
    import moecohort as mc

    ids = [str(uuid.UUID(int=i)) for i in range(n)]
    known = ids[: int(n * share)]
    frame = pd.DataFrame({"uid": ids}).sample(frac=1.0, random_state=1, ignore_index=True)
    parquet = tmp / "ids.parquet"
    frame.to_parquet(parquet, index=False)
    truth = len(known) / n
    rows: list[list[object]] = []
    for label, data in (("DataFrame", frame), ("Parquet file (streamed)", str(parquet))):
        ws = f"BENCH-EST-{len(rows)}"
        add_workspace(emu, ws, known)
        app = mc.AppCredentials(ws, KEY, base_url=emu.url)
        t0 = time.perf_counter()
        est = mc.estimate_presence(data, app, seed=3, progress=False)
        wall = time.perf_counter() - t0
        log = lookup_log(emu, ws)
        rows.append(
            [
                label,
                f"{est.n_distinct:,}",
                f"{est.n_checked:,}",
                est.requests,
                f"{est.fraction:.1%} ({est.low:.1%} to {est.high:.1%})",
                f"{truth:.1%}",
                "yes" if est.low <= truth <= est.high else "no",
                f"{est.expected_members:,} ({est.expected_low:,} to {est.expected_high:,})",
                f"{wall:.1f} s",
                sum(1 for e in log if e["status"] == 429),
            ]
        )
    return rows


def rate_rows(emu: EmulatorProcess, n: int, latencies: list[float]) -> list[list[object]]:
    import moecohort as mc

    rows: list[list[object]] = []
    for latency in latencies:
        ws = f"BENCH-RATE-{len(rows)}"
        ids = [f"rate-{latency}-{i}" for i in range(n)]
        add_workspace(emu, ws, ids[::2])
        set_latency(emu, latency)
        app = mc.AppCredentials(ws, KEY, base_url=emu.url)
        session = TimedSession()
        t0 = time.perf_counter()
        result = mc.lookup_users(ids, app, progress=False, session=session)
        wall = time.perf_counter() - t0
        set_latency(emu, 0.0)
        log = [e for e in lookup_log(emu, ws) if e["status"] == 200]
        span = log[-1]["ts"] - log[0]["ts"]
        # Users a minute between the first and the last arrival (the last request's users
        # arrive at the end of the span, so they are not counted in it).
        steady = (sum(e["identifiers"] for e in log) - log[-1]["identifiers"]) / span * 60
        at_server = busiest_minute([(e["ts"], e["identifiers"]) for e in log])
        rows.append(
            [
                f"{latency * 1000:.0f} ms",
                f"{result.n_distinct:,}",
                result.requests,
                f"{steady:,.0f} ({steady / 1000:.1%})",
                f"{busiest_minute(session.sent):,} / {at_server:,}",
                f"{wall:.1f} s",
                sum(1 for e in lookup_log(emu, ws) if e["status"] == 429),
                max(e["identifiers"] for e in log),
                "ok" if result.ok else "FAILED",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--known", type=float, default=0.65)
    parser.add_argument("--rate-ids", type=int, default=2_400)
    args = parser.parse_args()

    with EmulatorProcess() as emu, tempfile.TemporaryDirectory() as tmp:
        estimates = estimate_rows(emu, args.ids, args.known, Path(tmp))
        rates = rate_rows(emu, args.rate_ids, [0.02, 1.5])
    estimate_table = markdown_table(
        [
            "input",
            "distinct ids",
            "checked",
            "requests",
            "fraction known (95 %)",
            "truth",
            "covered",
            "expected members",
            "wall time",
            "429s",
        ],
        estimates,
    )
    rate_table = markdown_table(
        [
            "answer time",
            "ids",
            "requests",
            "users/min, first to last arrival (of 1,000)",
            "most users in any 60 s: sent / arrived",
            "wall time",
            "429s",
            "most ids in a request",
            "lookup",
        ],
        rates,
    )
    body = (
        f"**Default estimate_presence of {args.ids:,} ids** (36 characters, "
        f"{args.known:.0%} of them users of the destination), the emulator at the production "
        "limit of 1,000 users a minute. The sample of 400 takes 20 requests 1.2 s apart; the "
        "wall time is the whole call: reading and de-duplicating the ids (for the Parquet "
        "file, spooling them into SQLite on disk), sampling, the lookups. Target: under 40 s."
        f"\n\n{estimate_table}\n\n"
        f"**Lookup rate**: lookup_users of {args.rate_ids:,} ids (half of them users), long "
        "enough to cross the emulator's fixed 60 s windows, with the emulator adding the answer "
        "time to every request. Every attempt counts against the 1,000 users a minute. The rate "
        "is measured between the first and the last arrival at the emulator (the users of the "
        "last request are not counted in it). The busiest 60 s is counted on the times the client "
        "sent the requests (its pacer's promise: never above 1,000) and on their arrival at the "
        "emulator, where a few milliseconds of jitter can bring a 51st request into a window "
        "that the client kept exactly 60 s apart. Target: at least 95 % of 1,000 users a "
        "minute, no 429."
        f"\n\n{rate_table}"
    )
    write_section("presence", "Knowing what will land: estimates and lookups", body)


if __name__ == "__main__":
    main()
