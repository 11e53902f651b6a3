"""The ``df.moe`` pandas accessor: the library's functions as DataFrame methods.

Registered as soon as both moecohort and pandas are imported (in either order)::

    import moecohort  # noqa: F401
    clean = df.moe.drop_anonymous(id_col="ID")
    report = clean.moe.overlap(dest_users, on="ID")
    presence = clean.moe.estimate_presence(app, id_col="ID")
    result = clean.moe.push(app, "High intent shoppers", id_col="ID")

Each method is the module-level function with ``df`` as its first argument. The
functions are imported when a method is called, so registering costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .fanout import MultiAppResult
    from .ids import AnonymousReport
    from .lookup import PresenceEstimate
    from .matching import OverlapReport
    from .results import PushResult, SyncResult

__all__ = ["MoeAccessor"]


@pd.api.extensions.register_dataframe_accessor("moe")
class MoeAccessor:
    """``df.moe``: identifier hygiene, overlap and cohort pushes for a DataFrame."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def canonical_ids(self, id_col: str = "uid") -> pd.Series:
        """The canonical text form of ``df[id_col]`` (see :func:`moecohort.canonical_ids`)."""
        from .ids import canonical_ids, require_column

        require_column(self._df, id_col)
        return canonical_ids(self._df[id_col], column=id_col)

    def drop_anonymous(self, id_col: str = "uid", **kwargs: Any) -> Any:
        """Same as :func:`moecohort.drop_anonymous`."""
        from .ids import drop_anonymous

        return drop_anonymous(self._df, id_col, **kwargs)

    def anonymous_report(self, id_col: str = "uid", **kwargs: Any) -> AnonymousReport:
        """Same as :func:`moecohort.anonymous_report`."""
        from .ids import anonymous_report

        return anonymous_report(self._df, id_col, **kwargs)

    def overlap(
        self, other: Any, on: str | tuple[str, str] = "uid", **kwargs: Any
    ) -> OverlapReport:
        """Same as :func:`moecohort.overlap` with this frame as the source."""
        from .matching import overlap

        return overlap(self._df, other, on=on, **kwargs)

    def keep_in_destination(
        self, destination: Any, id_col: str = "uid", **kwargs: Any
    ) -> pd.DataFrame:
        """Same as :func:`moecohort.keep_in_destination`: ``destination`` is an export of the
        destination app, or the app itself (an ``AppCredentials`` or a profile name)."""
        from .lookup import keep_in_destination

        return keep_in_destination(self._df, destination, id_col, **kwargs)

    def estimate_presence(self, app: Any, id_col: str = "uid", **kwargs: Any) -> PresenceEstimate:
        """Same as :func:`moecohort.estimate_presence`: how many of these users ``app`` knows."""
        from .lookup import estimate_presence

        return estimate_presence(self._df, app, id_col=id_col, **kwargs)

    def push(self, app: Any, cohort_name: str, **kwargs: Any) -> PushResult | MultiAppResult:
        """Same as :func:`moecohort.push_cohort`; with a list of apps,
        :func:`moecohort.push_to_apps`."""
        if isinstance(app, (list, tuple)):
            from .fanout import push_to_apps

            return push_to_apps(self._df, app, cohort_name, **kwargs)
        from .push import push_cohort

        return push_cohort(self._df, app, cohort_name, **kwargs)

    def sync(self, app: Any, cohort_name: str, **kwargs: Any) -> SyncResult | MultiAppResult:
        """Same as :func:`moecohort.sync_cohort` (make the cohort hold exactly these users);
        with a list of apps, :func:`moecohort.sync_to_apps`."""
        if isinstance(app, (list, tuple)):
            from .fanout import sync_to_apps

            return sync_to_apps(self._df, app, cohort_name, **kwargs)
        from .sync import sync_cohort

        return sync_cohort(self._df, app, cohort_name, **kwargs)
