"""The tool boundary: the one place where exceptions become what the model reads.

    ConfigError (NotFound, InvalidTransition, ...)  -> ToolError with the message: the caller can fix it
    pydantic ValidationError                        -> ToolError naming each field and what it accepts
    TemporaryError (venue, LLM unreachable)         -> ToolError naming the venue; try again later
    NetworkDown (DNS failure, connection refused)   -> ToolError saying what was tried; check network
    OperationalError                                -> ToolError with the message; the strategy stopped
    ToolError, MCPError                             -> unchanged
    anything else                                   -> logged with its traceback, generic ToolError

Every message is scrubbed before it leaves: absolute file paths shrink to their file name and the
configured secrets are masked, so no tool output carries a path, a key or a stack trace.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from tradeloop.trading.errors import (
    ConfigError,
    NetworkDown,
    NotFound,
    OperationalError,
    TemporaryError,
)

logger = logging.getLogger(__name__)


_PATH_RE = re.compile(r"(?<![\w:/\\.])(?:[A-Za-z]:)?(?:[\\/][\w.@%+~-]+){2,}[\\/]?")
"""Absolute paths (two or more segments); URLs and symbols like BTC/USDT are left alone."""
_TRACEBACK_MARK = "Traceback (most recent call last)"
_MAX_MESSAGE = 2000
_MAX_FIELDS = 8
_SECRET_MIN_LEN = 4


_PYDANTIC_NOISE = (
    re.compile(r"\d+ validation errors? for \w+\s*"),
    re.compile(r"\s*\[type=[\w.]+(?:, input_value=.*?, input_type=\w+)?\]"),
    re.compile(r"\s*For further information visit \S+"),
    re.compile(r"Value error, "),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove what a tool result must never show: secrets, absolute paths, tracebacks, and the
    noise of pydantic's error format (input dumps, documentation links)."""
    for secret in secrets:
        if secret and len(secret) >= _SECRET_MIN_LEN:
            text = text.replace(secret, "***")
    text = text.split(_TRACEBACK_MARK, 1)[0]
    for noise in _PYDANTIC_NOISE:
        text = noise.sub("", text)
    text = _PATH_RE.sub(lambda m: re.split(r"[\\/]", m.group(0).rstrip("\\/"))[-1], text)
    text = re.sub(r"\s*\n\s*", "; ", text.strip())
    return text[:_MAX_MESSAGE].strip()


def describe_validation_error(
    exc: ValidationError, rename: Callable[[tuple[Any, ...]], str] | None = None
) -> str:
    """``initial_capital: must be greater than 0 (got -5)``, one field per clause."""
    return "; ".join(validation_clauses(exc, rename))


def validation_clauses(
    exc: ValidationError, rename: Callable[[tuple[Any, ...]], str] | None = None
) -> list[str]:
    """One ``field: what is wrong (got value)`` per problem (at most ``_MAX_FIELDS``)."""
    clauses = []
    for error in exc.errors(include_url=False)[:_MAX_FIELDS]:
        loc = tuple(error.get("loc", ()))
        name = rename(loc) if rename else ".".join(str(p) for p in loc)
        message = str(error.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        got = error.get("input")
        shown = _short(got) if error.get("type") != "missing" and not isinstance(got, dict) else ""
        clauses.append(f"{name or 'arguments'}: {message}{f' (got {shown})' if shown else ''}")
    more = len(exc.errors()) - _MAX_FIELDS
    if more > 0:
        clauses.append(f"and {more} more")
    return clauses


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
