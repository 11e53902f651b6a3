"""A 10-million-id push from a Parquet file, with bounded memory.

The push runs in a child process that reports its peak resident memory; the ids
are read in chunks, de-duplicated in SQLite on disk and packed piece by piece.
Target: peak memory under a quarter of what the whole id list takes as Python
strings (``sys.getsizeof`` of each string plus a list slot).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _emulator_proc import EmulatorProcess

from _common import CACHE, markdown_table, write_section

KEY = "bench-stream-key-0001"

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import moecohort as mc

    def hwm():
        # VmHWM: this process image's peak RSS (ru_maxrss would include the parent's
        # memory at fork time, which Linux carries across exec).
        try:
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    url, path = sys.argv[1], sys.argv[2]
    base = hwm()
    app = mc.AppCredentials("BENCH-STREAM", "%s", base_url=url)
    t0 = time.perf_counter()
    result = mc.push_cohort(path, app, "Streamed 10M", requests_per_minute=10**7, progress=False)
    elapsed = time.perf_counter() - t0
    peak = hwm()
    print(json.dumps({"base": base, "peak": peak, "elapsed": elapsed, "ok": result.ok,
                      "requests": result.requests, "accepted": result.members_accepted,
                      "rows": result.input_rows}))
    """
    % KEY
)


def ids_file(n: int) -> str:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"stream_ids_{n}.parquet"
    if not path.exists():
        rng = np.random.default_rng(10)
        hi, lo = rng.integers(0, 2**63, size=(2, n), dtype=np.int64)
        ids = [f"{a:016x}-{b:016x}-cohort" for a, b in zip(hi, lo, strict=True)]  # 40 chars
        pq.write_table(pa.table({"uid": pa.array(ids, pa.large_string())}), path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000_000)
    args = parser.parse_args()
    path = ids_file(args.users)
    sample = pq.read_table(path).column("uid").slice(0, 1000).to_pylist()
    per_id = float(np.mean([sys.getsizeof(s) for s in sample])) + 8  # + the list's pointer
    as_python = per_id * args.users / 2**20

    with EmulatorProcess() as emu:
        emu.add_workspace("BENCH-STREAM", KEY)
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, emu.url, path], capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t0
    report = json.loads(out.stdout.strip().splitlines()[-1])
    rows = [
        [
            f"{report['rows']:,}",
            f"{report['accepted']:,}",
            report["requests"],
            f"{report['elapsed']:.1f} s",
            f"{report['base']:,.0f} MiB",
            f"{report['peak']:,.0f} MiB",
            f"{report['peak'] - report['base']:,.0f} MiB",
            f"{as_python:,.0f} MiB",
            f"{report['peak'] / as_python:.1%}",
        ]
    ]
    table = markdown_table(
        [
            "ids",
            "accepted",
            "requests",
            "push time",
            "RSS after import",
            "peak RSS",
            "peak - import",
            "ids as Python strings",
            "peak / strings",
        ],
        rows,
    )
    notes = (
        f"push_cohort(path_to_parquet, ...) of {args.users:,} distinct 40-character ids, in a "
        "child process that reports its own peak RSS (VmHWM); the emulator runs in another "
        "process with no rate limit. 'ids as Python strings' is what a list of the ids would "
        f"take ({per_id:.0f} bytes per id). Target: peak under 25 % of it. Wall time including "
        f"start-up: {wall:.1f} s."
    )
    write_section("stream", "Streamed push of 10 million ids", f"{notes}\n\n{table}")


if __name__ == "__main__":
    main()
