"""moecohort on Spark DataFrames, in Spark local mode: the overlap and a 10-million-id push.

* Overlap: the sides of bench_overlap.py (N rows of 36-character ids each: half the
  distinct ids shared, ~3 % repeats, 0.02 % anonymous, N / 100,000 near misses), read
  from Parquet by Spark. ``overlap_spark`` is :func:`moecohort.overlap` on the two Spark
  DataFrames: the full report (counts, summary, near misses; the sets stay in Spark).
  Baselines measured in the same run: ``spark_join``, Spark's own inner-join row count
  (no de-duplication), and ``spark_sets``, a Spark GROUP BY over both sides counting the ids
  in both (the set work alone, no anonymous ids, near misses or report); for reference,
  the in-memory ``overlap_auto`` of bench_overlap.py on the same data.
* Push: :func:`moecohort.push_cohort` of a Spark DataFrame read from the Parquet file of
  bench_stream.py (10 million distinct 40-character ids) against the emulator in another
  process (no rate limit); baseline in the same run: the same push from the Parquet path
  (bench_stream.py's streamed push, no Spark).

Each method runs in a fresh process with its own Spark session (local[2]); the times
leave out the session's start-up (reported apart). Memory: the Python driver's peak RSS
(VmHWM) and, apart, the JVM's, which in local mode is Spark's driver and its executors
in one process::

    .venv/bin/python benchmarks/bench_spark.py               # 2M and 10M per side, 10M push
    .venv/bin/python benchmarks/bench_spark.py --quick       # 1M per side, 1M push
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _emulator_proc import EmulatorProcess
from bench_overlap import data_path, measure
from bench_stream import KEY
from bench_stream import PUSH as PARQUET_PUSH

from _common import CACHE, markdown_table, write_section

DRIVER_MEMORY = "8g"  # the JVM's heap (local mode: driver and executors)

CHILD = textwrap.dedent(
    """
    import json, os, sys, time

    def hwm(pid="self"):
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def jvm_pid():
        # The JVM pyspark starts is a child of this process (spark-submit execs java).
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                except OSError:
                    continue
                name = stat[stat.index("(") + 1 : stat.rindex(")")]
                rest = stat[stat.rindex(")") + 2 :]
                if name == "java" and int(rest.split()[1]) == os.getpid():
                    return int(entry)
        return None

    method, args = sys.argv[1], json.loads(sys.argv[2])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession, functions as F
    import moecohort as mc
    spark = (SparkSession.builder.master("local[2]").appName("bench-spark")
             .config("spark.driver.memory", args["memory"])
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter() - t0
    base = hwm()
    t0 = time.perf_counter()
    out = {}
    if method in ("overlap_spark", "spark_join", "spark_sets"):
        table = spark.read.parquet(args["path"])
        s = table.select(F.col("source").alias("uid"))
        d = table.select(F.col("destination").alias("uid"))
        if method == "overlap_spark":
            report = mc.overlap(s, d)
            out = {"result": report.n_in_both, "near_misses": len(report.near_misses),
                   "summary": report.summary().to_dict()}
            out["elapsed"] = time.perf_counter() - t0
            report.unpersist()
        elif method == "spark_join":
            out = {"result": s.join(d, "uid").count()}
        else:
            both = (s.select("uid", F.lit(0).alias("side"))
                    .unionByName(d.select("uid", F.lit(1).alias("side")))
                    .where(F.col("uid").isNotNull()).groupBy("uid")
                    .agg(F.min("side").alias("lo"), F.max("side").alias("hi")))
            out = {"result": both.where((F.col("lo") == 0) & (F.col("hi") == 1)).count()}
    else:  # push_spark
        app = mc.AppCredentials("BENCH-SPARK", args["key"], base_url=args["url"])
        result = mc.push_cohort(spark.read.parquet(args["path"]), app, "Spark 10M",
                                requests_per_minute=10**7, progress=False)
        out = {"ok": result.ok, "accepted": result.members_accepted, "rows": result.input_rows,
               "requests": result.requests}
    elapsed = out.pop("elapsed", None) or time.perf_counter() - t0
    jvm = jvm_pid()
    out.update(method=method, started=started, elapsed=elapsed, base=base, peak=hwm(),
               jvm_peak=hwm(jvm) if jvm else float("nan"))
    print(json.dumps(out))
    spark.stop()
    """
)


def run_child(method: str, timeout: float, **args: Any) -> dict[str, Any] | None:
    """One method in a fresh process with its own Spark session; None on a timeout."""
    args.setdefault("memory", DRIVER_MEMORY)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, method, json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def overlap_rows(sizes: list[int], timeout: float) -> tuple[list[list[object]], list[str]]:
    rows, targets = [], []
    for n in sizes:
        path = str(data_path(n))
        got = {m: run_child(m, timeout, path=path) for m in ("spark_join", "spark_sets")}
        got["overlap_spark"] = run_child("overlap_spark", timeout, path=path)
        local = measure("overlap_auto", n, 1, timeout)
        base = got["spark_join"]
        for method, r in got.items():
            if r is None:
                rows.append([f"{n:,}", method, "timeout", "", "", "", "", ""])
                continue
            rows.append(
                [
                    f"{n:,}",
                    method,
                    f"{r['elapsed']:.1f}",
                    f"{r['started']:.1f}",
                    f"{r['peak'] - r['base']:,.0f} ({r['peak']:,.0f})",
                    f"{r['jvm_peak']:,.0f}",
                    f"{r['result']:,}",
                    f"{r['elapsed'] / base['elapsed']:.2f}x" if base else "",
                ]
            )
        if local and local.get("best") is not None:
            rows.append(
                [
                    f"{n:,}",
                    "overlap_auto (in memory, for reference)",
                    f"{local['best']:.2f}",
                    "",
                    f"{local['peak_mib']:,.0f} (above the data)",
                    "",
                    f"{local['result']:,}",
                    f"{local['best'] / base['elapsed']:.2f}x" if base else "",
                ]
            )
        o = got["overlap_spark"]
        if o and base:
            targets.append(
                f"overlap_spark at {n:,} x {n:,}: {o['elapsed']:.1f} s, "
                f"{o['elapsed'] / base['elapsed']:.2f}x Spark's join count "
                f"({base['elapsed']:.1f} s); {o['near_misses']:,} near misses; Python driver "
                f"+{o['peak'] - o['base']:,.0f} MiB"
            )
    return rows, targets


def ids_file(n: int) -> str:
    """A Parquet file of ``n`` distinct 40-character ids (cached)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"stream_ids_{n}.parquet"
    if not path.exists():
        rng = np.random.default_rng(10)
        hi, lo = rng.integers(0, 2**63, size=(2, n), dtype=np.int64)
        ids = [f"{a:016x}-{b:016x}-cohort" for a, b in zip(hi, lo, strict=True)]
        pq.write_table(pa.table({"uid": pa.array(ids, pa.large_string())}), path)
    return str(path)


def push_rows(users: int, timeout: float) -> tuple[list[list[object]], str]:
    path = ids_file(users)
    sample = pq.read_table(path).column("uid").slice(0, 1000).to_pylist()
    per_id = float(np.mean([sys.getsizeof(s) for s in sample])) + 8  # + a list's pointer
    as_python = per_id * users / 2**20
    rows = []
    found: dict[str, dict[str, Any] | None] = {}
    with EmulatorProcess() as emu:
        emu.add_workspace("BENCH-SPARK", KEY)
        found["push_spark"] = run_child("push_spark", timeout, path=path, url=emu.url, key=KEY)
    with EmulatorProcess() as emu:
        emu.add_workspace("BENCH-STREAM", KEY)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PARQUET_PUSH, emu.url, path],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        plain = json.loads(done.stdout.strip().splitlines()[-1])
        plain.update(started=0.0, jvm_peak=float("nan"), wall=time.perf_counter() - t0)
        found["push_parquet (no Spark)"] = plain
    base = found["push_parquet (no Spark)"]
    for method, r in found.items():
        if r is None:
            rows.append([method, "timeout"] + [""] * 8)
            continue
        rows.append(
            [
                method,
                f"{r['accepted']:,}",
                f"{r['requests']:,}",
                f"{r['elapsed']:.1f} s",
                f"{r['elapsed'] / base['elapsed']:.2f}x",
                f"{r['base']:,.0f} MiB",
                f"{r['peak']:,.0f} MiB",
                f"{r['peak'] / as_python:.1%}",
                "" if r["jvm_peak"] != r["jvm_peak"] else f"{r['jvm_peak']:,.0f} MiB",
            ]
        )
    s = found["push_spark"]
    summary = (
        f"{users:,} ids as Python strings: {as_python:,.0f} MiB ({per_id:.0f} bytes per id)."
        + (
            f" Spark push: Python driver peak {s['peak']:,.0f} MiB = {s['peak'] / as_python:.1%}"
            " of it (target: under 25 %)."
            if s
            else ""
        )
    )
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2_000_000, 10_000_000])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="1M per side, a 1M push")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--only",
        choices=["overlap", "push"],
        help="measure one half again; the other comes from the last run (benchmarks/.cache)",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.users = [1_000_000], 1_000_000
    saved = CACHE / "bench_spark.json"
    last = json.loads(saved.read_text()) if args.only and saved.exists() else {}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.only == "push" and "overlap" in last:
        overlap, targets, overlap_when = last["overlap"]
    else:
        overlap, targets = overlap_rows(args.sizes, args.timeout)
        overlap_when = stamp
    if args.only == "overlap" and "push" in last:
        push, push_note, push_when = last["push"]
    else:
        push, push_note = push_rows(args.users, args.timeout)
        push_when = stamp
    CACHE.mkdir(exist_ok=True)
    halves = {"overlap": [overlap, targets, overlap_when], "push": [push, push_note, push_when]}
    saved.write_text(json.dumps(halves))
    body = "\n\n".join(
        [
            "Spark local mode (`local[2]`, pyspark 4, OpenJDK 17, driver memory "
            f"{DRIVER_MEMORY}), each method in a fresh process with its own session; one run "
            "each (the machine is shared with other jobs: figures vary from run to run). "
            "'start' is the session's start-up, left out of the time. 'Python driver' is "
            "the peak RSS of the Python process above its level once the session has started "
            "(in brackets: the peak); 'JVM' is the Java process's peak RSS, which in local "
            "mode holds Spark's driver and executors.",
            "Overlap: the sides of bench_overlap.py, read from Parquet by Spark. "
            "`overlap_spark`: moecohort.overlap on the two Spark DataFrames (the report: counts,"
            " summary, near misses; the sets stay in Spark). `spark_join`: Spark's inner-join "
            "row count (the baseline); `spark_sets`: a Spark GROUP BY over both sides counting "
            "ids in both (set work only). `overlap_auto`: the in-memory report "
            "(bench_overlap.py) on the same data, peak above the loaded data.",
            markdown_table(
                [
                    "rows per side",
                    "method",
                    "time (s)",
                    "start (s)",
                    "Python driver (MiB)",
                    "JVM (MiB)",
                    "result",
                    "vs spark_join",
                ],
                overlap,
            ),
            "\n".join(f"- {t}" for t in targets) + f"\n\n(Overlap measured {overlap_when}.)",
            "Push: push_cohort of a Spark DataFrame read from bench_stream.py's Parquet file "
            f"({args.users:,} distinct 40-character ids) to the emulator in another process "
            "(no rate limit): de-duplicated and counted in Spark, streamed to the driver one "
            "range partition (at most 200,000 ids) at a time, spooled and sent. Baseline, in "
            "the same run: the same push from the Parquet path (no Spark). "
            + push_note
            + f" (Push measured {push_when}.)",
            markdown_table(
                [
                    "method",
                    "accepted",
                    "requests",
                    "push time",
                    "vs no Spark",
                    "RSS at start",
                    "peak RSS",
                    "peak / ids as strings",
                    "JVM peak",
                ],
                push,
            ),
        ]
    )
    write_section("spark", "Spark DataFrames (local mode)", body)


if __name__ == "__main__":
    main()
