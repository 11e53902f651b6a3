"""The overlap as a linear Venn diagram (matplotlib, optional: ``pip install
moecohort[widgets]``): what :meth:`~moecohort.matching.OverlapReport.plot` and
:func:`moecohort.charts.plot_overlap` draw.

The diagram takes the counts (:class:`VennCounts`), not the report, so it needs nothing
from the rest of the package. The matplotlib plumbing here (:func:`pyplot`, :func:`axes`,
:func:`tidy`) and :data:`COLORS` are shared with :mod:`moecohort.charts`. matplotlib is
imported inside the functions; without it they raise an ImportError saying what to
install.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["COLORS", "VennCounts", "axes", "draw_venn", "pyplot", "tidy"]

#: Colours: shared users, source-only, destination-only, then the rest (colour-blind safe).
COLORS: dict[str, str] = {
    "both": "#1b9e77",
    "source": "#7570b3",
    "destination": "#d95f02",
    "other": "#a6a6a6",
}


def pyplot() -> Any:
    """``matplotlib.pyplot``; ImportError saying what to install when it is missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "moecohort's charts need matplotlib: pip install 'moecohort[widgets]' "
            "(or pip install matplotlib)"
        ) from exc
    return plt


def axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax``, or when None the Axes of a new figure of ``figsize`` inches."""
    if ax is not None:
        return ax
    plt = pyplot()
    _fig, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


def tidy(ax: Any) -> None:
    """Only the bottom spine, no tick marks on the y axis."""
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)


class VennCounts(NamedTuple):
    """What the diagram shows. Pairs are (source, destination)."""

    labels: tuple[str, str]
    only_source: int
    in_both: int
    only_destination: int
    #: Unique ids per app.
    unique: tuple[int, int]
    #: Rows left out per app: anonymous ones, duplicate ones.
    anonymous: tuple[int, int]
    duplicates: tuple[int, int]
    near_misses: int
    #: Share of the source's unique ids that the destination has (0..1).
    match_rate: float


def draw_venn(counts: VennCounts, ax: Any = None, *, title: str | None = None) -> Any:
    """Draw an overlap as a linear Venn diagram and return the matplotlib Axes.

    One bar per app, aligned so the users in both apps (the only ones a cohort in the
    destination can hold) line up in the middle; users only in the source are on the
    left, users only in the destination on the right. Counts are unique ids; the
    footnote gives the anonymous and duplicate rows left out and the near misses.
    """
    ax = axes(ax, (9, 3.2))
    from matplotlib.ticker import FuncFormatter

    only_s, both, only_d = counts.only_source, counts.in_both, counts.only_destination
    src, dst = counts.labels
    rows = [
        (f"{src}\n{counts.unique[0]:,} users", [(0, only_s, "source"), (only_s, both, "both")]),
        (
            f"{dst}\n{counts.unique[1]:,} users",
            [(only_s, both, "both"), (only_s + both, only_d, "destination")],
        ),
    ]
    total = max(only_s + both + only_d, 1)
    labels = {"source": f"only in {src}", "both": "in both apps", "destination": f"only in {dst}"}
    seen: set[str] = set()
    for y, (_label, segments) in enumerate(rows):
        for start, width, kind in segments:
            if width <= 0:
                continue
            ax.barh(
                y,
                width,
                left=start,
                height=0.62,
                color=COLORS[kind],
                edgecolor="white",
                label=None if kind in seen else labels[kind],
            )
            seen.add(kind)
            wide = width / total > 0.16
            text = f"{width:,}\n{labels[kind]}" if wide else f"{width:,}"
            inside = width / total > 0.07
            ax.text(
                start + width / 2,
                y,
                text,
                ha="center",
                va="center" if inside else "bottom",
                color="white" if inside else "#333333",
                fontsize=9.5,
                fontweight="bold",
                clip_on=False,
            )
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, total)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(v):,}"))
    ax.set_xlabel("unique user ids")
    tidy(ax)
    ax.set_title(
        title or f"{both:,} users are in both apps: {counts.match_rate:.0%} of {src}'s users",
        loc="left",
        fontsize=12,
    )
    left_out = (
        f"left out: {counts.anonymous[0]:,} anonymous and {counts.duplicates[0]:,} "
        f"duplicate rows in {src}, {counts.anonymous[1]:,} and "
        f"{counts.duplicates[1]:,} in {dst}"
    )
    near = counts.near_misses
    if near:
        left_out += f";\n{near:,} near misses (ids differing only by spaces or case) not matched"
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.22), ncol=3, frameon=False, fontsize=9)
    ax.annotate(
        left_out,
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(0, -70),
        textcoords="offset points",
        fontsize=8,
        color="#57606a",
    )
    return ax
