"""The overlap of two apps' ids when a side is a Spark DataFrame (``pip install
moecohort[spark]``): the set work runs in Spark, only the counts and the near misses come
back to the driver.

* :mod:`~moecohort.matching.spark.compute`: :func:`overlap_spark` and
  :func:`keep_in_destination_spark`, which :func:`moecohort.overlap` and
  :func:`moecohort.keep_in_destination` hand Spark DataFrames to;
* :mod:`~moecohort.matching.spark.report`: :class:`SparkOverlapReport`, whose three sets
  stay Spark DataFrames.

The id rules in Spark are :mod:`moecohort.ids.spark`'s. Nothing here is imported by
``import moecohort``: pyspark loads only when a Spark DataFrame is given.
"""

from __future__ import annotations

from .compute import keep_in_destination_spark, overlap_spark
from .report import SparkOverlapReport

__all__ = ["SparkOverlapReport", "keep_in_destination_spark", "overlap_spark"]
