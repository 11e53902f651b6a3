"""Speed and memory of :func:`moecohort.overlap` against the usual ways of comparing ids.

Both sides hold N rows of 36-character ids (UUID text): about half of the distinct ids
are shared, ~3 % of the rows repeat an id of their side, 0.02 % are anonymous (missing,
empty, blank, ``"guest"``) and a handful of destination ids are near misses (upper-cased
or space-padded copies of source ids). The ids are generated with numpy (vectorised) and
cached as Parquet in ``benchmarks/.cache/``.

Every method runs in a fresh subprocess that first loads the data and prepares its own
input (pandas frames with pandas' default string dtype, object Series, Arrow arrays,
Polars Series, DuckDB views; never timed), then runs the method up to ``--repeat`` times:
the table shows the best time and the peak resident memory above the level after loading.
A method that takes longer than ``--timeout`` is reported as a timeout::

    .venv/bin/python benchmarks/bench_overlap.py                 # 1M, 2M and 10M rows per side
    .venv/bin/python benchmarks/bench_overlap.py --quick         # 1M and 2M, one run, 60 s cap
    .venv/bin/python benchmarks/bench_overlap.py --sizes 1000000 --methods overlap_auto pa_is_in

Only ``overlap`` builds the whole report (unique ids of each side, in both / only here,
anonymous and duplicate counts, near misses, pandas Indexes); the others answer a
smaller question (a membership count, a join's row count), which is what the targets
compare against.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from _common import CACHE, markdown_table, peak_rss_mib, write_section

DATA_NOTE = (
    "Both sides hold N rows of 36-character ids (UUID text): about half of the distinct ids "
    "are shared, ~3 % of the rows repeat an id of their side, 0.02 % are anonymous and "
    "N / 100,000 destination ids are near misses of source ids. Input to `overlap` and "
    "pandas: DataFrames with pandas' default string dtype."
)
DATA_VERSION = 1
SIZES = [1_000_000, 2_000_000, 10_000_000]
QUICK_SIZES = [1_000_000, 2_000_000]
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# --------------------------------------------------------------------------- data
def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random UUID-shaped ids (8-4-4-4-12 lower-case hex), built byte-wise."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 15]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, source in ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20)):
        out[:, start:stop] = hexed[:, source : source + stop - start]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1)))


def make_sides(n: int, seed: int = 42) -> tuple[pa.Array, pa.Array]:
    """Source and destination ids, ``n`` rows each (see the module docstring)."""
    rng = np.random.default_rng(seed + n)
    unique = int(n * 0.97)
    shared = unique // 2
    n_anon = max(4, n // 5000)
    n_near = max(2, n // 100_000)
    pool = uuids(rng, 2 * unique - shared)
    anonymous = pa.array(([None, "", " ", "guest"] * n_anon)[:n_anon], pa.large_string())
    sides = []
    for start in (0, unique - shared):
        distinct = pool.slice(start, unique)
        if start:  # near misses: the last destination-only ids become variants of source ids
            copies = pool.slice(0, n_near)
            upper = pc.ascii_upper(copies.slice(0, n_near // 2))
            padded = pc.utf8_rpad(copies.slice(n_near // 2), width=37, padding=" ")
            distinct = pa.concat_arrays([distinct.slice(0, unique - n_near), upper, padded])
        repeats = distinct.take(pa.array(rng.integers(0, unique, n - unique - n_anon)))
        rows = pa.concat_arrays([distinct, repeats, anonymous])
        sides.append(rows.take(pa.array(rng.permutation(n))))
    return sides[0], sides[1]


def data_path(n: int) -> Path:
    path = CACHE / f"overlap-{n}-v{DATA_VERSION}.parquet"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        source, destination = make_sides(n)
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table({"source": source, "destination": destination}), tmp)
        tmp.replace(path)
    return path


# --------------------------------------------------------------------------- methods
@dataclass(frozen=True)
class Method:
    label: str
    what: str
    setup: Callable[[pa.Table], Any]
    run: Callable[[Any], int]


def _frames(table: pa.Table) -> tuple[Any, Any]:
    import pandas as pd

    return (
        pd.DataFrame({"uid": table["source"].to_pandas()}),
        pd.DataFrame({"uid": table["destination"].to_pandas()}),
    )


def _overlap(engine: str, read_ids: bool = False) -> Callable[[Any], int]:
    def run(frames: tuple[Any, Any]) -> int:
        from moecohort import overlap

        report = overlap(frames[0], frames[1], engine=engine)
        if read_ids:  # the Indexes are built when first read: build all three
            for ids in (report.in_both, report.only_source, report.only_destination):
                assert len(ids) >= 0
        return report.n_in_both

    return run


def _object_series(table: pa.Table) -> tuple[Any, Any]:
    src, dst = _frames(table)
    return src["uid"].astype(object), dst["uid"].astype(object)


def _arrow(table: pa.Table) -> tuple[pa.Array, pa.Array]:
    return table["source"].combine_chunks(), table["destination"].combine_chunks()


def _polars(table: pa.Table) -> tuple[Any, Any]:
    import polars as pl

    return pl.from_arrow(table["source"]), pl.from_arrow(table["destination"])


def _polars_join(pair: tuple[Any, Any]) -> int:
    import polars as pl

    src, dst = (pl.DataFrame({"uid": s}) for s in pair)
    return src.join(dst, on="uid", how="inner").height


def _duck(table: pa.Table) -> Any:
    import duckdb

    con = duckdb.connect()
    con.register("s", pa.table({"id": table["source"]}))
    con.register("d", pa.table({"id": table["destination"]}))
    return con


DUCK_SETS = """
    SELECT count(*) FILTER (WHERE in_s AND in_d) FROM (
        SELECT bool_or(side = 0) AS in_s, bool_or(side = 1) AS in_d
        FROM (SELECT id, 0 AS side FROM s UNION ALL SELECT id, 1 AS side FROM d)
        WHERE id IS NOT NULL
        GROUP BY id
    )
