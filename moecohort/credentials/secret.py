"""Secrets that never show themselves: :class:`SecretStr` and :func:`mask_secret`.

The Data API key is wrapped in :class:`SecretStr` as soon as it enters moecohort, so
``repr``, ``str``, f-strings, logging and exception messages only ever show a masked form
such as ``****9f2a``. The raw key leaves an :class:`~moecohort.credentials.AppCredentials`
object in exactly two places: :meth:`~moecohort.credentials.AppCredentials.basic_auth`
(for ``requests``) and :meth:`SecretStr.get_secret_value`.
"""

from __future__ import annotations

import hmac

__all__ = ["SecretStr", "mask_secret"]

#: What a masked value starts with (all of it for short values). Shared with
#: :mod:`.profiles`, which recognises the masked key hints it stores.
MASK = "****"
_MIN_LEN_FOR_HINT = 12


def mask_secret(value: str | SecretStr | None) -> str:
    """Return a form of ``value`` that is safe to show or log.

    Values of 12 characters or more keep their last four characters (``****9f2a``), so a
    user can tell two keys apart; shorter values (and ``None``) become just ``****``.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < _MIN_LEN_FOR_HINT:
        return MASK
    return MASK + value[-4:]


class SecretStr:
    """A string that never shows itself: ``repr``, ``str`` and ``format`` give ``****9f2a``.

    Use :meth:`get_secret_value` to obtain the real value. Equality is constant-time
    (:func:`hmac.compare_digest`) and only defined between two :class:`SecretStr`.
    Pickling (and :func:`copy.deepcopy`) keep the real value; the object has no
    ``__dict__``, so :func:`vars` cannot expose it.
    """

    __slots__ = ("_secret",)

    _secret: str

    def __init__(self, value: str | SecretStr) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"SecretStr wraps a str, not {type(value).__name__}")
        object.__setattr__(self, "_secret", value)

    def get_secret_value(self) -> str:
        """Return the real, unmasked value."""
        return self._secret

    @property
    def masked(self) -> str:
        """The masked form, e.g. ``****9f2a`` (see :func:`mask_secret`)."""
        return mask_secret(self._secret)

    def __repr__(self) -> str:
        return f"SecretStr({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, format_spec: str) -> str:
        return format(self.masked, format_spec)

    def __len__(self) -> int:
        return len(self._secret)

    def __bool__(self) -> bool:
        return bool(self._secret)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretStr):
            return NotImplemented
        return hmac.compare_digest(
            self._secret.encode("utf-8", "surrogatepass"),
            other._secret.encode("utf-8", "surrogatepass"),
        )

    def __hash__(self) -> int:
        return hash((SecretStr, self._secret))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SecretStr is immutable")

    def __reduce__(self) -> tuple[type[SecretStr], tuple[str]]:
        return (SecretStr, (self._secret,))
