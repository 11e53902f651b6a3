"""Two processes, one workspace: the shared rate budget against MoEngage's real limit.

The emulator runs in its own process and limits one workspace to 300 requests a minute
(MoEngage's Cohort Sync limit, in its fixed 60 s window), adding 50 ms of latency. Two
more processes start together and push full bodies to that workspace with the default
settings (``requests_per_minute=300``, the shared budget on, in a temporary directory
both use). The table shows what the emulator saw: requests, 429s, the most requests in
any 60 s, and the rate of the two together as a fraction of 300. Target: zero 429s and
>= 95 % of the limit. The control runs the same two pushes with ``shared_budget=False``:
each process believes it owns the 300 a minute.

It takes real minutes (the rate limit is the real one): ``--bodies`` sets the requests
per process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from _emulator_proc import EmulatorProcess

from _common import markdown_table, write_section

KEY = "bench-budget-key-0001"
LIMIT = 300
ROOT = Path(__file__).resolve().parent.parent


def child(url: str, workspace: str, cohort: str, bodies: int, shared: bool, folder: Path) -> None:
    """One pushing process: build the bodies, say ready, wait for go, push, report."""
    import pandas as pd

    import moecohort as mc

    ids = [str(uuid.uuid4()) for _ in range(2_716 * bodies - 100)]  # full 36-character bodies
    frame = pd.DataFrame({"uid": ids})
    app = mc.AppCredentials(workspace, KEY, base_url=url)
    (folder / f"{cohort}.ready").touch()
    while not (folder / "go").exists():
        time.sleep(0.005)
    result = mc.push_cohort(frame, app, cohort, progress=False, shared_budget=shared)
    report = {"requests": result.requests, "retries": result.retries, "ok": result.ok}
    (folder / f"{cohort}.json").write_text(json.dumps(report))


def run_pair(emu: EmulatorProcess, workspace: str, bodies: int, shared: bool) -> list[object]:
    """Two processes push ``bodies`` full bodies each to ``workspace``; one table row."""
    emu.add_workspace(workspace, KEY, rpm=LIMIT)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = dict(os.environ, MOECOHORT_BUDGET_DIR=str(folder / "budget"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        cohorts = [f"{workspace} {i}" for i in (1, 2)]
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", emu.url, workspace, cohort, str(bodies)]
                + ([] if shared else ["--not-shared"])
                + ["--folder", str(folder)],
                env=env,
            )
            for cohort in cohorts
        ]
        while not all((folder / f"{c}.ready").exists() for c in cohorts):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a pushing process ended before it was ready")
            time.sleep(0.05)
        (folder / "go").touch()
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError("a pushing process failed")
        reports = [json.loads((folder / f"{c}.json").read_text()) for c in cohorts]
    log = sorted(emu.requests_log(workspace), key=lambda e: e["ts"])
    times = [e["ts"] for e in log]
    n429 = sum(1 for e in log if e["status"] == 429)
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span * 60
    by_cohort = [sum(1 for e in log if e["cohort_name"] == c) for c in cohorts]
    return [
        "shared budget" if shared else "control: not shared",
        len(log),
        n429,
        most_in(times, 60.0),
        f"{span:.1f} s",
        f"{rate:,.1f} ({rate / LIMIT:.1%})",
        " / ".join(str(n) for n in by_cohort),
        sum(r["retries"] for r in reports),
        "ok" if all(r["ok"] for r in reports) else "FAILED",
    ]


def most_in(times: list[float], width: float) -> int:
    """Most requests in any half-open window [t, t + width)."""
    best = j = 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bodies", type=int, default=450, help="requests per process")
    parser.add_argument("--control-bodies", type=int, default=200, help="0: no control run")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--child", nargs=4, metavar=("URL", "WORKSPACE", "COHORT", "BODIES"))
    parser.add_argument("--not-shared", action="store_true")
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        url, workspace, cohort, bodies = args.child
        child(url, workspace, cohort, int(bodies), not args.not_shared, args.folder)
        return

    with EmulatorProcess() as emu:
        requests.post(emu.url + "/_emulator/faults", json={"latency_s": args.latency}, timeout=5)
        rows = [run_pair(emu, "BUDGET-SHARED", args.bodies, shared=True)]
        if args.control_bodies:
            rows.append(run_pair(emu, "BUDGET-CONTROL", args.control_bodies, shared=False))
    table = markdown_table(
        [
            "run",
            "requests",
            "429s",
            "most in any 60 s",
            "first to last",
            "together req/min (of 300)",
            "per process",
            "retries",
            "pushes",
        ],
        rows,
    )
    notes = (
        f"Two processes push {args.bodies} full bodies each (36-character ids) to one "
        f"emulator workspace limited to {LIMIT} requests a minute, {args.latency * 1000:.0f} "
        "ms per request, both with the default settings (300 a minute, the shared budget "
        "on, in one temporary budget directory); they start together. Figures are the "
        "emulator's request log: rate = (requests - 1) / (last arrival - first arrival); "
        "'most in any 60 s' counts arrivals in any sliding 60 s (the emulator counts in fixed "
        "windows, so a client over the limit on a sliding minute may still see few 429s). "
        f"The control pushes {args.control_bodies} bodies each with shared_budget=False. "
        "Target: zero 429s and >= 95 % of the limit together."
    )
    write_section(
        "budget", "Two processes, one workspace: the shared rate budget", f"{notes}\n\n{table}"
    )


if __name__ == "__main__":
    main()
