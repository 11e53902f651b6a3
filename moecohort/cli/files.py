"""The files the data commands read: CSV (any separator and encoding, with or without a
header row, optionally compressed) or Parquet; whole (``overlap``, ``--only-in``) or
streamed in chunks (``push``, ``sync``).

How a CSV is read:

* the separator is ``--sep``, else a comma (a tab for ``.tsv``); when the first line
  read that way is one column holding ``;``, a tab or ``|``, that character is used
  instead and a note on stderr says so;
* ``--encoding`` (default UTF-8; a UTF-8 byte order mark never ends up in a name);
* the first line holds the column names unless ``--no-header``: then columns are
  numbered from 1 and the id column is given by number (``--id-col 1``);
* a first line that looks like data where names should be (see :func:`looks_like_data`)
  is refused with a pointer to ``--no-header``: no id is ever taken for a column name;
* ids are read as text, so they keep leading zeros.

pandas is imported inside the functions, so ``--help`` stays light.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import EmptyInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "STREAM_ROWS",
    "CsvFormat",
    "Layout",
    "csv_options",
    "input_path",
    "library_reads",
    "looks_like_data",
    "read_ids",
    "read_layout",
    "require_id_column",
    "stream_ids",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Rows per chunk when the command streams a file.
STREAM_ROWS = 100_000
EXCEL = (".xlsx", ".xlsm", ".xls", ".xlsb")
PARQUET = (".parquet", ".pq")
#: What the library reads from a path by itself (anything else the CLI reads for it).
LIBRARY_CSV = tuple(
    ext + comp
    for ext in (".csv", ".tsv", ".txt")
    for comp in ("", ".gz", ".bz2", ".zip", ".xz", ".zst")
)
#: Separators recognised when a comma (or a tab) leaves the whole first line in one column.
DETECTED = (";", "\t", "|")
_SHOWN = {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}
_BOM = ("\ufeff", "\u00ef\u00bb\u00bf")  # decoded as UTF-8, or as a single-byte code page

_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class CsvFormat:
    """``--sep``, ``--encoding`` and ``--no-header`` as given."""

    sep: str | None = None
    encoding: str = "utf-8"
    header: bool = True

    @property
    def utf8(self) -> bool:
        return codecs.lookup(self.encoding).name == "utf-8"


@dataclass(frozen=True)
class Layout:
    """How one file is read: its kind, and for a CSV the separator, encoding, whether
    the first line holds names, and the column names the commands use."""

    path: Path
    parquet: bool
    names: list[str]
    sep: str = ","
    encoding: str = "utf-8"
    header: bool = True
    empty: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    def csv_args(self) -> dict[str, Any]:
        """Keyword arguments of ``pd.read_csv`` for the rows (names set, so the first
        line, when it holds names, is replaced by :attr:`names` without its BOM)."""
        return {
            "sep": self.sep,
            "encoding": self.encoding,
            "header": 0 if self.header else None,
            "names": self.names,
        }


def _separator(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(value, value)
    if len(sep) != 1:
        raise click.BadParameter("give one character, e.g. ';' or '|' (tab: '\\t' or 'tab')")
    return sep


def _encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(
            f"unknown encoding {value!r} (e.g. utf-8, cp1252, latin-1, utf-16)"
        ) from None
    return value


_csv_options = [
    click.option(
        "--sep",
        metavar="CHAR",
        callback=_separator,
        help="Column separator of a CSV (default: ',' or tab for .tsv; ';', tab and '|' "
        "are detected). Tab: '\\t'.",
    ),
    click.option(
        "--encoding",
        default="utf-8",
        show_default=True,
        callback=_encoding,
        help="Text encoding of a CSV (e.g. cp1252, latin-1, utf-16).",
    ),
    click.option(
        "--no-header",
        is_flag=True,
        help="The CSV has no header row: columns are numbered from 1 (--id-col 1).",
    ),
]


def csv_options(func: F) -> F:
    for option in reversed(_csv_options):
        func = option(func)
    return func


def input_path(path: str | Path) -> Path:
    """``path`` when it is a file moecohort can read; a one-line error otherwise."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if p.name.lower().endswith(EXCEL):
        raise click.ClickException(
            f"{p.name}: Excel files are not read: save the sheet as CSV (File > Save As > "
            "CSV UTF-8) or Parquet, and pass that file."
        )
    return p


def looks_like_data(cell: object) -> bool:
    """True for a first-line cell no export would use as a column name: a number, an
    e-mail address or a UUID (the ids of a file without a header row)."""
    text = str(cell).strip()
    return bool(_NUMBER.fullmatch(text) or _EMAIL.fullmatch(text) or _UUID.fullmatch(text))