"""

METHODS: dict[str, Method] = {
    m.label: m
    for m in [
        Method(
            "overlap_auto",
            "overlap(engine='auto'): the report (counts, summary, near misses); its three "
            "Indexes are built when first read",
            _frames,
            _overlap("auto"),
        ),
        Method(
            "overlap_auto_ids",
            "overlap(engine='auto'), then reading in_both, only_source and only_destination",
            _frames,
            _overlap("auto", read_ids=True),
        ),
        Method("overlap_pyarrow", "overlap(engine='pyarrow')", _frames, _overlap("pyarrow")),
        Method("overlap_duckdb", "overlap(engine='duckdb')", _frames, _overlap("duckdb")),
        Method("overlap_numba", "overlap(engine='numba')", _frames, _overlap("numba")),
        Method(
            "pandas_isin_str",
            "pandas Series.isin, default str dtype: source rows found in destination",
            lambda t: tuple(f["uid"] for f in _frames(t)),
            lambda p: int(p[0].isin(p[1]).sum()),
        ),
        Method(
            "pandas_isin_object",
            "pandas Series.isin, object dtype: source rows found",
            _object_series,
            lambda p: int(p[0].isin(p[1]).sum()),
        ),
        Method(
            "pandas_merge",
            "pandas merge(how='outer', indicator=True): rows 'both'",
            _frames,
            lambda f: int(
                (f[0].merge(f[1], on="uid", how="outer", indicator=True)["_merge"] == "both").sum()
            ),
        ),
        Method(
            "pa_is_in",
            "pyarrow.compute.is_in: source rows found",
            _arrow,
            lambda p: int(pc.sum(pc.is_in(p[0], value_set=p[1])).as_py()),
        ),
        Method(
            "polars_is_in",
            "polars Series.is_in: source rows found",
            _polars,
            lambda p: int(p[0].is_in(p[1].implode()).sum()),
        ),
        Method("polars_join", "polars inner join: row count", _polars, _polars_join),
        Method(
            "duckdb_join",
            "DuckDB `count(*) from s join d using (id)`",
            _duck,
            lambda con: int(con.execute("SELECT count(*) FROM s JOIN d USING (id)").fetchone()[0]),
        ),
        Method(
            "duckdb_sets",
            "DuckDB GROUP BY id over both sides: ids in both (exact set work, no report)",
            _duck,
            lambda con: int(con.execute(DUCK_SETS).fetchone()[0]),
        ),
    ]
}


# --------------------------------------------------------------------------- worker
def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        return None
    return None


def _release_memory() -> None:
    """Hand memory freed while loading back to the OS, so the method's peak is its own."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); True when it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux, or not allowed
        return False
    return True


def worker(method: str, n: int, repeat: int, budget: float) -> dict[str, Any]:
    m = METHODS[method]
    state = m.setup(pq.read_table(data_path(n)))
    _release_memory()
    exact = _reset_peak()
    base = _status_kib("VmRSS") if exact else None
    base_peak = peak_rss_mib()
    times: list[float] = []
    result = None
    extra = 0.0
    while len(times) < repeat and (not times or sum(times) + times[0] < budget):
        start = time.perf_counter()
        result = m.run(state)
        times.append(time.perf_counter() - start)
        if len(times) == 1:  # memory: the first run (later ones reuse what it left behind)
            if exact and base is not None and (hwm := _status_kib("VmHWM")) is not None:
                extra = (hwm - base) / 1024
            else:  # only the growth of the peak is visible
                extra = peak_rss_mib() - base_peak
        gc.collect()
    return {"best": min(times), "times": times, "peak_mib": extra, "result": result}


