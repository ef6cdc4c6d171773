"""Risk stops in code, not prompts: ``max_drawdown_pct`` and ``daily_loss_limit`` of TradingConfig.

Pure: the caller passes the equity figures and stops the strategy when a reason comes back.
"""

from __future__ import annotations

from tradeloop.trading.models import TradingConfig

DAY_MS = 86_400_000


def day_start_ms(ts: int) -> int:
    """Start of the UTC day holding ``ts`` (the daily loss limit resets there)."""
    return ts - ts % DAY_MS


def risk_stop_reason(
    config: TradingConfig,
    *,
    equity: float,
    peak_equity: float | None,
    day_start_equity: float,
) -> str | None:
    """Why the strategy must stop now, or None. Drawdown is measured from the equity peak."""
    if config.max_drawdown_pct is not None and peak_equity is not None and peak_equity > 0:
        drawdown = (peak_equity - equity) / peak_equity * 100
        if drawdown >= config.max_drawdown_pct:
            return (
                f"risk stop: drawdown {drawdown:.2f}% from peak {peak_equity:.2f} reached "
                f"max_drawdown_pct {config.max_drawdown_pct:g}"
            )
    if config.daily_loss_limit is not None:
        loss = day_start_equity - equity
        if loss >= config.daily_loss_limit:
            return (
                f"risk stop: loss today {loss:.2f} (from {day_start_equity:.2f}) reached "
                f"daily_loss_limit {config.daily_loss_limit:g}"
            )
    return None
