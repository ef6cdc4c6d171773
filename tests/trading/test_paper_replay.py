"""A long paper run on real candles: trades on both symbols, exact accounting after every cycle."""

from __future__ import annotations

from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.data.replay import ReplayMarketDataSource
from tradeloop.trading.models import UserRequest
from tradeloop.trading.portfolio.ledger import EXACT


def identity(ledger) -> object:
    gains = EXACT.add(EXACT.add(ledger.initial_capital, ledger.realized_pnl), ledger.unrealized_pnl)
    return EXACT.subtract(gains, ledger.fees_paid)


async def test_a_600_cycle_paper_run_trades_both_symbols_and_reconciles_every_cycle(
    shared_data,
) -> None:
    request = UserRequest.model_validate(
        {
            "trading_config": {
                "initial_capital": 10_000,
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "decide_interval": 3600,
                "feature_intervals": ["1h", "4h"],
                "rules": {"rsi_buy_below": 35, "rsi_sell_above": 65, "position_size_pct": 0.4},
            }
        }
    )
    clock = SimulatedClock(0)
    source = ReplayMarketDataSource.from_dir(shared_data, clock)
    clock.set(source.start_ms(300 * 4))
    runtime = await DefaultStrategyAgent().create_runtime(
        request, components=Components(market_data=source, clock=clock)
    )
    portfolio = runtime.coordinator.portfolio
    traded: set[str] = set()
    for _ in range(600):
        result = await runtime.coordinator.run_once()
        ledger = portfolio.ledger
        assert ledger.equity == identity(ledger)
        assert ledger.cash >= 0
        traded.update(t.instrument.symbol for t in result.trades)
        runtime.advance()
    assert traded == {"BTC-USDT", "ETH-USDT"}
    closes = [t for t in await runtime.coordinator.recorder.get_trades() if t.exit_price]
    assert closes, "expected round trips"
    digest = await runtime.coordinator.digest.build()
    assert sum(e.trade_count for e in digest.by_instrument.values()) == len(closes)
