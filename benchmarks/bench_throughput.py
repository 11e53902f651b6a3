"""Throughput against the API's bound, at the latency of a distant data center.

The emulator runs in its own process, adds 50 ms, 300 ms and 1 s of latency and
limits the workspace to R requests per minute (R scaled up from MoEngage's 300 so
a run takes seconds). moecohort pushes with ``requests_per_minute=R``; the table
shows the rate the emulator saw (between its first and last request) as a fraction
of R, the peak number in flight, and the 429s. Target: >= 95 % of R, zero 429s.
"""

from __future__ import annotations

import argparse
import uuid

import pandas as pd
import requests
from _emulator_proc import EmulatorProcess

from _common import markdown_table, write_section

KEY = "bench-throughput-key-0001"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rpm", type=float, default=900.0, help="R, requests per minute")
    parser.add_argument("--requests", type=int, default=600, help="bodies per run")
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.05, 0.3, 1.0])
    parser.add_argument(
        "--window-run",
        type=int,
        default=700,
        help="bodies of one more run, at R=600 and 50 ms, that crosses the emulator's 60 s "
        "rate window (0: skip)",
    )
    args = parser.parse_args()

    import moecohort as mc

    with EmulatorProcess() as emu:
        base = emu.url
        per_body = 2_716  # 36-character ids per full body
        runs = [(latency, args.rpm, args.requests) for latency in args.latencies]
        if args.window_run:
            runs.append((0.05, 600.0, args.window_run))
        rows = []
        for latency, rpm, n_requests in runs:
            ids = [str(uuid.uuid4()) for _ in range(per_body * n_requests - per_body // 2)]
            frame = pd.DataFrame({"uid": ids})
            ws = f"BENCH-{int(latency * 1000)}-{int(rpm)}"
            emu.add_workspace(ws, KEY, rpm=int(rpm))
            requests.post(base + "/_emulator/faults", json={"latency_s": latency}, timeout=5)
            app = mc.AppCredentials(ws, KEY, base_url=base)
            result = mc.push_cohort(
                frame, app, f"Throughput {latency}", requests_per_minute=rpm, progress=False
            )
            entries = emu.requests_log(ws)
            times = sorted(e["ts"] for e in entries)
            achieved = (len(times) - 1) / (times[-1] - times[0]) * 60 if len(times) > 1 else 0.0
            # Steady state: after the first request, which goes alone (a bad key costs one
            # request, not sixteen) and so delays the rest by one round trip.
            steady = (len(times) - 2) / (times[-1] - times[1]) * 60 if len(times) > 2 else 0.0
            n429 = sum(1 for e in entries if e["status"] == 429)
            rows.append(
                [
                    f"{latency * 1000:.0f} ms",
                    f"{rpm:,.0f}",
                    len(times),
                    f"{achieved:,.0f} ({achieved / rpm:.1%})",
                    f"{steady:,.0f} ({steady / rpm:.1%})",
                    n429,
                    result.requests,
                    "ok" if result.ok else "FAILED",
                ]
            )
    table = markdown_table(
        [
            "latency",
            "R (req/min)",
            "requests",
            "achieved req/min (of R)",
            "after the first request (of R)",
            "429s",
            "client attempts",
            "push",
        ],
        rows,
    )
    notes = (
        f"{args.requests} full bodies per run (the last run: {args.window_run}, long enough to "
        "cross the emulator's fixed 60 s rate window, where a client that bursts gets 429s); "
        "the emulator (a separate process) limits the workspace to R requests per minute and "
        "adds the latency to every "
        "request. Achieved rate = (requests - 1) / (last arrival - first arrival); the first "
        "request goes alone (so a wrong key costs one request), which delays the rest by one "
        "round trip: the next column leaves it out. The client keeps as many requests in "
        "flight as the latency needs (up to 16). Target: >= 95 % of R with zero 429s."
    )
    write_section("throughput", "Throughput against the rate limit", f"{notes}\n\n{table}")


if __name__ == "__main__":
    main()
