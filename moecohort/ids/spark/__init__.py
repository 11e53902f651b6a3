"""Spark DataFrames: the id rules of :mod:`moecohort.ids` run in Spark (``pip install
moecohort[spark]``).

* this module: :func:`is_spark_frame`, which tells a Spark DataFrame by its type's name,
  so that ``import moecohort`` and every pandas call stay free of pyspark;
* :mod:`~moecohort.ids.spark.rules`: the canonical id, anonymous ids and near-miss keys
  as Spark expressions, classified once per distinct id (:func:`classify_distinct`);
* :mod:`~moecohort.ids.spark.stream`: a Spark DataFrame's distinct ids and its counts,
  computed in Spark, streamed to the driver part by part (what push and sync read).

The overlap in Spark lives in :mod:`moecohort.matching.spark`.
"""

from __future__ import annotations

__all__ = ["is_spark_frame"]


def is_spark_frame(obj: object) -> bool:
    """Whether ``obj`` is a Spark DataFrame (classic or Spark Connect).

    Told by the module and name of its type's bases, so pyspark is never imported here.
    """
    return any(
        cls.__name__ == "DataFrame" and cls.__module__ == "pyspark.sql.dataframe"
        for cls in type(obj).__mro__
    )
