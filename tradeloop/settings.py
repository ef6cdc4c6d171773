"""Server and headless-runner settings, read from the environment and overridden by CLI flags.

Secrets (the Anthropic key, the HTTP token) are ``SecretStr``: never logged, never dumped. Live
trading is switched on only by the environment (``TRADELOOP_LIVE_TRADING``), never by a tool call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tradeloop.trading.errors import ConfigError

APP_NAME = "tradeloop"
DB_FILENAME = "tradeloop.db"
_TRUE = {"1", "true", "yes"}


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / DB_FILENAME


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_path: Path = Field(default_factory=default_db_path)
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
    live_trading_enabled: bool = False
    live_backoff_s: float = Field(default=0.25, gt=0, le=60)
    """First wait between lookups of a live order whose outcome is unknown (doubling each time,
    ``TRADELOOP_LIVE_BACKOFF_S``); tests against a local fake venue make it short."""
    anthropic_api_key: SecretStr | None = None
    http_token: SecretStr | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); non-None ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "db_path": env.get("TRADELOOP_DB"),
            "replay_dir": env.get("TRADELOOP_REPLAY_DIR"),
            "live_trading_enabled": env.get("TRADELOOP_LIVE_TRADING", "").strip().lower() in _TRUE,
            "live_backoff_s": env.get("TRADELOOP_LIVE_BACKOFF_S"),
            "anthropic_api_key": env.get("ANTHROPIC_API_KEY"),
            "http_token": env.get("TRADELOOP_HTTP_TOKEN"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        present = {k: v for k, v in values.items() if v is not None and v != ""}
        try:
            return cls(**present)
        except ValidationError as exc:
            raise ConfigError(f"invalid settings: {exc}") from exc
