"""The sample exports of two apps shipped with moecohort (see ``data/samples/README.md``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._constants import SAMPLE_DESTINATION_FILE as DESTINATION_FILE
from ._constants import SAMPLE_SOURCE_FILE as SOURCE_FILE

__all__ = ["DESTINATION_FILE", "SOURCE_FILE", "load_samples", "samples_dir"]


def samples_dir() -> Path:
    """Where the sample CSV files are: inside an installed wheel, or ``data/samples``
    of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_samples", here.parent / "data" / "samples"):
        if (candidate / SOURCE_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        "The sample exports were not found (looked in moecohort/_samples and data/samples)."
    )


def load_samples() -> tuple[pd.DataFrame, pd.DataFrame]:
    """App A's segment export and app B's users export, read as a user would
    (``pd.read_csv`` with its defaults)."""
    folder = samples_dir()
    return pd.read_csv(folder / SOURCE_FILE), pd.read_csv(folder / DESTINATION_FILE)
