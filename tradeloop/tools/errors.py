"""The tool boundary: the one place where exceptions become what the model reads.

    ConfigError (NotFound, InvalidTransition, ...)  -> ToolError with the message: the caller can fix it
    pydantic ValidationError                        -> ToolError naming each field and what it accepts
    TemporaryError (venue, LLM unreachable)         -> ToolError naming the venue; try again later
    NetworkDown (DNS failure, connection refused)   -> ToolError saying what was tried; check network
    OperationalError                                -> ToolError with the message; the strategy stopped
    ToolError, MCPError                             -> unchanged
    anything else                                   -> logged with its traceback, generic ToolError

Every message is scrubbed before it leaves (``services.scrub``): absolute file paths shrink to
their file name and the configured secrets are masked, so no tool output carries a path, a key or
a stack trace.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from tradeloop.services.scrub import describe_validation_error, scrub
from tradeloop.trading.errors import (
    ConfigError,
    NetworkDown,
    NotFound,
    OperationalError,
    TemporaryError,
)

logger = logging.getLogger(__name__)


def translate(exc: BaseException, tool: str, secrets: Iterable[str] = ()) -> BaseException:
    """The exception to raise in place of ``exc`` (itself when it is already protocol-safe)."""
    if isinstance(exc, ToolError | MCPError):
        return exc
    if isinstance(exc, ValidationError):
        return ToolError(scrub(f"invalid arguments: {describe_validation_error(exc)}", secrets))
    if isinstance(exc, ConfigError):
        return ToolError(scrub(str(exc), secrets) or "invalid request")
    if isinstance(exc, TemporaryError):
        text = str(exc) or "a venue could not be reached"
        venue = getattr(exc, "venue", None)
        if venue and venue not in text:
            text = f"{venue} could not be reached: {text}"
        if isinstance(exc, NetworkDown):  # its message says what to check; not "shortly"
            return ToolError(scrub(text, secrets))
        return ToolError(scrub(f"{text} (temporary: try again shortly)", secrets))
    if isinstance(exc, OperationalError):
        return ToolError(scrub(f"operational error: {exc}", secrets))
    logger.exception("tool %s failed unexpectedly", tool)
    return ToolError(f"{tool} failed because of an internal error; the server log has the details")


def tool_boundary[**P, R](fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an async tool so that every failure leaves through ``translate``.

    The secrets to mask come from the app state behind the tool's ``Context`` argument.
    """

    @functools.wraps(fn)
    async def boundary(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:  # the tool boundary: one broad except, everything classified
            translated = translate(exc, fn.__name__, _secrets(kwargs.values()))
            if translated is exc:
                raise
            raise translated from None

    return boundary


def resource_boundary[**P, R](fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """The same classification for resource reads: NotFound -> -32602, the rest -> -32603."""

    @functools.wraps(fn)
    async def boundary(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:  # the resource boundary
            secrets = _secrets(kwargs.values())
            if isinstance(exc, NotFound):
                raise ResourceNotFoundError(scrub(str(exc), secrets)) from None
            translated = translate(exc, fn.__name__, secrets)
            if isinstance(translated, MCPError):
                raise translated from None
            raise ResourceError(str(translated)) from None

    return boundary


def _secrets(arguments: Iterable[Any]) -> list[str]:
    for value in arguments:
        if isinstance(value, Context):
            state = value.request_context.lifespan_context
            return list(getattr(state, "secrets", lambda: [])())
    return []
