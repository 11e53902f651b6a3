"""Users of an emulated workspace: uids, MoEngage's internal ids and attributes.

A user is a uid (``customer_id`` in the Data API) with a mapping of attributes. Every user
also has MoEngage's internal id (``id`` in the Get User API): the ``id`` attribute when
one was given (the sample exports' ``MoEngage User ID``), else a stable 24-hex-digit id
derived from the workspace and the uid (:func:`moengage_id`).

``add_workspace(users=...)`` takes any of:

* an iterable of uid strings (no attributes), as it always has;
* a mapping ``uid -> {attribute: value}`` (a value of None: no attributes);
* a list whose items are uid strings or dicts holding the uid under ``customer_id`` and
  the attributes beside it: ``[{"customer_id": "u1", "first_name": "Ana"}, "u2"]``.

Attribute names are non-empty strings; values anything JSON can hold (no NaN). A
``customer_id`` attribute must equal the uid and is not stored (the uid is); ``id`` must be a
non-empty string, unique in the workspace.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .common import hex_id

__all__ = [
    "NO_ATTRIBUTES",
    "Attributes",
    "UsersArg",
    "attributes_json",
    "moengage_id",
    "parse_users",
    "user_view",
]

#: A user's attributes (never holding ``customer_id``; ``id`` only when given explicitly).
Attributes = Mapping[str, Any]

#: What ``add_workspace(users=...)`` accepts (see the module docstring).
UsersArg = Iterable[Any] | Mapping[str, Mapping[str, Any] | None]

#: The attributes of a user registered by uid only (shared, read-only).
NO_ATTRIBUTES: Attributes = MappingProxyType({})


def moengage_id(workspace_id: str, uid: str, attributes: Attributes) -> str:
    """MoEngage's internal id of a user: its ``id`` attribute, else derived from the
    workspace and the uid (24 hex digits, the same on every run)."""
    given = attributes.get("id")
    if isinstance(given, str):
        return given
    return hex_id(workspace_id, "user", uid)


def user_view(
    workspace_id: str, uid: str, attributes: Attributes, fields: Sequence[str] | None = None
) -> dict[str, Any]:
    """The user as the Get User API shows it: ``customer_id``, ``id``, then the attributes.

    With ``fields`` only those attributes, in that order; a field the user does not have is
    left out. ``customer_id`` and ``id`` are always there. Values are copies.
    """
    out: dict[str, Any] = {
        "customer_id": uid,
        "id": moengage_id(workspace_id, uid, attributes),
    }
    names: Iterable[str] = attributes if fields is None else fields
    for name in names:
        if name in out or name not in attributes:
            continue
        value = attributes[name]
        out[name] = copy.deepcopy(value) if isinstance(value, (list, dict)) else value
    return out


def attributes_json(attributes: Attributes) -> str | None:
    """Attributes as compact JSON for storage; None for a user without attributes."""
    if not attributes:
        return None
    return json.dumps(dict(attributes), separators=(",", ":"), ensure_ascii=False)


def _check_uid(uid: Any) -> str:
    if not isinstance(uid, str):
        raise TypeError(f"every user id must be a str, got {type(uid).__name__}")
    return uid


def _clean(uid: str, attributes: Any) -> Attributes:
    """Validated attributes of ``uid`` (a new dict), or :data:`NO_ATTRIBUTES`."""
    if attributes is None:
        return NO_ATTRIBUTES
    if not isinstance(attributes, Mapping):
        raise TypeError(
            f"the attributes of user {uid!r} must be a mapping, got {type(attributes).__name__}"
        )
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"user {uid!r}: attribute names must be non-empty strings")
        if name == "customer_id":
            if value != uid:
                raise ValueError(f"user {uid!r}: customer_id {value!r} differs from the uid")
            continue
        if name == "id" and (not isinstance(value, str) or not value):
            raise ValueError(f"user {uid!r}: id must be a non-empty string")
        out[name] = value
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"user {uid!r}: attribute values must be JSON values ({exc})") from None
    return out if out else NO_ATTRIBUTES


def parse_users(users: UsersArg) -> dict[str, Attributes]:
    """``add_workspace(users=...)`` as ``{uid: attributes}``, in the order given.

    TypeError for a value of the wrong type (a single string, a uid that is not a str);
    ValueError for bad attributes, a uid given twice with attributes, or an ``id`` used by
    two users. A uid given twice without attributes is the same user.
    """
    if isinstance(users, (str, bytes)):
        raise TypeError("users must be an iterable of uid strings, not a single string")
    if isinstance(users, (list, tuple, set, frozenset)) and all(type(u) is str for u in users):
        return dict.fromkeys(users, NO_ATTRIBUTES)  # uids only: the fast path
    out: dict[str, Attributes] = {}
    if isinstance(users, Mapping):
        for uid, attributes in users.items():
            out[_check_uid(uid)] = _clean(uid, attributes)
    else:
        for item in users:
            if type(item) is str:  # the common case, kept fast for large workspaces
                if out.setdefault(item, NO_ATTRIBUTES) is not NO_ATTRIBUTES:
                    raise ValueError(f"user {item!r} is given twice")
            elif isinstance(item, Mapping):
                if item.get("customer_id") is None:
                    raise ValueError("a user given as a dict needs its uid under 'customer_id'")
                uid = _check_uid(item["customer_id"])
                if uid in out:
                    raise ValueError(f"user {uid!r} is given twice")
                out[uid] = _clean(uid, item)
            else:
                out.setdefault(_check_uid(item), NO_ATTRIBUTES)
    seen: dict[str, str] = {}
    for uid, attributes in out.items():
        if attributes is NO_ATTRIBUTES:
            continue
        given = attributes.get("id")
        if given is None:
            continue
        other = seen.setdefault(given, uid)
        if other != uid:
            raise ValueError(f"users {other!r} and {uid!r} have the same id {given!r}")
    return out