def read_layout(path: str | Path, fmt: CsvFormat, id_col: str, id_flag: str) -> Layout:
    """Find how to read ``path`` and check that ``id_col`` (given with ``id_flag``) can
    be found in it. Column names are checked by the caller (with ``require_column``)."""
    p = input_path(path)
    if p.name.lower().endswith(PARQUET):
        import pyarrow.parquet as pq

        return Layout(p, True, list(pq.read_schema(p).names))
    import pandas as pd

    default = "\t" if ".tsv" in p.name.lower() else ","
    sep = fmt.sep or default
    encoding = "utf-8-sig" if fmt.utf8 else fmt.encoding
    try:
        first = _first_line(p, sep, encoding)
        if fmt.sep is None and len(first) == 1:
            cell = str(first[0])
            found = max(DETECTED, key=cell.count)
            if found != sep and cell.count(found):
                sep = found
                first = _first_line(p, sep, encoding)
                click.echo(
                    f"note: {p.name}: columns separated by {_SHOWN[sep]} (detected; "
                    "pass --sep to choose)",
                    err=True,
                )
    except pd.errors.EmptyDataError:
        return Layout(p, False, [], sep, encoding, fmt.header, empty=True)
    if not fmt.header:
        names = [str(i) for i in range(1, len(first) + 1)]
        if not (id_col.isdigit() and 1 <= int(id_col) <= len(names)):
            raise click.UsageError(
                f"with --no-header, {id_flag} is the number of the id column (1 to "
                f"{len(names)} in {p.name}), not {id_col!r}"
            )
        return Layout(p, False, names, sep, encoding, header=False)
    names = [str(c) for c in first]
    if names:
        for bom in _BOM:
            names[0] = names[0].removeprefix(bom)
    _check_header(p.name, names, id_col, id_flag)
    return Layout(p, False, names, sep, encoding)


def _first_line(path: Path, sep: str, encoding: str) -> list[Any]:
    import pandas as pd

    frame = pd.read_csv(path, sep=sep, encoding=encoding, header=None, nrows=1, dtype=str)
    return list(frame.iloc[0]) if len(frame) else list(frame.columns)


def _check_header(name: str, names: list[str], id_col: str, id_flag: str) -> None:
    """Refuse a first line of data read as names (see :func:`looks_like_data`)."""
    if id_col in names and looks_like_data(id_col):
        raise click.ClickException(
            f"{name} seems to have no header row (its first line holds {id_col!r} where a "
            f"column name should be): use --no-header {id_flag} {names.index(id_col) + 1}"
        )
    if id_col not in names and any(looks_like_data(c) for c in names):
        shown = ", ".join(repr(c) for c in names[:5]) + (", ..." if len(names) > 5 else "")
        raise click.ClickException(
            f"Column {id_col!r} not found in {name}, whose first line looks like data "
            f"({shown}), not column names: if the file has no header row, use --no-header "
            f"{id_flag} N (N: the number of the id column, 1 for the first)"
        )


def read_ids(layout: Layout, id_col: str) -> pd.DataFrame:
    """The id column of a whole file, as text (the column must exist)."""
    import pandas as pd

    if layout.empty:
        raise EmptyInputError(f"{layout.name} is empty: no header, no rows.")
    if layout.parquet:
        return pd.read_parquet(layout.path, columns=[id_col])
    return pd.read_csv(layout.path, usecols=[id_col], dtype={id_col: str}, **layout.csv_args())


def stream_ids(layout: Layout, id_col: str) -> Generator[pd.DataFrame, None, None]:
    """The id column of a file, :data:`STREAM_ROWS` rows at a time, as text."""
    import pandas as pd

    if layout.empty:
        raise EmptyInputError(f"{layout.name} is empty: no header, no rows.")
    if layout.parquet:
        import pyarrow.parquet as pq

        with pq.ParquetFile(layout.path) as pf:
            for batch in pf.iter_batches(batch_size=STREAM_ROWS, columns=[id_col]):
                yield batch.to_pandas()
        return
    reader = pd.read_csv(
        layout.path,
        usecols=[id_col],
        dtype={id_col: str},
        chunksize=STREAM_ROWS,
        **layout.csv_args(),
    )
    with reader:
        yield from reader


def library_reads(layout: Layout, fmt: CsvFormat) -> bool:
    """True when handing the path to the library reads it as this layout says (the
    library reads Parquet, and CSV/TSV by extension, UTF-8, comma or tab, with names)."""
    if layout.parquet:
        return True
    name = layout.name.lower()
    default = "\t" if ".tsv" in name else ","
    return name.endswith(LIBRARY_CSV) and layout.header and layout.sep == default and fmt.utf8


def require_id_column(layout: Layout, id_col: str, param: str) -> None:
    """The library's missing-column error (with its suggestion) when ``id_col`` is not a
    column of the file; ``param`` is the argument at fault (``"id_col"``...)."""
    if layout.empty or id_col in layout.names:
        return
    import pandas as pd

    from ..ids import require_column

    require_column(pd.DataFrame(columns=layout.names), id_col, param=param, where=layout.name)
