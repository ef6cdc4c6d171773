"""The lifespan owns the strategy service: opened after the handshake (or soon without one),
closed when the server stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp import Client

from tradeloop.server.app import build_server
from tradeloop.server.transports import http_app


class RecordingOpener:
    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()

    @asynccontextmanager
    async def __call__(self, _settings: object) -> AsyncIterator[object]:
        self.opened.set()
        try:
            yield object()
        finally:
            self.closed.set()


async def test_the_service_opens_after_the_handshake_without_any_tool_call(settings) -> None:
    opener = RecordingOpener()
    async with Client(build_server(settings, open_service=opener), mode="legacy"):
        with anyio.fail_after(10):
            await opener.opened.wait()
        assert not opener.closed.is_set()
    assert opener.closed.is_set()


async def test_without_any_client_the_service_still_opens_so_strategies_resume(settings) -> None:
    opener = RecordingOpener()
    app = http_app(build_server(settings, open_service=opener))
    async with app.router.lifespan_context(app):
        with anyio.fail_after(10):
            await opener.opened.wait()
    assert opener.closed.is_set()


class HangingOpener:
    """Opening never finishes (a slow disk, a stuck import) until cancelled."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.cleaned_up = asyncio.Event()

    @asynccontextmanager
    async def __call__(self, _settings: object) -> AsyncIterator[object]:
        self.entered.set()
        try:
            await asyncio.Event().wait()
            yield object()
        finally:
            self.cleaned_up.set()


async def test_a_shutdown_while_the_service_is_opening_abandons_the_opening_at_once(
    settings,
) -> None:
    opener = HangingOpener()
    app = http_app(build_server(settings, open_service=opener))
    async with app.router.lifespan_context(app):
        await opener.entered.wait()
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2.0  # not the 60 s the lifespan gives an open service
    assert opener.cleaned_up.is_set()