# --------------------------------------------------------------------------- driver
def measure(method: str, n: int, repeat: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", method, "--size", str(n)]
    cmd += ["--repeat", str(repeat), "--timeout", str(timeout)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "timeout"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": f"failed: {tail[:120]}"}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def _fmt_time(r: dict[str, Any] | None, timeout: float) -> str:
    if r is None:
        return "-"
    if r["status"] == "timeout":
        return f"timeout (> {timeout:.0f} s)"
    if r["status"] != "ok":
        return r["status"]
    return f"{r['best']:.3f}"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, timeout: float) -> str:
    """a / b, with timeouts shown as bounds."""
    if not a or not b:
        return "n/a (not measured)"
    if a["status"] == "ok" and b["status"] == "ok":
        return f"{a['best'] / b['best']:.2f}x"
    if a["status"] == "timeout" and b["status"] == "ok":
        return f"> {timeout / b['best']:.1f}x (timed out)"
    return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="rows per side")
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), help="default: all")
    parser.add_argument("--repeat", type=int, help="runs per method (best is kept); default 3")
    parser.add_argument("--timeout", type=float, help="seconds per method; default 300")
    parser.add_argument("--quick", action="store_true", help="1M and 2M rows, one run, 60 s")
    parser.add_argument("--no-write", action="store_true", help="print, do not update results.md")
    parser.add_argument("--json", type=Path, help="also save the raw figures here")
    parser.add_argument("--before", type=Path, help="raw figures (--json) of an earlier run")
    parser.add_argument("--from-json", type=Path, help="render saved figures, measure nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    timeout = args.timeout or (60.0 if args.quick else 300.0)
    repeat = args.repeat or (1 if args.quick else 3)
    if args.worker:
        # Leave time for loading: stop repeating once the runs use most of the budget.
        print(json.dumps(worker(args.worker, args.size, repeat, budget=timeout / 2)))
        return

    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    methods = args.methods or list(METHODS)
    before = json.loads(args.before.read_text()) if args.before else {}
    results: dict[str, dict[str, Any]] = {}
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        sizes = sorted({int(k.split("@")[1]) for k in results})
        methods = [m for m in METHODS if any(k.startswith(m + "@") for k in results)]
    for n in sizes if not args.from_json else []:
        print(f"data {n:,} rows per side: {data_path(n)}", file=sys.stderr, flush=True)
        for method in methods:
            r = measure(method, n, repeat, timeout)
            results[f"{method}@{n}"] = r
            print(f"  {method:20s} {_fmt_time(r, timeout)}", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))

    headers = ["rows per side", "method", "best (s)", "runs", "peak RSS (MiB)", "result"]
    headers += ["vs overlap auto"]
    if before:
        headers.insert(3, "before (s)")
    rows = []
    for n in sizes:
        auto = results.get(f"overlap_auto@{n}")
        for method in methods:
            r = results[f"{method}@{n}"]
            ok = r["status"] == "ok"
            row: list[object] = [
                n,
                method,
                _fmt_time(r, timeout),
                len(r["times"]) if ok else "-",
                round(r["peak_mib"]) if ok else "-",
                r["result"] if ok else "-",
                _ratio(r, auto, timeout) if method != "overlap_auto" else "1.00x",
            ]
            if before:
                row.insert(3, _fmt_time(before.get(f"{method}@{n}"), timeout))
            rows.append(row)

    def get(method: str, n: int) -> dict[str, Any] | None:
        return results.get(f"{method}@{n}")

    targets = [
        "| target | measured |",
        "|---|---|",
        f"| issue 2: overlap <= 2x pyarrow is_in at 2M x 2M | auto "
        f"{_ratio(get('overlap_auto', 2_000_000), get('pa_is_in', 2_000_000), timeout)}, "
        f"pyarrow engine "
        f"{_ratio(get('overlap_pyarrow', 2_000_000), get('pa_is_in', 2_000_000), timeout)} |",
        f"| issue 5: overlap <= 1.5x DuckDB join at 10M x 10M | auto "
        f"{_ratio(get('overlap_auto', 10_000_000), get('duckdb_join', 10_000_000), timeout)}"
        f"; with the three Indexes read "
        f"{_ratio(get('overlap_auto_ids', 10_000_000), get('duckdb_join', 10_000_000), timeout)}"
        f" (DuckDB's own GROUP BY: "
        f"{_ratio(get('duckdb_sets', 10_000_000), get('duckdb_join', 10_000_000), timeout)}) |",
        f"| issue 5: pandas merge >= 5x overlap at 10M x 10M | "
        f"{_ratio(get('pandas_merge', 10_000_000), get('overlap_auto', 10_000_000), timeout)} |",
    ]
    legend = "\n".join(f"- `{m.label}`: {m.what}" for m in METHODS.values() if m.label in methods)
    body = (
        f"{DATA_NOTE}\n\n"
        f"Best of up to {repeat} runs, each method in a fresh process; peak RSS: during the "
        f"first run, above the level after loading the data; per-method timeout {timeout:.0f} s. "
        f"The machine may have been shared with other jobs: figures are the best seen.\n\n"
        f"{markdown_table(headers, rows)}\n\n{chr(10).join(targets)}\n\nMethods:\n\n{legend}\n"
    )
    if args.no_write:
        print(body)
    else:
        write_section("overlap", "Identifier overlap", body)


if __name__ == "__main__":
    main()
