"""DuckDB engine for :func:`moecohort.overlap` (``pip install moecohort[fast]``).

DuckDB hashes text several times faster than pyarrow's dictionary encoding, on every
core. It only answers, per distinct id, where the id first appears and whether the
destination has it: two integers, no strings come back (the report's ids are cut from
the input's own buffers), so the result is the same as the pyarrow engine's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa


def presence(
    s_ids: pa.ChunkedArray, d_ids: pa.ChunkedArray, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct non-null id (in no particular order): the position of its first row,
    counting the source's rows then the destination's, and whether the destination has it.

    With ``workers`` > 1 the ids are split by DuckDB's hash into that many parts, each
    aggregated by one single-threaded query, all at once: on few cores this beats one
    parallel query, whose two-phase aggregation does extra work when most ids are distinct.
    """
    import duckdb

    n_s = len(s_ids)
    n = n_s + len(d_ids)
    chunks = [c for c in (*s_ids.chunks, *d_ids.chunks) if len(c)]
    ids = pa.chunked_array(chunks, type=pa.large_string())
    positions = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    table = pa.table({"id": ids, "pos": positions})
    # One integer per id: its first position * 2, + 1 when a destination row has it.
    query = f"""
        SELECT min(pos)::BIGINT * 2 + bool_or(pos >= {int(n_s)})::BIGINT AS k
        FROM ids
        WHERE id IS NOT NULL {{part}}
        GROUP BY id
    """
    con = duckdb.connect(config={"threads": 1})
    try:
        # Groups come back in any order: the caller sorts them by position.
        con.execute("SET preserve_insertion_order = false")

        def run(part: int) -> np.ndarray:
            where = f"AND hash(id) % {workers} = {part}" if workers > 1 else ""
            cursor = con.cursor()  # queries on cursors run concurrently, each in its thread
            try:
                cursor.register("ids", table)
                result = cursor.execute(query.format(part=where)).fetchnumpy()["k"]
            finally:
                cursor.close()
            return np.asarray(result, dtype=np.int64)

        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                k = np.concatenate(list(pool.map(run, range(workers))))
        else:
            k = run(0)
    finally:
        con.close()
    return k >> 1, (k & 1).astype(bool)
