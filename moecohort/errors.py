"""One exception hierarchy, rooted in :class:`MoEngageError`; every error moecohort
raises on purpose is defined here.

Messages never contain an API key: credentials are only ever shown masked. Errors
about a setting or a column name it (``ConfigurationError.setting``,
``InputError.param`` and ``InputError.column``) in Python's words, so each face (the
command line, the widgets) can say which flag or field to change.

This module imports nothing from the rest of moecohort: it is the floor every other
module stands on.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "APIError",
    "AccountSuspendedError",
    "AllAnonymousError",
    "AuthenticationError",
    "CohortNameError",
    "ConfigurationError",
    "EmptyInputError",
    "InputError",
    "LookupFailedError",
    "LookupsNotEnabledError",
    "MoEngageError",
    "PayloadTooLargeError",
    "PushFailedError",
    "RateLimitError",
    "SyncLockedError",
    "TooManyLookupsError",
]


class MoEngageError(Exception):
    """Base class of every error moecohort raises on purpose."""


class ConfigurationError(MoEngageError, ValueError):
    """Credentials or settings are missing or invalid (data center, base URL, profile)."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        #: The setting at fault, by its Python name (``"data_center"``,
        #: ``"requests_per_minute"``...), when there is one.
        self.setting = setting


class InputError(MoEngageError, ValueError):
    """The data given to moecohort cannot be used; raised before anything is sent.

    ``str(error)`` is :attr:`problem` followed by :attr:`advice`, the fix in Python's
    words. With a :attr:`suggestion` the advice is built here, in one place:
    ``Did you mean id_col='ID'?`` (``param=suggestion``, or ``spelled`` when Python
    writes it otherwise, such as ``on=('ID', 'uid')``). Another face (the command line)
    shows :attr:`problem` with its own words for the fix: ``Did you mean --id-col ID?``.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Any = None,
        param: str | None = None,
        suggestion: Any = None,
        spelled: str | None = None,
        advice: str | None = None,
        path: str | None = None,
    ) -> None:
        if suggestion is not None and param is not None:
            advice = f"Did you mean {spelled or f'{param}={suggestion!r}'}?"
        super().__init__(f"{message} {advice}" if advice else message)
        #: What is wrong, without the advice.
        self.problem = message
        #: What to change, in Python's words (None when the problem says it all).
        self.advice = advice
        #: The column at fault, when there is one.
        self.column = column
        #: A small DataFrame of offending rows, when there are any (pandera-style).
        self.rows = rows
        #: The argument to change, by its Python name (``"id_col"``, ``"on"``...), when
        #: the fix is a different argument rather than different data. A missing column
        #: of the destination side is ``"destination_col"`` (``on[1]`` of ``overlap``,
        #: ``destination_col`` of ``keep_in_destination``).
        self.param = param
        #: The value to give ``param`` instead (a column name), when one is likely.
        self.suggestion = suggestion
        #: The file at fault, when the input was a path.
        self.path = path


class EmptyInputError(InputError):
    """The input has no rows at all."""


class AllAnonymousError(InputError):
    """Every id in the input is anonymous (missing, blank or a placeholder)."""


class CohortNameError(InputError):
    """The cohort name would be rejected by MoEngage. ``suggestion`` holds a clean name."""

    def __init__(self, message: str, *, name: str, suggestion: str | None) -> None:
        super().__init__(message, param="cohort_name")
        self.name = name
        self.suggestion = suggestion


class TooManyLookupsError(InputError):
    """Looking up every id would take longer than the limit moecohort holds itself to (the
    Get User API answers 1,000 users a minute). ``ids`` is how many there are, ``limit`` the
    most allowed (the argument ``param`` raises it)."""

    def __init__(self, message: str, *, ids: int, limit: int, param: str) -> None:
        super().__init__(message, param=param)
        self.ids = ids
        self.limit = limit


class Outcome(Protocol):
    """What a push or a sync did (:class:`moecohort.results.DeliveryResult` and its
    subclasses), as the errors below carry it."""

    @property
    def ok(self) -> bool: ...


class APIError(MoEngageError):
    """MoEngage answered with an error.

    ``status`` is the HTTP status; ``type``, ``message``, ``attribute`` and
    ``request_id`` come from MoEngage's error envelope
    ``{"status": "fail", "error": {...}}`` when the response carried one. ``hint``, when
    given, says what to do about it and ends the message.
    """

    def __init__(
        self,
        status: int | None,
        type: str | None = None,  # noqa: A002 - the API calls it "type"
        message: str | None = None,
        *,
        attribute: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.message = message
        self.attribute = attribute
        self.request_id = request_id
        self.hint = hint
        #: What the push or sync that this error stopped had done, when there is one.
        self.result: Outcome | None = None
        text = self._describe()
        super().__init__(f"{text.rstrip('.')}. {hint}" if hint else text)

    def _describe(self) -> str:
        parts = [f"HTTP {self.status}" if self.status is not None else "no response"]
        if self.type:
            parts.append(self.type)
        text = ": ".join(parts)
        if self.message:
            text += f" - {self.message}"
        if self.attribute:
            text += f" (attribute: {self.attribute})"
        if self.request_id:
            text += f" [request_id {self.request_id}]"
        return text

    @classmethod
    def from_response(cls, status: int, body: Any, *, hint: str | None = None) -> APIError:
        """Build the right subclass from a status and a parsed (or raw) body."""
        err: dict[str, Any] = {}
        if isinstance(body, dict):
            inner = body.get("error")
            if isinstance(inner, dict):
                err = inner
            elif isinstance(body.get("message"), str):
                err = {"message": body["message"]}
        elif isinstance(body, str) and body.strip():
            err = {"message": body.strip()[:300]}
        kind: type[APIError] = _STATUS_CLASSES.get(status, APIError)
        return kind(
            status,
            _str_or_none(err.get("type")),
            _str_or_none(err.get("message")),
            attribute=_str_or_none(err.get("attribute")),
            request_id=_str_or_none(err.get("request_id")),
            hint=hint,
        )


class AuthenticationError(APIError):
    """HTTP 401: the workspace ID or the Data API key was not accepted."""

    def _describe(self) -> str:
        return (
            super()._describe()
            + ". Check the workspace ID and the Data API key (MoEngage dashboard: "
            "Settings > Account > APIs > Data API)."
        )


class AccountSuspendedError(APIError):
    """HTTP 403: the workspace is blocked or suspended."""


class LookupsNotEnabledError(APIError):
    """The Get User API refused a workspace whose account is not suspended: MoEngage
    enables that API per workspace, on request."""


class RateLimitError(APIError):
    """HTTP 429, still failing after every retry."""


class PayloadTooLargeError(APIError):
    """HTTP 413 for a body that holds a single member: it cannot be split further."""


class PushFailedError(MoEngageError):
    """Raised by ``raise_for_status()`` of a push or sync result when some members (or
    changes) were not accepted."""

    def __init__(self, message: str, result: Outcome) -> None:
        super().__init__(message)
        self.result = result


class LookupFailedError(MoEngageError):
    """Some ids could not be looked up (their requests failed after every retry), so a
    decision that needs all of them (``keep_in_destination``) was not made. ``result`` is
    the :class:`moecohort.LookupResult`, ``result.failed`` says why for each id."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class SyncLockedError(MoEngageError):
    """Another mirror sync of the same cohort is running."""


_STATUS_CLASSES: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: AccountSuspendedError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
