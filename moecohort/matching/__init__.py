"""Identifier overlap between two apps: who is in both, who is only on one side.

The seed flow needs users that exist in both apps under the same ``uid``. This
package tells how many do, lists them, and points out "near misses" (ids that
would only match after trimming, case folding or Unicode normalisation), which
are reported and never merged.

Modules, each importing only from those listed after it:

* :mod:`~moecohort.matching.compute`: :func:`overlap` and :func:`keep_in_destination`:
  reads the sides, picks the engine (``AUTO_FAST_ROWS``, ``PARTITION_ROWS`` live there),
  runs the threads;
* :mod:`~moecohort.matching.report`: :class:`OverlapReport` and :class:`SideStats`, the
  lazily built sets, the text and notebook views;
* :mod:`~moecohort.matching.venn`: the linear Venn diagram ``OverlapReport.plot`` draws;
* :mod:`~moecohort.matching.near_miss`: the near-miss keys and the search for the pairs;
* :mod:`~moecohort.matching.engines`: the set work: ``arrow`` (pyarrow), ``duck``
  (DuckDB) and ``numba`` (compiled kernels), the last two loaded only when used;
* :mod:`~moecohort.matching.columns`: id columns as Arrow large_string with anonymous rows
  masked, and keeping a frame's rows by id.
"""

from __future__ import annotations

from .compute import keep_in_destination, overlap
from .report import OverlapReport, SideStats

__all__ = ["OverlapReport", "SideStats", "keep_in_destination", "overlap"]
