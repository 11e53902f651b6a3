"""Fixtures for the emulator tests: a started emulator with one workspace, and a tiny
HTTP helper built on ``requests`` (never on the moecohort client)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from support import FakeClock

from moecohort.emulator import Emulator
from moecohort.emulator.facts import COHORT_SYNC_PATH, CUSTOM_SEGMENTS_PATH, GET_USER_PATH

WS = "WS-TEST"
KEY = "test-key-0123456789"
USERS = ["u1", "u2", "u3", "U1", " u4", "user 5"]


def basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


class Api:
    """Posts to the emulator's Cohort Sync endpoint with one keep-alive session."""

    ws = WS
    key = KEY
    users = USERS

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()

    basic = staticmethod(basic)

    @staticmethod
    def error_of(response: requests.Response) -> dict[str, Any]:
        """The ``error`` object of an envelope, after checking the envelope's shape."""
        body = response.json()
        assert body["status"] == "fail"
        assert set(body["error"]) == {"attribute", "message", "type", "request_id"}
        assert body["error"]["request_id"] == response.headers["x-request-id"]
        return body["error"]

    @property
    def url(self) -> str:
        return self.emu.url + COHORT_SYNC_PATH

    @staticmethod
    def partner_body(
        action: str, cohort_id: str, uids: Iterable[str], name: str | None = None, **params: Any
    ) -> dict[str, Any]:
        return {
            "action": action,
            "partner": "pytest",
            "parameters": {
                "cohort_name": name if name is not None else f"name {cohort_id}",
                "cohort_id": cohort_id,
                "members": [{"uid": u} for u in uids],
                **params,
            },
        }

    @staticmethod
    def segment_body(
        sync_id: str,
        add: Iterable[str] | None = None,
        remove: Iterable[str] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "moengage_sync_id": sync_id,
            "moengage_sync_name": name if name is not None else f"name {sync_id}",
            "moengage_execution_id": "exec-1",
            "moengage_integration_id": "integ-1",
        }
        if add is not None:
            data["add_users"] = [{"moengage_distinct_id": f"d-{u}", "uid": u} for u in add]
        if remove is not None:
            data["remove_users"] = [{"uid": u} for u in remove]
        return {
            "type": "segment_sync",
            "pagination": {"total_pages": 1, "page_count": 1},
            "data": data,
        }

    def post(
        self,
        body: Any = None,
        *,
        raw: bytes | None = None,
        ws: str | None = None,
        key: str | None = None,
        appkey: str | None = "<ws>",
        authorization: str | None = "<basic>",
        content_type: str | None = "application/json",
        segment: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        ws = self.ws if ws is None else ws
        key = self.key if key is None else key
        h: dict[str, str] = {}
        if authorization == "<basic>":
            h["Authorization"] = basic(ws, key)
        elif authorization is not None:
            h["Authorization"] = authorization
        if appkey == "<ws>":
            h["MOE-APPKEY"] = ws
        elif appkey is not None:
            h["MOE-APPKEY"] = appkey
        if content_type is not None:
            h["Content-Type"] = content_type
        if segment:
            h["MOE-DESTINATION-PARTNER"] = "moengage"
        h.update(headers or {})
        data = raw if raw is not None else json.dumps(body).encode()
        return self.session.post(self.url, data=data, headers=h, timeout=10)

    def add(self, cohort_id: str, uids: Iterable[str], **kw: Any) -> requests.Response:
        return self.post(self.partner_body("add_members", cohort_id, uids, **kw))

    def remove(self, cohort_id: str, uids: Iterable[str], **kw: Any) -> requests.Response:
        return self.post(self.partner_body("remove_members", cohort_id, uids, **kw))

    def segment(self, sync_id: str, **kw: Any) -> requests.Response:
        return self.post(self.segment_body(sync_id, **kw), segment=True)

    # --- the Get User API ---------------------------------------------------------------------
    @staticmethod
    def lookup_body(
        identifiers: Iterable[str | tuple[str, str]], fields: list[str] | None = None
    ) -> dict[str, Any]:
        """A Get User body; a plain string is a ``customer_id``, a pair is (type, identifier)."""
        items = []
        for ident in identifiers:
            kind, value = ("customer_id", ident) if isinstance(ident, str) else ident
            items.append({"identifier_type": kind, "identifier": value})
        data: dict[str, Any] = {"identifiers": items}
        if fields is not None:
            data["user_fields_to_export"] = fields
        return {"data": data}

    def lookup(
        self,
        identifiers: Iterable[str | tuple[str, str]] = (),
        fields: list[str] | None = None,
        *,
        body: Any = None,
        raw: bytes | None = None,
        ws: str | None = None,
        key: str | None = None,
        app_id: str | None = "<ws>",
        authorization: str | None = "<basic>",
        content_type: str | None = "application/json",
    ) -> requests.Response:
        """POST to the Get User API (``app_id`` defaults to the Basic-auth workspace)."""
        ws = self.ws if ws is None else ws
        key = self.key if key is None else key
        h: dict[str, str] = {}
        if authorization == "<basic>":
            h["Authorization"] = basic(ws, key)
        elif authorization is not None:
            h["Authorization"] = authorization
        if content_type is not None:
            h["Content-Type"] = content_type
        params = {"app_id": ws if app_id == "<ws>" else app_id} if app_id is not None else None
        if raw is None:
            raw = json.dumps(body if body is not None else self.lookup_body(identifiers, fields))
            raw = raw.encode()
        return self.session.post(
            self.emu.url + GET_USER_PATH, params=params, data=raw, headers=h, timeout=10
        )

    # --- the Custom Segments API --------------------------------------------------------------
    def segments(
        self,
        segment_id: str | None = None,
        *,
        name: str | None = None,
        params: Any = None,
        ws: str | None = None,
        key: str | None = None,
        appkey: str | None = "<ws>",
        authorization: str | None = "<basic>",
        method: str = "GET",
    ) -> requests.Response:
        """GET the segments list (``name`` filters) or, with ``segment_id``, one segment."""
        ws = self.ws if ws is None else ws
        key = self.key if key is None else key
        h: dict[str, str] = {}
        if authorization == "<basic>":
            h["Authorization"] = basic(ws, key)
        elif authorization is not None:
            h["Authorization"] = authorization
        if appkey == "<ws>":
            h["MOE-APPKEY"] = ws
        elif appkey is not None:
            h["MOE-APPKEY"] = appkey
        url = self.emu.url + CUSTOM_SEGMENTS_PATH
        if segment_id is not None:
            url += "/" + quote(segment_id, safe="")
        if params is None and name is not None:
            params = {"name": name}
        return self.session.request(method, url, params=params, headers=h, timeout=10)

    @staticmethod
    def segments_error(response: requests.Response) -> dict[str, Any]:
        """The ``error`` of a Custom Segments envelope, after checking the envelope's shape."""
        body = response.json()
        assert set(body) == {"response_id", "type", "error"}
        assert body["type"] == "custom_segment"
        assert body["response_id"] == response.headers["x-request-id"]
        assert set(body["error"]) == {"code", "message"}
        return body["error"]

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        kwargs: dict[str, Any] = {"timeout": 10}
        if body is not None:
            kwargs["json"] = body
        return self.session.request(method, self.emu.url + "/_emulator" + path, **kwargs)


@pytest.fixture
def emu(moe_emulator: Emulator) -> Emulator:
    """The plugin's emulator with workspace WS-TEST registered."""
    moe_emulator.add_workspace(WS, KEY, USERS)
    return moe_emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[Api]:
    helper = Api(emu)
    yield helper
    helper.session.close()


@pytest.fixture
def make_api() -> Iterator[Any]:
    """Build an :class:`Api` for an emulator the test starts itself."""
    made: list[Api] = []

    def make(emulator: Emulator, ws: str | None = None, key: str | None = None) -> Api:
        helper = Api(emulator)
        if ws is not None:
            helper.ws = ws
        if key is not None:
            helper.key = key
        made.append(helper)
        return helper

    yield make
    for helper in made:
        helper.session.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
