"""Pointing an exchange at another base URL, for tests and users' own fakes of a venue.

``TRADELOOP_EXCHANGE_URL_<EXCHANGE_ID>`` (e.g. ``TRADELOOP_EXCHANGE_URL_BINANCE=http://127.0.0.1:8123``)
replaces the scheme, host and port of every REST URL ccxt uses for that exchange (testnet or not),
keeping each URL's path, so a fake venue on this machine answers instead of the real one. Only
loopback addresses are honoured (127.0.0.0/8, ``localhost``, ``[::1]``): anything else is refused
with a ``ConfigError``, so a setting can never send orders and keys to a foreign host.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tradeloop.trading.errors import ConfigError

logger = logging.getLogger(__name__)
ENV_PREFIX = "TRADELOOP_EXCHANGE_URL_"


def env_name(exchange_id: str) -> str:
    return f"{ENV_PREFIX}{exchange_id.upper()}"


def base_url_override(exchange_id: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The loopback base URL configured for ``exchange_id``, or None; refuses any other host."""
    env = os.environ if environ is None else environ
    name = env_name(exchange_id)
    value = (env.get(name) or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL such as http://127.0.0.1:8123")
    if not is_loopback(parts.hostname):
        raise ConfigError(
            f"{name} points at {parts.hostname}: only loopback addresses (127.0.0.0/8, "
            "localhost, [::1]) are honoured, for testing against a local fake venue; refused"
        )
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")).rstrip("/")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LOOPBACK_RATE_LIMIT_MS = 1


def point_at(exchange: Any, base_url: str) -> None:
    """Rewrite every REST URL of ``exchange`` (a ccxt instance) to ``base_url``, paths kept. The
    venue's request rate limit is the real venue's: a fake on this machine gets ccxt's limiter
    refilled every millisecond instead (the limiter itself stays in the path)."""
    exchange.urls["api"] = _rewrite(exchange.urls.get("api"), base_url)
    exchange.rateLimit = LOOPBACK_RATE_LIMIT_MS
    exchange.tokenBucket = None
    exchange.init_rest_rate_limiter()
    logger.warning("%s: REST requests go to %s (%s)", exchange.id, base_url, env_name(exchange.id))


def _rewrite(urls: Any, base_url: str) -> Any:
    if isinstance(urls, dict):
        return {key: _rewrite(value, base_url) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith(("http://", "https://")):
        parts = urlsplit(urls)
        base = urlsplit(base_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
    return urls
