"""Delivery: the engine that both a push and a mirror sync drive.

* :mod:`~moecohort.delivery.settings`: the delivery settings, checked once
  (:func:`check_settings`);
* :mod:`~moecohort.delivery.runner`: :class:`Runner`, several requests in flight, every
  batch's users settled exactly once;
* :mod:`~moecohort.delivery.accounting`: :class:`Accounting`, the figures every result
  shares;
* :mod:`~moecohort.delivery.failures`: :class:`Failures`, the failed users, as a frame;
* :mod:`~moecohort.delivery.progress`: progress bars and callbacks;
* :mod:`~moecohort.delivery.sending`: :func:`send`, one call from jobs to what was sent.
"""

from __future__ import annotations

from .accounting import Accounting
from .failures import FAILED_COLUMNS, FailedPart, Failures, failed_frame
from .progress import CallbackProgress, Progress, ProgressOption, progress_bar
from .runner import INTERRUPTED, Job, Runner
from .sending import Pieces, Sent, Tally, jobs_of, plan_frame, send
from .settings import Action, Settings, Timeout, check_action, check_settings

__all__ = [
    "FAILED_COLUMNS",
    "INTERRUPTED",
    "Accounting",
    "Action",
    "CallbackProgress",
    "FailedPart",
    "Failures",
    "Job",
    "Pieces",
    "Progress",
    "ProgressOption",
    "Runner",
    "Sent",
    "Settings",
    "Tally",
    "Timeout",
    "check_action",
    "check_settings",
    "failed_frame",
    "jobs_of",
    "plan_frame",
    "progress_bar",
    "send",
]
