"""The overlap of two Polars frames, two DuckDB relations and two pyarrow Tables, against
the same data in pandas.

The data is :mod:`bench_overlap`'s (N rows a side of 36-character ids, half shared, ~3 %
repeats, anonymous ids and near misses), held the way each library holds it: pandas
DataFrames with pandas' default string dtype (the baseline, ``overlap_auto`` there),
Polars DataFrames (text in Arrow's view layout), DuckDB tables in a DuckDB database (read
through a relation: DuckDB runs the scan and exports the id column), pyarrow Tables. Only
the id column is read, as Arrow; the report (pandas Indexes) is the same for all.

Every method runs in a fresh process, best of ``--repeat`` runs, as in bench_overlap::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_overlap_arrow.py            # 1M and 10M
    PYTHONPATH=. .venv/bin/python benchmarks/bench_overlap_arrow.py --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from bench_overlap import _release_memory, _reset_peak, _status_kib, data_path

from _common import markdown_table, peak_rss_mib, write_section


def _pandas(table: pa.Table) -> tuple[Any, Any]:
    import pandas as pd

    return (
        pd.DataFrame({"uid": table["source"].to_pandas()}),
        pd.DataFrame({"uid": table["destination"].to_pandas()}),
    )


def _polars(table: pa.Table) -> tuple[Any, Any]:
    import polars as pl

    return (
        pl.DataFrame({"uid": pl.from_arrow(table["source"])}),
        pl.DataFrame({"uid": pl.from_arrow(table["destination"])}),
    )


def _duckdb(table: pa.Table) -> tuple[Any, Any]:
    import duckdb

    con = duckdb.connect()
    con.register("loaded", table)
    con.execute("CREATE TABLE s AS SELECT source AS uid FROM loaded")
    con.execute("CREATE TABLE d AS SELECT destination AS uid FROM loaded")
    con.unregister("loaded")
    return con.table("s"), con.table("d")


def _arrow(table: pa.Table) -> tuple[Any, Any]:
    return pa.table({"uid": table["source"]}), pa.table({"uid": table["destination"]})


METHODS: dict[str, tuple[str, Callable[[pa.Table], Any]]] = {
    "pandas": ("two pandas DataFrames (default string dtype): the baseline", _pandas),
    "polars": ("two Polars DataFrames", _polars),
    "duckdb": ("two DuckDB relations over DuckDB tables", _duckdb),
    "pyarrow": ("two pyarrow Tables", _arrow),
}


def worker(method: str, n: int, repeat: int) -> dict[str, Any]:
    from moecohort import overlap

    sides = METHODS[method][1](pq.read_table(data_path(n)))
    _release_memory()
    exact = _reset_peak()
    base = _status_kib("VmRSS") if exact else None
    base_peak = peak_rss_mib()
    times, extra, result = [], 0.0, None
    for i in range(repeat):
        start = time.perf_counter()
        report = overlap(sides[0], sides[1])
        times.append(time.perf_counter() - start)
        result = [report.n_in_both, report.n_only_source, report.n_only_destination]
        if i == 0:
            hwm = _status_kib("VmHWM") if exact else None
            extra = (hwm - base) / 1024 if hwm and base else peak_rss_mib() - base_peak
    return {"best": min(times), "times": times, "peak_mib": extra, "result": result}


def measure(method: str, n: int, repeat: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", method, "--size", str(n)]
    cmd += ["--repeat", str(repeat)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "timeout"}
    if done.returncode != 0:
        return {"status": f"failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:120]}"}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.size, args.repeat)))
        return

    rows = []
    for n in args.sizes:
        print(f"data {n:,} rows per side: {data_path(n)}", file=sys.stderr, flush=True)
        results = {m: measure(m, n, args.repeat, args.timeout) for m in METHODS}
        base = results["pandas"]
        for method, r in results.items():
            ok = r["status"] == "ok"
            same = ok and base["status"] == "ok" and r["result"] == base["result"]
            print(f"  {method:10s} {r.get('best', r['status'])}", file=sys.stderr, flush=True)
            rows.append(
                [
                    n,
                    METHODS[method][0],
                    f"{r['best']:.3f}" if ok else r["status"],
                    round(r["peak_mib"]) if ok else "-",
                    "yes" if same else "no",
                    f"{r['best'] / base['best']:.2f}x" if ok and base["status"] == "ok" else "-",
                ]
            )
    headers = ["rows per side", "inputs", "best (s)", "peak RSS (MiB)", "same report"]
    headers.append("vs pandas")
    body = (
        "`overlap(source, destination)` (engine 'auto') of bench_overlap's data, held by each "
        "library its own way: pandas DataFrames (default string dtype), Polars DataFrames, "
        "DuckDB relations over tables in a DuckDB database (DuckDB scans and exports the id "
        "column on every call), pyarrow Tables. Only the id column is read, as Arrow; the "
        "reports are compared (counts of the three sets). Best of "
        f"{args.repeat} runs, each input kind in a fresh process; peak RSS during the first "
        "run, above the level after loading the data.\n\n" + markdown_table(headers, rows)
    )
    if args.no_write:
        print(body)
    else:
        write_section("overlap-arrow", "Overlap of Polars, DuckDB and pyarrow inputs", body)


if __name__ == "__main__":
    main()
