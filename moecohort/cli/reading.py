"""What ``push``, ``sync``, ``lookup`` and ``estimate`` read from FILE: the path itself
when the library reads it as asked (streamed: any file size works), else the id column in
chunks; with ``--only-in``, those chunks filtered to the destination's users. And, for a
command that reads its input more than once (``--check-destination``, several apps), that
input made re-readable: spooled to a Parquet file of the id column."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from .files import (
    CsvFormat,
    csv_options,
    library_reads,
    read_layout,
    require_id_column,
    stream_ids,
)

__all__ = ["input_options", "reusable", "users_of"]


_only_in_options = [
    click.option(
        "--only-in",
        metavar="DEST_EXPORT",
        type=click.Path(dir_okay=False),
        help="Keep only the users this export of the destination (CSV or Parquet) has, "
        "as keep_in_destination does; says on stderr how many were left out.",
    ),
    click.option("--dest-on", metavar="COL", help="Id column of --only-in (default: --id-col)."),
]


def input_options(func: Any) -> Any:
    """--sep, --encoding, --no-header, --only-in and --dest-on."""
    for option in reversed(_only_in_options):
        func = option(func)
    return csv_options(func)


@contextlib.contextmanager
def users_of(
    file: str,
    fmt: CsvFormat,
    id_col: str,
    only_in: str | None,
    dest_on: str | None,
    *,
    allow_empty: bool = False,
) -> Iterator[Any]:
    """What ``push_cohort`` / ``sync_cohort`` read from FILE: the path itself when the
    library reads it as asked (streamed: any file size works), else the id column in
    chunks; with --only-in, those chunks filtered to the destination's users."""
    if dest_on and not only_in:
        raise click.UsageError("--dest-on names the id column of --only-in: give --only-in too")
    layout = read_layout(file, fmt, id_col, "--id-col")
    require_id_column(layout, id_col, "id_col")
    if layout.empty and allow_empty:
        import pandas as pd

        yield pd.DataFrame({id_col: pd.Series([], dtype=object)})
        return
    if only_in:
        from .only_in import OnlyIn, destination_ids

        column = dest_on or id_col
        export = read_layout(only_in, CsvFormat(), column, "--dest-on")
        require_id_column(export, column, "destination_col")
        keep = OnlyIn(destination_ids(export, column), export.name)
        with contextlib.closing(stream_ids(layout, id_col)) as chunks:
            yield keep.filter(chunks, id_col)
    elif library_reads(layout, fmt) and not layout.empty:
        yield str(layout.path)
    else:
        with contextlib.closing(stream_ids(layout, id_col)) as chunks:
            yield chunks


def reusable(users: Any, id_col: str, folder: str) -> Any:
    """``users`` (what :func:`users_of` gave) in a form that can be read more than once:
    a path or a DataFrame as it is; chunks written, one at a time, to a Parquet file of
    the id column in ``folder`` (memory stays bounded), whose path is returned."""
    import pandas as pd

    if isinstance(users, (str, pd.DataFrame)):
        return users
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = f"{folder}/ids.parquet"
    schema = pa.schema([(id_col, pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in users:
            ids = chunk[id_col].astype(object).where(chunk[id_col].notna(), None)
            writer.write_table(pa.table({id_col: pa.array(list(ids), pa.string())}))
    return path
