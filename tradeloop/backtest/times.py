"""Times as users type them: ``2025-01-01``, ``2025-01-01T12:00``, ISO with offset, or epoch ms."""

from __future__ import annotations

from datetime import UTC, datetime

from tradeloop.trading.errors import ConfigError


def parse_time_ms(text: str) -> int:
    """Milliseconds since the epoch; dates and naive times are UTC."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"time {text!r} must look like 2025-01-01, 2025-01-01T12:00Z or epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_ts(ts_ms: int | None) -> str:
    """``2025-01-01 12:00`` (UTC), or ``-`` for no time."""
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
