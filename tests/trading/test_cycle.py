"""Whole cycles through guardrails, paper gateway and portfolio, with scripted decisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.fakes import RecordingGateway, ScriptedComposer, StaticPipeline
from tradeloop.trading._internal.runtime import Components
from tradeloop.trading.base_agent import DefaultStrategyAgent
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.models import (
    ExchangeConfig,
    MarketType,
    TradeAction,
    TradeSide,
    TradingConfig,
    TxStatus,
    UserRequest,
)

BUY, SELL = TradeSide.BUY, TradeSide.SELL


def spot_request(capital: float = 1_000) -> UserRequest:
    return UserRequest(
        trading_config=TradingConfig(initial_capital=capital, symbols=["BTC-USDT", "ETH-USDT"])
    )


async def runtime_for(request, prices, script, gateway=None):
    clock = SimulatedClock(1_700_000_000_000)
    composer = ScriptedComposer(script)
    parts = Components(
        pipeline=StaticPipeline(prices), composer=composer, clock=clock, gateway=gateway
    )
    return await DefaultStrategyAgent().create_runtime(request, components=parts), composer


async def test_several_buys_in_one_cycle_never_overspend_spot_cash() -> None:
    prices = [{"BTC-USDT": 100.0, "ETH-USDT": 10.0}]
    script = [
        [("BTC-USDT", BUY, 9.0, None), ("ETH-USDT", BUY, 90.0, None), ("BTC-USDT", BUY, 5.0, None)]
    ]
    runtime, _ = await runtime_for(spot_request(), prices, script)
    result = await runtime.coordinator.run_once()
    assert result.portfolio.account_balance >= 0
    spent = sum(t.filled_qty * t.avg_exec_price + t.fee_cost for t in result.tx_results)
    assert spent <= 1_000


async def test_a_close_with_no_available_price_is_rejected_not_filled_at_entry() -> None:
    prices = [{"BTC-USDT": 100.0}, {}]
    script = [[("BTC-USDT", BUY, 1.0, None)], [("BTC-USDT", SELL, 1.0, TradeAction.CLOSE_LONG)]]
    runtime, _ = await runtime_for(spot_request(), prices, script)
    await runtime.coordinator.run_once()
    result = await runtime.coordinator.run_once()
    assert [t.status for t in result.tx_results] == [TxStatus.REJECTED]
    assert "no current price" in result.tx_results[0].reason
    assert result.portfolio.positions["BTC-USDT"].quantity == 1.0


async def test_equity_reconciles_after_every_cycle_of_a_perpetual_strategy() -> None:
    request = UserRequest(
        exchange_config=ExchangeConfig(market_type=MarketType.PERPETUAL),
        trading_config=TradingConfig(initial_capital=5_000, symbols=["BTC-USDT"], max_leverage=3),
    )
    prices = [{"BTC-USDT": p} for p in (100.0, 103.0, 97.5, 101.25, 99.0)]
    script = [
        [("BTC-USDT", BUY, 10.0, None)],
        [("BTC-USDT", SELL, 25.0, None)],
        [("BTC-USDT", BUY, 5.0, TradeAction.CLOSE_SHORT)],
        [("BTC-USDT", BUY, 30.0, None)],
        [],
    ]
    runtime, _ = await runtime_for(request, prices, script)
    portfolio = runtime.coordinator.portfolio
    for _ in script:
        result = await runtime.coordinator.run_once()
        ledger = portfolio.ledger
        identity = (
            ledger.initial_capital + ledger.realized_pnl + ledger.unrealized_pnl - ledger.fees_paid
        )
        assert ledger.equity == identity
        assert result.strategy_summary.equity == pytest.approx(float(ledger.equity))
    assert result.trades == []


async def test_every_dropped_instruction_never_reaches_the_gateway() -> None:
    gateway = RecordingGateway(PaperExecutionGateway())
    script = [[("DOGE-USDT", BUY, 1.0, None), ("BTC-USDT", SELL, 1.0, None)]]
    runtime, _ = await runtime_for(spot_request(), [{"BTC-USDT": 100.0}], script, gateway)
    result = await runtime.coordinator.run_once()
    assert gateway.received == []
    assert len(result.guard_notes) == 2


async def test_each_cycle_has_a_unique_compose_id_and_sees_the_last_decisions() -> None:
    script = [[("BTC-USDT", BUY, 1.0, None)], [], [("BTC-USDT", SELL, 1.0, None)]] + [[]] * 4
    runtime, composer = await runtime_for(spot_request(), [{"BTC-USDT": 100.0}], script)
    results = [await runtime.coordinator.run_once() for _ in range(7)]
    assert len({r.compose_id for r in results}) == 7
    seen = composer.contexts[2].recent_decisions
    assert [(d.compose_id, d.ts) for d in seen] == [(r.compose_id, r.ts) for r in results[:2]]
    # bought 1 at 100.05 (5 bps slippage) with a 10 bps fee, marked at 100: 999.84995
    assert [(d.rationale, d.actions, d.outcome) for d in seen] == [
        ("scripted", ["open_long 1 BTC-USDT"], "1 filled, equity 999.85"),
        ("scripted", [], "0 filled, equity 999.85"),
    ]
    assert composer.contexts[0].recent_decisions == []
    # the composer sees the five latest decisions, oldest first
    latest = composer.contexts[6].recent_decisions
    assert [d.compose_id for d in latest] == [r.compose_id for r in results[1:6]]
    assert latest[1].actions == ["close_long 1 BTC-USDT"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"unknown_field": 1}, "unknown_field"),
        ({"initial_capital": -5}, "initial_capital"),
        ({"symbols": []}, "symbols"),
        ({"max_leverage": 0.5}, "max_leverage"),
        ({"decide_interval": 0}, "decide_interval"),
    ],
)
def test_bad_user_requests_fail_validation_naming_the_field(changes, field) -> None:
    cfg = {"initial_capital": 100, "symbols": ["BTC-USDT"], **changes}
    with pytest.raises(ValidationError) as info:
        UserRequest(trading_config=cfg)
    assert field in str(info.value)


def test_symbols_are_normalized_to_the_canonical_form() -> None:
    cfg = TradingConfig(initial_capital=1, symbols=["btc/usdt", "ETHUSDT", "SOL"])
    assert cfg.symbols == ["BTC-USDT", "ETH-USDT", "SOL-USDT"]


def test_credentials_never_appear_in_a_dump() -> None:
    ex = ExchangeConfig(api_key="SENTINEL-KEY", secret_key="SENTINEL-SECRET")
    assert "SENTINEL" not in ex.model_dump_json()
    assert "SENTINEL" not in repr(ex)


def test_hot_path_constructors_validate_like_the_class() -> None:
    from pydantic import ValidationError

    from tradeloop.trading.models import StrategySummary, constructor

    fields = {
        "strategy_id": "s",
        "ts": 1,
        "equity": 100,
        "cash": 100.0,
        "realized_pnl": 0.0,
        "unrealized_pnl": 0.0,
        "fees_paid": 0.0,
        "total_return_pct": 0.0,
        "open_positions": 0,
    }
    build = constructor(StrategySummary)
    made = build(**fields)
    assert made == StrategySummary(**fields) and type(made.equity) is float
    assert made.model_fields_set == StrategySummary(**fields).model_fields_set
    with pytest.raises(ValidationError, match="open_positions"):
        build(**fields | {"open_positions": "many"})
    with pytest.raises(TypeError, match="keyword arguments only"):
        build("s")  # type: ignore[call-arg]
