"""Keep the rows whose user exists in the destination: :func:`keep_in_destination`, from an
export of the destination app or, without one, from the app itself (its Get User API)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..credentials import AppCredentials, get_credentials
from ..delivery import ProgressOption
from ..errors import InputError, LookupFailedError
from ..ids import require_column, to_arrow_ids, without_anonymous
from ..matching import keep_in_destination as keep_in_export
from ..matching.columns import keep_rows
from .options import MAX_EXACT_LOOKUPS, LookupOptions, check_count, check_limit
from .users import IdSource, run_lookup
from .wire import UID_FIELD

__all__ = ["MAX_EXACT_LOOKUPS", "keep_in_destination"]


def keep_in_destination(
    df: pd.DataFrame,
    destination: Any,
    id_col: str = "uid",
    *,
    destination_col: str | None = None,
    placeholders: Iterable[str] | None = None,
    max_lookups: int = MAX_EXACT_LOOKUPS,
    progress: ProgressOption = "auto",
    **lookup_options: Any,
) -> pd.DataFrame:
    """Rows of ``df`` whose user exists in the destination app.

    The Cohort Sync API never creates users: ids unknown to the destination are accepted
    and then silently ignored. Anonymous rows are dropped too (they exist nowhere).

    ``destination`` is either what the destination holds (an export: a DataFrame, with the
    ids in ``destination_col``, default ``id_col``; a Series, an Index or ids), or the
    destination app itself: an :class:`AppCredentials` or a saved profile name. Then every
    distinct id of ``df`` is looked up in its Get User API (1,000 users a minute); above
    ``max_lookups`` distinct ids it refuses (:class:`~moecohort.TooManyLookupsError`) and
    proposes :func:`~moecohort.estimate_presence` or an export. If some ids could not be
    looked up, it raises :class:`~moecohort.LookupFailedError` rather than drop them. The
    kept frame's ``attrs["moecohort_lookup"]`` holds the lookup's counts. Other keywords
    are the lookup settings of :func:`~moecohort.lookup_users`.
    """
    if not isinstance(destination, (AppCredentials, str)):
        if lookup_options:
            raise InputError(
                f"{', '.join(sorted(lookup_options))}: lookup settings only apply when the "
                "destination is an app (AppCredentials or a profile name), not an export.",
                param=sorted(lookup_options)[0],
            )
        return keep_in_export(
            df, destination, id_col, destination_col=destination_col, placeholders=placeholders
        )
    if destination_col is not None:
        raise InputError(
            "destination_col names a column of an export; the destination here is an app.",
            param="destination_col",
        )
    limit = check_limit(max_lookups)
    options = LookupOptions.from_kwargs(progress, lookup_options)
    creds = get_credentials(destination)
    require_column(df, id_col)
    started = options.now()
    ids = to_arrow_ids(df[id_col], column=id_col, frame=df)
    valid, by_reason = without_anonymous(ids, placeholders)
    unique = pc.unique(valid.cast(pa.large_string())).to_pylist() if len(valid) else []
    check_count(
        len(unique),
        limit,
        options.users_per_minute,
        "Estimate how many would land with estimate_presence(df, app) (a sample, about 23 s), "
        "or filter with an export of the destination app: "
        "keep_in_destination(df, export_df, id_col).",
    )
    if len(unique) == 0:
        return df.iloc[0:0].copy()
    source = IdSource(
        id_col, len(ids), by_reason, len(valid) - len(unique), len(unique), lambda: iter(())
    )
    result = run_lookup(creds, source, unique, len(unique), [UID_FIELD], options, started)
    if not result.ok:
        raise LookupFailedError(
            "keep_in_destination kept nothing: " + result.failure_message(), result
        )
    kept = keep_rows(df, id_col, pa.chunked_array([pa.array(result.found_ids, pa.large_string())]))
    kept.attrs["moecohort_lookup"] = {
        "workspace_id": creds.workspace_id,
        "found": result.n_found,
        "not_found": result.n_not_found,
        "skipped_anonymous": result.skipped_anonymous,
        "skipped_duplicates": result.skipped_duplicates,
        "requests": result.requests,
    }
    return kept
