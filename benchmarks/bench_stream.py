"""Streamed input against the same input read into pandas first, and a 10-million-id push.

1. **Speed.** For N distinct 36-character ids (UUID text) plus 1 % repeats, shuffled, in a
   Parquet and a CSV file: ``push_cohort(path, None, name, dry_run=True)`` (streamed: read
   chunk by chunk, de-duplicated on disk, planned piece by piece) against reading the file
   into pandas (``pd.read_parquet`` / ``pd.read_csv(..., dtype=str)``) and planning the
   frame (in memory). Every run is a fresh child process that times only the call (the
   imports come first), the two ways alternate, and the best of ``--repeat`` runs counts;
   the child reports its peak RSS too. Target: streamed at most 1.5x in memory.
2. **Memory and the first request.** ``push_cohort(path_to_parquet, ...)`` of 10 million
   ids to the emulator (another process, no rate limit), in a child process that reports
   its peak RSS (VmHWM) and when it started: the time to the first request is the
   emulator's arrival time of the first request minus that start. Target: peak under a
   quarter of what the ids take as Python strings (``sys.getsizeof`` of each plus a list
   slot).

``--before DIR`` also measures the streamed push of another copy of the package (for
example ``git archive <commit> moecohort | tar -x -C DIR``), to compare with an earlier
version in the same run::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_stream.py                # 1M and 10M
    PYTHONPATH=. .venv/bin/python benchmarks/bench_stream.py --sizes 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from _emulator_proc import EmulatorProcess
from bench_overlap import uuids

from _common import CACHE, markdown_table, write_section

KEY = "bench-stream-key-0001"
DATA_VERSION = 1

HWM = """
def hwm():
    # VmHWM: this process image's peak RSS (ru_maxrss would include the parent's
    # memory at fork time, which Linux carries across exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
"""

RUN = (
    textwrap.dedent(
        """
    import json, resource, sys, time
    import pandas as pd
    import pyarrow.parquet
    import moecohort as mc
    import moecohort.push
    %s
    def cpu():
        used = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
        return used.ru_utime + used.ru_stime
    way, path = sys.argv[1], sys.argv[2]
    cpu_start, start = cpu(), time.perf_counter()
    if way == "memory":
        if path.endswith(".parquet"):
            data = pd.read_parquet(path, columns=["uid"])
        else:
            data = pd.read_csv(path, usecols=["uid"], dtype={"uid": str})
    else:
        data = path
    result = mc.push_cohort(data, None, "Bench", dry_run=True, progress=False)
    elapsed = time.perf_counter() - start
    print(json.dumps({"elapsed": elapsed, "cpu": cpu() - cpu_start, "peak": hwm(),
                      "planned": result.members_planned,
                      "requests": len(result.plan), "rows": result.input_rows,
                      "module": mc.__file__}))
    """
    )
    % HWM
)

PUSH = textwrap.dedent(
    """
    import json, sys, time
    import pandas, pyarrow.parquet
    import moecohort as mc
    import moecohort.push
    %s
    url, path = sys.argv[1], sys.argv[2]
    base = hwm()
    app = mc.AppCredentials("BENCH-STREAM", "%s", base_url=url)
    wall, start = time.time(), time.perf_counter()
    result = mc.push_cohort(path, app, "Streamed 10M", requests_per_minute=10**7, progress=False)
    elapsed = time.perf_counter() - start
    print(json.dumps({"base": base, "peak": hwm(), "elapsed": elapsed, "wall": wall,
                      "ok": result.ok, "requests": result.requests,
                      "accepted": result.members_accepted, "rows": result.input_rows,
                      "module": mc.__file__}))
    """
) % (HWM, KEY)


# --------------------------------------------------------------------------- data
def data_files(n: int) -> dict[str, Path]:
    """Parquet and CSV files of ``n`` distinct ids plus n / 100 repeats, shuffled (cached)."""
    paths = {fmt: CACHE / f"stream-{n}-v{DATA_VERSION}.{fmt}" for fmt in ("parquet", "csv")}
    if all(p.exists() for p in paths.values()):
        return paths
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    distinct = uuids(rng, n)
    repeats = distinct.take(pa.array(rng.integers(0, n, n // 100)))
    rows = pa.concat_arrays([distinct, repeats])
    table = pa.table({"uid": rows.take(pa.array(rng.permutation(len(rows))))})
    for fmt, path in paths.items():
        tmp = path.with_suffix(".tmp")
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pcsv.write_csv(table, tmp)
        tmp.replace(path)
    return paths


# --------------------------------------------------------------------------- runs
def _child(code: str, args: list[str], package: Path | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; with ``package``, its moecohort comes first
    (``python -c`` puts the working folder first on the path: run there)."""
    env = dict(os.environ)
    if package is not None:
        env["PYTHONPATH"] = str(package)
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=package,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "child failed")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if package is not None and not report["module"].startswith(str(package.resolve())):
        raise RuntimeError(f"the child imported {report['module']}, not the one in {package}")
    return report


def speed(n: int, repeat: int, before: Path | None) -> list[dict[str, Any]]:
    """Best of ``repeat`` runs of each way, for both formats, the ways alternating."""
    rows = []
    for fmt, path in data_files(n).items():
        ways = ["memory", "streamed"] + (["before"] if before else [])
        runs: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
        for _ in range(repeat):
            for way in ways:
                package = before if way == "before" else None
                kind = "streamed" if way == "before" else way
                runs[way].append(_child(RUN, [kind, str(path)], package))
                print(f"  {n:,} {fmt} {way}: {runs[way][-1]['elapsed']:.2f} s", file=sys.stderr)
        best = {way: min(runs[way], key=lambda r: r["elapsed"]) for way in ways}
        assert best["memory"]["requests"] == best["streamed"]["requests"]
        rows.append({"n": n, "format": fmt, **best})
    return rows


