"""Mirror sync of 1M ids with 1 % churn: what the second run costs.

The first run sends everyone; the second, after 0.5 % of the users left and 0.5 %
joined, sends only the difference. The emulator runs in its own process with no
rate limit, so the figures are the client's: spooling and diffing in SQLite,
packing, and sending.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from _emulator_proc import EmulatorProcess

from _common import markdown_table, write_section

KEY = "bench-sync-key-0001"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    args = parser.parse_args()

    import moecohort as mc

    n = args.users
    moved = int(n * args.churn / 2)
    pool = [str(uuid.uuid4()) for _ in range(n + moved)]
    first_set = pool[:n]
    second_set = pool[moved : n + moved]  # `moved` left, `moved` joined
    rows = []
    with EmulatorProcess() as emu, tempfile.TemporaryDirectory() as tmp:
        emu.add_workspace("BENCH-SYNC", KEY)
        app = mc.AppCredentials("BENCH-SYNC", KEY, base_url=emu.url)
        state = Path(tmp) / "state.sqlite"
        for label, members in (("first run", first_set), ("second run", second_set)):
            frame = pd.DataFrame({"uid": members})
            t0 = time.perf_counter()
            result = mc.sync_cohort(
                frame, app, "Bench mirror", state=state, requests_per_minute=10**6, progress=False
            )
            elapsed = time.perf_counter() - t0
            rows.append(
                [
                    label,
                    f"{len(members):,}",
                    f"{result.to_add:,}",
                    f"{result.to_remove:,}",
                    result.requests,
                    f"{elapsed:.2f} s",
                    "ok" if result.ok else "FAILED",
                ]
            )
    table = markdown_table(
        ["run", "desired ids", "adds", "removes", "requests", "time", "status"], rows
    )
    notes = (
        f"{n:,} ids (36 characters), {args.churn:.0%} churn between the runs; segment_sync "
        "bodies carry adds and removes together. Time is the whole sync_cohort call: "
        "reading the frame into SQLite, the diff against the known membership, packing and "
        "sending (emulator in another process, no rate limit)."
    )
    write_section("sync", "Mirror sync: the second run", f"{notes}\n\n{table}")


if __name__ == "__main__":
    main()
