"""The request seam shared by venue dialects: parse, apply transport faults, authenticate, route."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.execution.fake_exchange.engine import FakeAccount, FakeOrder, FakeReject, Reject


class TransportTimeout(Exception):
    """The transport must time out (the in-process fetch raises RequestTimeout, HTTP stalls)."""


class TransportDown(Exception):
    """The transport must fail as a broken connection."""


@dataclass
class FakeRequest:
    method: str
    host: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json_body: Any
    headers: dict[str, str]
    raw_query: str
    raw_body: str

    @property
    def params(self) -> dict[str, Any]:
        body = self.json_body if isinstance(self.json_body, dict) else {}
        return {**self.query, **self.form, **body}

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Handler = Callable[[FakeAccount, FakeRequest], Any]


@dataclass
class Route:
    handler: Handler
    private: bool = True


@dataclass
class Dialect:
    """One venue's REST surface over a ``FakeAccount``."""

    account: FakeAccount
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: str | None
    ) -> tuple[int, str]:
        request = _parse(method, url, headers, body)
        self.account.requests.append((method, request.path))
        fault = self.account.take_transport_fault(method, request.path)
        if fault == "network":
            raise TransportDown(request.path)
        route = self.routes.get((method, request.path))
        if route is None:
            self.unknown.append(f"{method} {request.path}")
            return 404, json.dumps(
                self.error_body(Reject.NOT_FOUND, f"no route {method} {request.path}")
            )
        try:
            if fault == "rate_limited":
                raise FakeReject(Reject.RATE_LIMITED, "scripted")
            if route.private:
                self.authenticate(request)
            return 200, json.dumps(self.wrap(route.handler(self.account, request)))
        except FakeReject as reject:
            return self.error_status(reject.kind), json.dumps(
                self.error_body(reject.kind, reject.detail)
            )

    def create(self, **order: Any) -> FakeOrder:
        """Place an order through the scripted create faults."""
        mode = self.account.take_create_fault()
        if mode == "before":
            raise TransportTimeout("create timed out before the venue saw it")
        placed = self.account.place(**order)
        if mode == "after":
            placed.hidden_lookups = self.account.faults.hide_for_lookups
            raise TransportTimeout("create accepted, then timed out")
        return placed

    # ------------------------------------------------------------------ per venue
    def authenticate(self, request: FakeRequest) -> None:
        raise NotImplementedError

    def wrap(self, payload: Any) -> Any:
        return payload

    def error_status(self, kind: Reject) -> int:
        return 400

    def error_body(self, kind: Reject, detail: str) -> Any:
        raise NotImplementedError


def _parse(method: str, url: str, headers: dict[str, str], body: str | None) -> FakeRequest:
    parts = urlsplit(url)
    raw_body = body or ""
    json_body = None
    form: dict[str, str] = {}
    if raw_body.startswith(("{", "[")):
        json_body = json.loads(raw_body)
    elif raw_body:
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
    return FakeRequest(
        method=method,
        host=parts.hostname or "",
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        form=form,
        json_body=json_body,
        headers=dict(headers or {}),
        raw_query=parts.query,
        raw_body=raw_body,
    )


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def num(value: Decimal | None) -> str:
    """Decimals as venue-style strings (no exponent)."""
    if value is None:
        return "0"
    return format(value.normalize(), "f") if value != 0 else "0"
