"""Risk stops are code: drawdown from the peak and the loss since the UTC day began."""

from __future__ import annotations

from tradeloop.services.slots.risk import DAY_MS, day_start_ms, risk_stop_reason
from tradeloop.trading.models import TradingConfig


def config(**limits: float) -> TradingConfig:
    return TradingConfig(initial_capital=1_000, symbols=["BTC-USDT"], **limits)


def test_no_limit_set_never_stops() -> None:
    assert risk_stop_reason(config(), equity=1.0, peak_equity=1_000, day_start_equity=1_000) is None


def test_a_drawdown_from_the_peak_reaching_the_limit_stops_with_that_reason() -> None:
    cfg = config(max_drawdown_pct=10)
    assert risk_stop_reason(cfg, equity=1_081, peak_equity=1_200, day_start_equity=1_100) is None
    reason = risk_stop_reason(cfg, equity=1_080, peak_equity=1_200, day_start_equity=1_100)
    assert reason is not None and "max_drawdown_pct 10" in reason and "10.00%" in reason


def test_a_loss_since_the_day_began_reaching_the_limit_stops_with_that_reason() -> None:
    cfg = config(daily_loss_limit=50)
    assert risk_stop_reason(cfg, equity=951, peak_equity=2_000, day_start_equity=1_000) is None
    reason = risk_stop_reason(cfg, equity=950, peak_equity=2_000, day_start_equity=1_000)
    assert reason is not None and "daily_loss_limit 50" in reason


def test_the_day_starts_at_utc_midnight() -> None:
    midnight = 20_000 * DAY_MS
    assert day_start_ms(midnight) == midnight
    assert day_start_ms(midnight + DAY_MS - 1) == midnight
