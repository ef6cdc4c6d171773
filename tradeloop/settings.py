"""Server and headless-runner settings, read from the environment and overridden by CLI flags.

Secrets (the Anthropic key, the HTTP token) are ``SecretStr``: never logged, never dumped. Live
trading is switched on only by the environment (``TRADELOOP_LIVE_TRADING``), never by a tool call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from tradeloop.trading.errors import ConfigError

APP_NAME = "tradeloop"
DB_FILENAME = "tradeloop.db"
_TRUE = {"1", "true", "yes"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
POSTGRES_SCHEMES = ("postgresql", "postgres")
DEFAULT_READ_SCOPE = "tradeloop:read"
DEFAULT_TRADE_SCOPE = "tradeloop:trade"
"""The scope names a principal needs to read and to trade, unless the operator renames them (what
they mean: ``tradeloop.services.principals``)."""


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / DB_FILENAME


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_path: Path = Field(default_factory=default_db_path)
    """The SQLite file (``TRADELOOP_DB`` / ``--db``: a path or ``sqlite:///abs/path``)."""
    db_url: SecretStr | None = None
    """A ``postgresql://`` URL given as ``TRADELOOP_DB`` / ``--db``: the store is that database
    and ``db_path`` is unused. Secret: it may hold a password (``db_label`` is what logs show)."""
    replay_dir: Path | None = None
    """Strategies created without their own replay spec replay the candles in this folder."""
    max_consecutive_failures: int = Field(default=5, ge=1, le=1000)
    misfire_grace_s: float = Field(default=30.0, gt=0)
    """A slot that cannot start this many seconds after its time is skipped (capped at half the
    strategy's interval, so a late start can never be mistaken for the next slot)."""
    shutdown_grace_s: float = Field(default=1.0, ge=0)
    """On shutdown, cycles in flight get this long to finish before they are abandoned (safe: a
    cycle's transaction commits whole or not at all). Short, so that the process is gone within
    2 s of SIGTERM, before a service manager kills it."""
    lease_ttl_s: float = Field(default=15.0, ge=1.0, le=600.0)
    """PostgreSQL replicas: a strategy whose owner has not renewed its lease for this long is
    taken over by another replica (``TRADELOOP_LEASE_TTL_S``; renewed every third of it)."""
    command_wait_s: float = Field(default=60.0, gt=0, le=3600.0)
    """PostgreSQL replicas: how long a cycle on demand asked of a replica that does not run the
    strategy waits for the one that does to answer (``TRADELOOP_COMMAND_WAIT_S``)."""
    live_trading_enabled: bool = False
    live_backoff_s: float = Field(default=0.25, gt=0, le=60)
    """First wait between lookups of a live order whose outcome is unknown (doubling each time,
    ``TRADELOOP_LIVE_BACKOFF_S``); tests against a local fake venue make it short."""
    anthropic_api_key: SecretStr | None = None
    http_token: SecretStr | None = None
    tokens_file: Path | None = None
    """The tokens file (``TRADELOOP_TOKENS_FILE`` / ``serve --tokens``): over HTTP its bearer
    tokens are accepted, each naming its principal (``tradeloop.services.tokens_file``)."""
    oauth_issuer: str | None = None
    """OAuth 2.1 resource-server mode: the authorization server whose JWT access tokens are
    accepted (``TRADELOOP_OAUTH_ISSUER``, compared with each token's ``iss`` exactly)."""
    oauth_resource: str | None = None
    """This server's public MCP URL (``TRADELOOP_OAUTH_RESOURCE``, e.g.
    ``https://trade.example.com/mcp``): the RFC 9728 resource and the default audience."""
    oauth_audience: str | None = None
    """The ``aud`` tokens must carry (``TRADELOOP_OAUTH_AUDIENCE``; default ``oauth_resource``)."""
    oauth_jwks_url: str | None = None
    """The issuer's signing keys (``TRADELOOP_OAUTH_JWKS_URL``; default: the ``jwks_uri`` of the
    issuer's discovery document)."""
    oauth_read_scope: str = Field(default=DEFAULT_READ_SCOPE, pattern=r"^\S+$")
    """The scope that lets a principal connect and read (``TRADELOOP_OAUTH_READ_SCOPE``)."""
    oauth_trade_scope: str = Field(default=DEFAULT_TRADE_SCOPE, pattern=r"^\S+$")
    """The scope that lets a principal change things (``TRADELOOP_OAUTH_TRADE_SCOPE``)."""

    @model_validator(mode="before")
    @classmethod
    def _route_db(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("db_path"), str):
            return {**data, **db_setting(data["db_path"])}
        return data

    @property
    def db_label(self) -> str:
        """The store as logs may show it: a URL without its password."""
        if self.db_url is None:
            return str(self.db_path)
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", self.db_url.get_secret_value())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); non-None ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "db_path": env.get("TRADELOOP_DB"),
            "replay_dir": env.get("TRADELOOP_REPLAY_DIR"),
            "live_trading_enabled": env.get("TRADELOOP_LIVE_TRADING", "").strip().lower() in _TRUE,
            "live_backoff_s": env.get("TRADELOOP_LIVE_BACKOFF_S"),
            "lease_ttl_s": env.get("TRADELOOP_LEASE_TTL_S"),
            "command_wait_s": env.get("TRADELOOP_COMMAND_WAIT_S"),
            "anthropic_api_key": env.get("ANTHROPIC_API_KEY"),
            "http_token": env.get("TRADELOOP_HTTP_TOKEN"),
            "tokens_file": env.get("TRADELOOP_TOKENS_FILE"),
            "oauth_issuer": env.get("TRADELOOP_OAUTH_ISSUER"),
            "oauth_resource": env.get("TRADELOOP_OAUTH_RESOURCE"),
            "oauth_audience": env.get("TRADELOOP_OAUTH_AUDIENCE"),
            "oauth_jwks_url": env.get("TRADELOOP_OAUTH_JWKS_URL"),
            "oauth_read_scope": env.get("TRADELOOP_OAUTH_READ_SCOPE"),
            "oauth_trade_scope": env.get("TRADELOOP_OAUTH_TRADE_SCOPE"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values["db_path"], str) and values["db_path"]:
            values.update(db_setting(values["db_path"]))  # a URL never reaches an error message
        present = {k: v for k, v in values.items() if v is not None and v != ""}
        try:
            return cls(**present)
        except ValidationError as exc:
            raise ConfigError(f"invalid settings: {exc}") from exc


def db_setting(value: str) -> dict[str, Any]:
    """``TRADELOOP_DB`` / ``--db`` as settings: a plain path or ``sqlite:///abs/path`` is the SQLite
    file, a ``postgresql://`` (or ``postgres://``) URL the PostgreSQL store. Any other scheme is
    refused by name (it used to become a folder named after it), without echoing the URL, which
    may hold a password."""
    match = _SCHEME.match(value)
    if match is None:
        return {"db_path": Path(value).expanduser()}
    scheme = match[1].lower()
    if scheme in POSTGRES_SCHEMES:
        return {"db_path": default_db_path(), "db_url": SecretStr(value)}
    if scheme == "sqlite":
        path = value[match.end() :]
        if not path.startswith("/"):
            raise ConfigError(
                "TRADELOOP_DB / --db: a sqlite URL takes an absolute path (sqlite:///abs/file.db);"
                " give a relative path without the sqlite:// prefix"
            )
        return {"db_path": Path(path)}
    raise ConfigError(
        f"TRADELOOP_DB / --db: unsupported database scheme {scheme!r}: give a file path,"
        " sqlite:///abs/file.db or postgresql://user@host:port/dbname"
    )