def ids_as_python_mib(path: Path, n: int) -> tuple[float, float]:
    """MiB the ``n`` ids would take as a list of Python strings, and bytes per id."""
    sample = pq.read_table(path).column("uid").slice(0, 1000).to_pylist()
    per_id = float(np.mean([sys.getsizeof(s) for s in sample])) + 8  # + the list's pointer
    return per_id * n / 2**20, per_id


def push(n: int, before: Path | None) -> list[dict[str, Any]]:
    """The push of ``n`` ids from Parquet to the emulator (and with ``before``'s package)."""
    path = data_files(n)["parquet"]
    out = []
    for label, package in [("now", None)] + ([("before", before)] if before else []):
        with EmulatorProcess() as emu:
            emu.add_workspace("BENCH-STREAM", KEY)
            report = _child(PUSH, [emu.url, str(path)], package)
            log = emu.requests_log("BENCH-STREAM")
        first = min(entry["ts"] for entry in log) - report["wall"]
        out.append({"label": label, "first_request": first, **report})
        took = f"{report['elapsed']:.1f} s, first request {first:.1f} s"
        print(f"  push {label}: {took}", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- report
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, help="runs per way; default 3 (2 from 5M ids)")
    parser.add_argument("--push-size", type=int, default=10_000_000, help="0: no push")
    parser.add_argument("--before", type=Path, help="a folder holding an earlier moecohort/")
    parser.add_argument(
        "--before-sizes", type=int, nargs="+", help="sizes to measure --before at (default: all)"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not update results.md")
    args = parser.parse_args()

    speed_rows: list[dict[str, Any]] = []
    counts = []
    for n in args.sizes:
        repeat = args.repeat or (3 if n < 5_000_000 else 2)
        counts.append(f"{repeat} runs at {n:,} ids")
        before = args.before if not args.before_sizes or n in args.before_sizes else None
        speed_rows += speed(n, repeat, before)
    repeats = ", ".join(counts)
    pushes = push(args.push_size, args.before) if args.push_size else []

    headers = ["distinct ids", "rows", "format", "in memory (read + plan)", "streamed"]
    headers += ["streamed / in memory", "CPU: in memory", "CPU: streamed", "CPU ratio"]
    headers += ["peak RSS in memory", "peak RSS streamed"]
    if args.before:
        headers += ["streamed before", "before / in memory"]
    table = []
    for r in speed_rows:
        mem, st = r["memory"], r["streamed"]
        row: list[object] = [r["n"], mem["rows"], r["format"], f"{mem['elapsed']:.2f} s"]
        row += [f"{st['elapsed']:.2f} s", f"{st['elapsed'] / mem['elapsed']:.2f}x"]
        row += [f"{mem['cpu']:.2f} s", f"{st['cpu']:.2f} s", f"{st['cpu'] / mem['cpu']:.2f}x"]
        row += [f"{mem['peak']:,.0f} MiB", f"{st['peak']:,.0f} MiB"]
        if args.before:
            old = r.get("before")
            row += (
                [f"{old['elapsed']:.2f} s", f"{old['elapsed'] / mem['elapsed']:.2f}x"]
                if old
                else ["-", "-"]
            )
        table.append(row)
    body = (
        "N distinct 36-character ids (UUID text) plus N / 100 repeats, shuffled. In memory: "
        "the file read into pandas (`pd.read_parquet`, `pd.read_csv(..., dtype=str)`), then "
        "`push_cohort(frame, None, name, dry_run=True)`; streamed: `push_cohort(path, None, "
        "name, dry_run=True)`. Both plan the same requests (the streamed path sends the same "
        "bodies, in the same order). Each run is a fresh child process timing only the call; "
        f"the ways alternate; best of {repeats} (by wall time). CPU is the child's user + "
        "system time, every thread counted (pandas reads Parquet on several threads): on a "
        "shared machine it varies less than the wall time. Target: streamed at most 1.5x in "
        "memory.\n\n" + markdown_table(headers, table)
    )
    if pushes:
        pushed = data_files(args.push_size)["parquet"]
        python_mib, per_id = ids_as_python_mib(pushed, args.push_size)
        push_rows = [
            [
                p["label"],
                f"{p['rows']:,}",
                f"{p['accepted']:,}",
                p["requests"],
                f"{p['first_request']:.1f} s",
                f"{p['elapsed']:.1f} s",
                f"{p['peak']:,.0f} MiB",
                f"{p['peak'] - p['base']:,.0f} MiB",
                f"{python_mib:,.0f} MiB",
                f"{p['peak'] / python_mib:.1%}",
            ]
            for p in pushes
        ]
        body += (
            f"\n\n`push_cohort(path_to_parquet, ...)` of the {args.push_size:,}-id file to the "
            "emulator (another process, no rate limit), in a child process that reports its "
            "peak RSS (VmHWM, shared libraries included: pandas and pyarrow alone take about "
            "150 MiB; 'peak - import' leaves out what the process held once moecohort.push "
            "was imported) and when the call started; the first request's time is its arrival "
            "at the emulator after that start (reading, de-duplicating and counting the pages "
            "all come first). 'ids as Python strings' is what a list of the ids would take "
            f"({per_id:.0f} bytes per id). Target: peak under 25 % of it.\n\n"
            + markdown_table(
                [
                    "code",
                    "rows",
                    "accepted",
                    "requests",
                    "first request",
                    "push time",
                    "peak RSS",
                    "peak - import",
                    "ids as Python strings",
                    "peak / strings",
                ],
                push_rows,
            )
        )
    if args.no_write:
        print(body)
    else:
        write_section("stream", "Streamed input and a push of 10 million ids", body)


if __name__ == "__main__":
    main()
