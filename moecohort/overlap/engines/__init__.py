"""Where the overlap's set work runs: per distinct id, its first row and whether the
destination has it.

* :mod:`~moecohort.overlap.engines.arrow`: pyarrow's dictionary encoding, one hash
  partition per thread on large inputs (always available);
* :mod:`~moecohort.overlap.engines.duck`: DuckDB ``GROUP BY`` queries, one per core;
* :mod:`~moecohort.overlap.engines.numba`: moecohort's own compiled kernels.

Nothing is imported here: numba and DuckDB load only when their engine runs
(:mod:`moecohort.overlap.compute` picks the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Runner"]

#: Runs a list of tasks and returns their results in order, in threads or not: what
#: :mod:`~moecohort.overlap.compute` hands the numba engine and the near-miss search.
Runner = Callable[[list[Callable[[], Any]]], list[Any]]
