"""Cohort names and ids: what MoEngage accepts, a clean name to suggest, stable ids."""

from __future__ import annotations

import re
import uuid

from .._constants import FORBIDDEN_COHORT_NAME_CHARS
from ..errors import CohortNameError, InputError

__all__ = [
    "COHORT_NAMESPACE",
    "check_cohort_id",
    "cohort_id_for",
    "suggest_cohort_name",
    "validate_cohort_name",
]

#: Namespace for ids derived from names (uuid5): the same name always gives the same id.
COHORT_NAMESPACE = uuid.UUID("6f1b1f7e-52c1-4d8e-9b7a-1c0f5a0e2b64")


def validate_cohort_name(name: object) -> str:
    """Return ``name`` if MoEngage will accept it as a cohort name, else raise
    :class:`~moecohort.CohortNameError` saying why, with a suggested clean name."""
    if not isinstance(name, str):
        raise CohortNameError(
            f"The cohort name must be text, not {type(name).__name__}.",
            name=str(name),
            suggestion=None,
        )
    problems = []
    if not name.strip():
        problems.append("it is empty")
    if name.startswith("."):
        problems.append("it starts with '.'")
    bad = sorted({c for c in name if c in FORBIDDEN_COHORT_NAME_CHARS})
    if bad:
        problems.append("it contains " + " ".join(bad))
    if not problems:
        return name
    suggestion = suggest_cohort_name(name)
    hint = f" Try {suggestion!r}." if suggestion else ""
    raise CohortNameError(
        f"Cohort name {name!r} would be rejected by MoEngage: {'; '.join(problems)}. "
        f'Names must not be empty, start with ".", or contain | * ? \\ : < > = $ " '
        f"or parentheses.{hint}",
        name=name,
        suggestion=suggestion,
    )


def suggest_cohort_name(name: str) -> str | None:
    """A cleaned version of ``name`` that MoEngage accepts (None if nothing is left).

    Forbidden characters become spaces, runs of whitespace collapse to one space,
    and leading periods are removed: ``"VIP (US): Q3"`` -> ``"VIP US Q3"``.
    """
    cleaned = "".join(" " if c in FORBIDDEN_COHORT_NAME_CHARS else c for c in str(name))
    cleaned = re.sub(r"^[\s.]+", "", re.sub(r"\s+", " ", cleaned)).strip()
    return cleaned or None


def cohort_id_for(cohort_name: str) -> str:
    """The stable cohort id moecohort uses for a name (a UUID5 of the exact name)."""
    return str(uuid.uuid5(COHORT_NAMESPACE, cohort_name))


def check_cohort_id(cohort_id: str | None, cohort_name: str) -> str:
    """``cohort_id`` when it is usable, else the stable id of ``cohort_name``."""
    if cohort_id is None:
        return cohort_id_for(cohort_name)
    if not isinstance(cohort_id, str) or not cohort_id.strip():
        raise InputError(f"cohort_id must be non-empty text, not {cohort_id!r}.", param="cohort_id")
    return cohort_id
