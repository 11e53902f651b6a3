"""Optional DuckDB engine for :func:`moecohort.overlap` (``pip install moecohort[fast]``).

DuckDB hashes on every core; pyarrow's dictionary encoding uses one. The result
is the same as the pyarrow engine's: unique ids, and per id whether it occurs in
the source and in the destination, in order of first appearance.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def presence(
    s_ids: pa.ChunkedArray, d_ids: pa.ChunkedArray
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    import duckdb

    con = duckdb.connect()
    try:
        src = pa.table({"id": s_ids})
        dst = pa.table({"id": d_ids})
        con.register("src", src)
        con.register("dst", dst)
        relation = con.sql(
            """
            SELECT id, bool_or(side = 0) AS in_s, bool_or(side = 1) AS in_d, min(pos) AS first
            FROM (
                SELECT id, 0 AS side, row_number() OVER () AS pos FROM src
                UNION ALL
                SELECT id, 1 AS side, row_number() OVER () + (SELECT count(*) FROM src) FROM dst
            )
            GROUP BY id
            ORDER BY first
            """
        )
        # to_arrow_table is the name from DuckDB 1.4 on; fetch_arrow_table before.
        fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
        table = fetch()
    finally:
        con.close()
    ids = table["id"].combine_chunks()
    if not pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.large_string())
    in_s = table["in_s"].to_numpy().astype(bool)
    in_d = table["in_d"].to_numpy().astype(bool)
    return ids, in_s, in_d
