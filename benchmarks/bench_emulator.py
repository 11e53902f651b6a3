"""Throughput of the Cohort Sync emulator (moecohort.emulator).

Several client threads, each with its own keep-alive ``requests.Session``, post small
``add_members`` requests (10 uids each) to one emulator with rate limiting off, and the
script prints requests per second and latency percentiles per configuration::

    .venv/bin/python benchmarks/bench_emulator.py            # default table
    .venv/bin/python benchmarks/bench_emulator.py --requests 4000 --threads 1 4 8 --sqlite

Client and server share the machine (and the GIL), so the figures are a floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from moecohort._constants import COHORT_SYNC_PATH, HEADER_APPKEY
from moecohort.emulator import Emulator

from _common import write_section

WORKSPACE = "BENCH-WS"
API_KEY = "bench-key-0000000001"
USERS = [f"user-{i:06d}" for i in range(20_000)]
MEMBERS_PER_REQUEST = 10


@dataclass
class Result:
    """One benchmark row."""

    label: str
    threads: int
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))] if data else 0.0


def _payload(n: int) -> dict[str, object]:
    start = (n * MEMBERS_PER_REQUEST) % (len(USERS) - MEMBERS_PER_REQUEST)
    members = [{"uid": uid} for uid in USERS[start : start + MEMBERS_PER_REQUEST]]
    return {
        "action": "add_members",
        "partner": "bench",
        "parameters": {
            "cohort_name": f"bench cohort {n % 20}",
            "cohort_id": f"bench-{n % 20}",
            "members": members,
        },
    }


def run(label: str, threads: int, total: int, db: str | None = None) -> Result:
    """Post ``total`` requests from ``threads`` keep-alive sessions; time them."""
    with Emulator(rate_limit=False, db=db, log_limit=10_000) as emu:
        emu.add_workspace(WORKSPACE, API_KEY, USERS)
        url = emu.url + COHORT_SYNC_PATH
        per_thread = total // threads
        latencies: list[list[float]] = [[] for _ in range(threads)]
        errors: list[str] = []
        barrier = threading.Barrier(threads + 1)

        def worker(i: int) -> None:
            with requests.Session() as s:
                s.auth = (WORKSPACE, API_KEY)
                s.headers[HEADER_APPKEY] = WORKSPACE
                s.post(url, json=_payload(0)).raise_for_status()  # warm the connection
                bodies = [_payload(i * per_thread + k) for k in range(per_thread)]
                barrier.wait()
                out = latencies[i]
                for body in bodies:
                    t0 = time.perf_counter()
                    r = s.post(url, json=body)
                    out.append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in pool:
            t.join()
        seconds = time.perf_counter() - t0
        if errors:
            raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    flat = [x for part in latencies for x in part]
    return Result(label, threads, per_thread * threads, seconds, flat)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per row")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--sqlite", action="store_true", help="add rows with a SQLite file")
    args = parser.parse_args(argv)

    rows: list[Result] = []
    for n in args.threads:
        rows.append(run("memory", n, args.requests))
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.threads:
                db = str(Path(tmp) / f"bench-{n}.sqlite")
                rows.append(run("sqlite", n, args.requests, db=db))

    lines = [
        "| state | client threads | requests | seconds | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.label} | {r.threads} | {r.requests} | {r.seconds:.2f} | {r.rps:,.0f} "
            f"| {r.pct(0.5):.2f} | {r.pct(0.99):.2f} |"
        )
    best = max(r.rps for r in rows)
    mean = statistics.fmean(rows[0].latencies_ms)
    notes = (
        f"Small add_members requests ({MEMBERS_PER_REQUEST} uids each) from client threads "
        "with keep-alive sessions, rate limiting off; client and server share the process "
        "(and the GIL), so these figures are a floor. Target: >= 500 requests/s. "
        f"Best: {best:,.0f} req/s; mean latency {mean:.2f} ms with {rows[0].threads} thread(s)."
    )
    write_section("emulator", "Emulator throughput", notes + "\n\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
