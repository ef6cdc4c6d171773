"""How a live gateway trades and how patiently it asks the venue: order type, margin mode,
slippage, value caps, and the poll and retry budgets of its reads."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from tradeloop.trading.models import UserRequest
from tradeloop.trading.utils import to_decimal


@dataclass(frozen=True, slots=True)
class LiveOrderConfig:
    order_type: Literal["market", "limit"] = "market"
    """``limit``: an immediate-or-cancel order at most ``max_slippage_bps`` from the price."""
    margin_mode: Literal["cross", "isolated"] = "cross"
    max_slippage_bps: int = 5
    max_order_value: Decimal | None = None
    max_daily_traded_value: Decimal | None = None
    """UTC day; counts every intent that may have traded (conservative)."""
    lookup_polls: int = 6
    """Lookups by client order id before an unknown outcome is settled as not placed."""
    fill_polls: int = 6
    """Queries of an accepted order until it is final."""
    read_attempts: int = 4
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0

    @classmethod
    def from_request(cls, request: UserRequest, **overrides: Any) -> LiveOrderConfig:
        cfg, ex = request.trading_config, request.exchange_config
        values: dict[str, Any] = {
            "margin_mode": ex.margin_mode,
            "max_slippage_bps": ex.max_slippage_bps,
            "max_order_value": _opt_dec(cfg.max_order_value),
            "max_daily_traded_value": _opt_dec(cfg.max_daily_traded_value),
        }
        values.update(overrides)
        return cls(**values)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry or poll number ``attempt + 1`` (exponential, capped)."""
        return min(self.backoff_s * (2**attempt), self.max_backoff_s)


def _opt_dec(value: float | None) -> Decimal | None:
    return to_decimal(value) if value is not None else None
