"""Where the overlap's set work runs: per distinct id, its first row and whether the
destination has it.

* :mod:`~moecohort.matching.engines.arrow`: pyarrow's dictionary encoding, one hash
  partition per thread on large inputs (always available);
* :mod:`~moecohort.matching.engines.duck`: DuckDB ``GROUP BY`` queries, one per core;
* :mod:`~moecohort.matching.engines.numba`: moecohort's own compiled kernels.

Nothing is imported here: numba and DuckDB load only when their engine runs
(:mod:`moecohort.matching.compute` picks the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Runner"]

#: Runs a list of tasks and returns their results in order, in threads or not: what
#: :mod:`~moecohort.matching.compute` hands the numba engine and the near-miss search.
Runner = Callable[[list[Callable[[], Any]]], list[Any]]
