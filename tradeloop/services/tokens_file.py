"""The tokens file: bearer tokens the operator hands out, one principal each (issue 15).

``tradeloop tokens add NAME`` makes a token, prints it once and stores only its SHA-256;
``tradeloop serve --http --tokens [PATH]`` accepts those tokens (``server.tokens_auth``), the
token's name being its principal (``services.principals``). The file is JSON::

    {"version": 1, "tokens": [
      {"name": "alice", "access": "trade", "created": "2026-12-03T21:30:00Z",
       "sha256": "<64 hex digits>"}]}

``access`` is ``read`` (read tools only) or ``trade`` (every tool); it maps to whatever scope
names the server is configured with, so renaming the OAuth scopes never invalidates a token.

A plain SHA-256 is the right hash here, not a password hash (bcrypt, scrypt, Argon2): those are
slow to make guessing a *low-entropy* human password expensive. A token is 256 bits from
``secrets``, so guessing it from its hash is out of reach however fast the hash, and a fast hash
keeps checking every request cheap.

The file is written whole, to a temporary file renamed over the old one (readers never see half
a file) with mode 0600, under an exclusive lock so that two edits at once cannot undo each other
(a lost revoke would leave a token working).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError

TOKENS_FILENAME = "tokens.json"
TOKEN_PREFIX = "tlk_"
"""Marks a string as a tradeloop token (secret scanners and people can tell what leaked)."""
TOKEN_BYTES = 32
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
"""Letters, digits and ``_ . @ -``, not starting with punctuation: never ``~``, the prefix
reserved for the implicit owner (``principals.OWNER_NAME``)."""

Access = Literal["read", "trade"]


class TokenEntry(BaseModel):
    """One token as stored: never the token itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    access: Access
    created: datetime
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("created")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-12-03T21:30:00Z")
        return value


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    tokens: tuple[TokenEntry, ...] = ()

    @field_validator("tokens")
    @classmethod
    def _unique_names(cls, tokens: tuple[TokenEntry, ...]) -> tuple[TokenEntry, ...]:
        names = [t.name for t in tokens]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"the name {repeated[0]!r} appears more than once")
        return tokens

    def named(self, name: str) -> TokenEntry | None:
        return next((t for t in self.tokens if t.name == name), None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_tokens_path(settings: Settings) -> Path:
    """Beside the SQLite database (the data directory unless ``TRADELOOP_DB`` moves it)."""
    return settings.db_path.parent / TOKENS_FILENAME


def tokens_path(settings: Settings) -> Path:
    """``--file`` / ``--tokens`` / ``TRADELOOP_TOKENS_FILE`` (``settings.tokens_file``), else the
    default beside the database."""
    return settings.tokens_file or default_tokens_path(settings)


def check_name(name: str) -> str:
    if name.startswith("~"):
        raise ConfigError(f"token name {name!r}: names starting with '~' are reserved")
    if re.match(NAME_PATTERN, name) is None:
        raise ConfigError(
            f"token name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def read_tokens(path: Path) -> TokensFile:
    """The file's tokens; ``ConfigError`` naming the file and the line or field when it is
    missing or malformed (never quoting a stored hash)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _no_file(path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read tokens file {path}: {exc.strerror}") from None
    return parse_tokens(path, text)


def _no_file(path: Path) -> ConfigError:
    return ConfigError(
        f"no tokens file at {path}: create one with 'tradeloop tokens add NAME --file {path}'"
    )


def parse_tokens(path: Path, text: str) -> TokensFile:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"tokens file {path} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    try:
        return TokensFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"tokens file {path}: {_first_problem(raw, exc)}") from None


def _first_problem(raw: object, exc: ValidationError) -> str:
    error = exc.errors(include_input=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    named = _entry_name(raw, error["loc"])
    return f"{where.lstrip('.') or 'the file'}{named}: {error['msg']}"


def _entry_name(raw: object, loc: tuple[int | str, ...]) -> str:
    """`` (alice)`` when the error is inside a token entry that has a readable name."""
    if len(loc) < 2 or loc[0] != "tokens" or not isinstance(raw, dict):
        return ""
    entries = raw.get("tokens")
    index = loc[1]
    if not isinstance(entries, list) or not isinstance(index, int) or index >= len(entries):
        return ""
    entry = entries[index]
    name = entry.get("name") if isinstance(entry, dict) else None
    return f" ({name})" if isinstance(name, str) and re.match(NAME_PATTERN, name) else ""


def add_token(path: Path, name: str, access: Access, now: datetime | None = None) -> str:
    """Store a new token for ``name`` and return it: the only time it exists outside a client."""
    check_name(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    entry = TokenEntry(name=name, access=access, created=created, sha256=token_digest(token))
    with _editing(path, may_create=True) as current:
        if current.named(name) is not None:
            raise ConfigError(
                f"a token named {name!r} already exists in {path}: "
                "revoke it first, or choose another name"
            )
        _write(path, current.model_copy(update={"tokens": (*current.tokens, entry)}))
    return token


def revoke_token(path: Path, name: str) -> None:
    with _editing(path, may_create=False) as current:
        if current.named(name) is None:
            raise ConfigError(f"no token named {name!r} in {path}")
        kept = tuple(t for t in current.tokens if t.name != name)
        _write(path, current.model_copy(update={"tokens": kept}))


@contextlib.contextmanager
def _editing(path: Path, may_create: bool) -> Iterator[TokensFile]:
    """The current tokens, read under the edit lock; with ``may_create``, none when the file (and
    its directory) do not exist yet."""
    if may_create:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif not path.exists():
        raise _no_file(path)
    lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield read_tokens(path) if path.exists() else TokensFile()
    finally:
        os.close(lock)  # closing releases the lock


def _write(path: Path, tokens: TokensFile) -> None:
    text = json.dumps(tokens.model_dump(mode="json"), indent=2) + "\n"
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
