"""A stand-in strategy service for server-level tests: every call fails the way the test says.

The real service is exercised by tests/tools; these tests only need to know what the tool
boundary makes of each kind of failure, and that transports work without a store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


class FailingService:
    """Every method raises ``error``; ``calls`` records (method, args) in order."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        async def method(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            raise self.error

        return method


def opener(service: object):
    """A ``build_server(open_service=...)`` that hands out ``service``."""

    @asynccontextmanager
    async def open_service(_settings: object) -> AsyncIterator[object]:
        yield service

    return open_service


def failing_opener(error: BaseException):
    @asynccontextmanager
    async def open_service(_settings: object) -> AsyncIterator[object]:
        raise error
        yield  # pragma: no cover

    return open_service
