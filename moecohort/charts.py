"""Charts for notebooks (matplotlib, optional: ``pip install moecohort[widgets]``).

* :func:`plot_overlap`: who is in both apps and who is only in one, as a linear Venn
  diagram (what :meth:`moecohort.OverlapReport.plot` draws).
* :func:`plot_compare`: one column compared across groups of users (e.g. shared vs
  exclusive): shares of each value for a categorical column, box plots for a number.
* :func:`membership`: the group of each row of an export (in both apps, only in this
  app, anonymous), to compare with :func:`plot_compare`.

matplotlib is imported inside the functions, so ``import moecohort.charts`` works
without it; calling a chart without it raises an ImportError saying what to install.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .ids import canonical_ids, is_anonymous
from .matching import OverlapReport
from .matching.venn import COLORS, axes, tidy

__all__ = ["COLORS", "membership", "plot_compare", "plot_overlap"]

_PALETTE = ["#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]


def plot_overlap(report: OverlapReport, ax: Any = None, *, title: str | None = None) -> Any:
    """Draw an overlap as a linear Venn diagram and return the matplotlib Axes.

    One bar per app, aligned so the users in both apps (the only ones a cohort in the
    destination can hold) line up in the middle; users only in the source are on the
    left, users only in the destination on the right. Counts are unique ids; the
    footnote gives the anonymous and duplicate rows left out and the near misses.
    (The drawing: :func:`moecohort.matching.venn.draw_venn`.)
    """
    return report.plot(ax, title=title)


def membership(
    df: pd.DataFrame,
    report: OverlapReport,
    id_col: str | None = None,
    *,
    side: str = "source",
) -> pd.Series:
    """Label each row of ``df`` with its group in ``report``: ``"in both apps"``,
    ``"only in <label>"`` or ``"anonymous"``.

    Args:
        df: the export of one side (the source by default).
        report: the overlap of the two apps.
        id_col: the id column (default: the column the overlap was computed on).
        side: ``"source"`` or ``"destination"``: which side ``df`` is.
    """
    if side not in ("source", "destination"):
        raise ValueError(f"side must be 'source' or 'destination', not {side!r}")
    column = id_col if id_col is not None else report.in_both.name
    if column is None or column not in df.columns:
        raise ValueError(f"give id_col: the id column of df (columns: {list(df.columns)})")
    ids = canonical_ids(df[column], column=str(column))
    label = report.source_label if side == "source" else report.destination_label
    shared = ids.isin(report.in_both).to_numpy(dtype=bool, na_value=False)
    anonymous = is_anonymous(ids).to_numpy(dtype=bool)  # ids: already canonical
    groups = pd.Series(f"only in {label}", index=df.index, name="group")
    groups[shared] = "in both apps"
    groups[anonymous] = "anonymous"
    order = ["in both apps", f"only in {label}", "anonymous"]
    return groups.astype(pd.CategoricalDtype(order))


def plot_compare(
    df: pd.DataFrame,
    column: str,
    by: str | pd.Series,
    *,
    ax: Any = None,
    title: str | None = None,
    order: Sequence[str] | None = None,
    levels: Sequence[Any] | None = None,
    unit: str = "",
) -> Any:
    """Compare ``column`` across the groups ``by`` and return the matplotlib Axes.

    A categorical column (text, bool, few values) is drawn as 100 % stacked bars, one per
    group, with the share of each value; a numeric column as box plots (outliers hidden)
    with each group's median written next to it.

    Args:
        df: the rows.
        column: what to compare (e.g. ``"Plan"``, ``"Lifetime Value"``).
        by: a column of ``df`` or a Series aligned with it (e.g. :func:`membership`).
        order: the groups, in this order (default: the categories, else sorted).
        levels: for a categorical column, its values in this order (e.g.
            ``["bronze", "silver", "gold"]``; default: the categories, else sorted).
        unit: appended to numbers (e.g. ``" USD"``).
    """
    groups = df[by] if isinstance(by, str) else by
    if len(groups) != len(df):
        raise ValueError("by must be a column of df or a Series of the same length")
    values = df[column]
    if order is None:
        if isinstance(groups.dtype, pd.CategoricalDtype):
            order = [str(c) for c in groups.cat.categories if (groups == c).any()]
        else:
            order = sorted(groups.dropna().astype(str).unique())
    keys = groups.astype(str)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique(dropna=True) <= 6:
        numeric = False
    if numeric:
        return _compare_numeric(values, keys, list(order), ax, title, column, unit)
    return _compare_shares(values, keys, list(order), ax, title, column, levels)


def _compare_numeric(
    values: pd.Series,
    keys: pd.Series,
    order: list[str],
    ax: Any,
    title: str | None,
    column: str,
    unit: str,
) -> Any:
    ax = axes(ax, (9, 0.8 + 0.7 * len(order)))
    data = [values[keys == g].dropna().to_numpy() for g in order]
    import matplotlib

    version = tuple(int(x) for x in re.findall(r"\d+", matplotlib.__version__)[:2])
    horizontal = {"orientation": "horizontal"} if version >= (3, 10) else {"vert": False}
    parts = ax.boxplot(
        data,
        **horizontal,
        showfliers=False,
        widths=0.55,
        patch_artist=True,
        medianprops={"color": "black", "linewidth": 1.5},
    )
    for i, box in enumerate(parts["boxes"]):
        box.set_facecolor(_PALETTE[i % len(_PALETTE)])
        box.set_alpha(0.75)
    for i, arr in enumerate(data, start=1):
        if len(arr):
            median = float(pd.Series(arr).median())
            ax.annotate(
                f"median {median:,.2f}{unit} (n={len(arr):,})",
                xy=(1.0, i),
                xycoords=("axes fraction", "data"),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
    ax.set_yticks(range(1, len(order) + 1), order)
    ax.invert_yaxis()
    ax.set_xlabel(column + (f" ({unit.strip()})" if unit.strip() else ""))
    tidy(ax)
    ax.set_title(title or f"{column} by group", loc="left", fontsize=12)
    return ax


def _compare_shares(
    values: pd.Series,
    keys: pd.Series,
    order: list[str],
    ax: Any,
    title: str | None,
    column: str,
    levels: Sequence[Any] | None,
) -> Any:
    ax = axes(ax, (9, 0.9 + 0.6 * len(order)))
    from matplotlib.ticker import PercentFormatter

    table = pd.crosstab(keys, values.astype("string").fillna("(missing)"), normalize="index")
    if levels is None and isinstance(values.dtype, pd.CategoricalDtype):
        levels = list(values.cat.categories)
    if levels is not None:
        wanted = [str(v) for v in levels]
        table = table.reindex(
            columns=wanted + [c for c in table.columns if c not in wanted], fill_value=0.0
        )
    table = table.reindex(order).fillna(0.0)
    counts = keys.value_counts()
    left = pd.Series(0.0, index=table.index)
    for i, category in enumerate(table.columns):
        share = table[category]
        ax.barh(
            range(len(order)),
            share.to_numpy(),
            left=left.to_numpy(),
            height=0.6,
            color=_PALETTE[i % len(_PALETTE)],
            edgecolor="white",
            label=str(category),
        )
        for y, (start, width) in enumerate(zip(left, share, strict=True)):
            if width >= 0.06:
                ax.text(
                    start + width / 2,
                    y,
                    f"{width:.0%}",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=9,
                    fontweight="bold",
                )
        left = left + share
    ax.set_yticks(range(len(order)), [f"{g}\n({int(counts.get(g, 0)):,} rows)" for g in order])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    tidy(ax)
    ax.legend(
        title=column,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=9,
    )
    ax.set_title(title or f"{column} by group", loc="left", fontsize=12)
    return ax
