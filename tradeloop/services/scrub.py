"""Text that may leave the server: ``scrub`` (no secrets, paths or tracebacks) and pydantic
validation errors as one ``field: reason (got value)`` clause per problem.

Used by the tool boundary, by the app state (why the store could not be opened) and by the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

_PATH_RE = re.compile(r"(?<![\w:/\\.])(?:[A-Za-z]:)?(?:[\\/][\w.@%+~-]+){2,}[\\/]?")
"""Absolute paths (two or more segments); URLs and symbols like BTC/USDT are left alone."""
_TRACEBACK_MARK = "Traceback (most recent call last)"
_MAX_MESSAGE = 2000
_MAX_FIELDS = 8
_SECRET_MIN_LEN = 4
_NEVER_ECHOED = frozenset(
    {"api_key_env", "api_key", "secret_key", "passphrase", "password", "token", "secret"}
)
"""Fields whose rejected value is not shown: a key pasted where a variable NAME belongs (or a
credential itself) must not come back in the error."""


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
        if any(str(part) in _NEVER_ECHOED for part in loc):
            shown = ""
        clauses.append(f"{name or 'arguments'}: {message}{f' (got {shown})' if shown else ''}")
    more = len(exc.errors()) - _MAX_FIELDS
    if more > 0:
        clauses.append(f"and {more} more")
    return clauses


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
