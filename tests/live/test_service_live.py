"""Live trading through StrategyService against the fake Binance USDT-M venue (real ccxt code path,
answered in process): the gate, live capital, cycles, restarts, reconciliation and stops."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest

from tests.execution.fake_exchange.engine import FakeAccount
from tests.execution.harness import SENTINEL_KEY, SENTINEL_SECRET, fake_account
from tests.live.helpers import LIVE_ENV, live_request, registered_fake
from tests.services.helpers import ScriptedAgent, scripted
from tests.store_backends import StoreTarget, fetch, stored_bytes
from tradeloop.services.live_gate import (
    ConfirmationDeclined,
    ConfirmationMismatch,
    ConfirmationMissing,
    ConfirmationReused,
    LiveGate,
    LiveTradingDisabled,
    live_params,
)
from tradeloop.services.models import StrategyInfo
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.models import (
    MarketType,
    StrategyStatus,
    TradeAction,
    TradeSide,
    TxStatus,
    UserRequest,
)

D = Decimal
S = StrategyStatus
PERP = MarketType.PERPETUAL
CASH = D("2345.67")
START_MS = 1_750_000_000_000
PRICES = [{"BTC-USDT": 50000.0, "ETH-USDT": 3000.0}]
BUY = TradeSide.BUY


def opens(*legs: tuple[str, float]) -> list[tuple[str, TradeSide, float, TradeAction]]:
    return [(symbol, BUY, qty, TradeAction.OPEN_LONG) for symbol, qty in legs]


@pytest.fixture
async def venue(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAccount]:
    """The fake venue as the account the credentials named "main" (sentinel keys in the env)."""
    monkeypatch.delenv("TRADELOOP_CREDENTIALS_FILE", raising=False)
    for name, value in LIVE_ENV.items():
        monkeypatch.setenv(name, value)
    account = fake_account("binance", PERP, cash=CASH)
    async with registered_fake(account, "binance", PERP, "main"):
        yield account


@pytest.fixture
def settings(store_target: StoreTarget) -> Settings:
    """On both backends: reconciliation at restart reads the store, whichever it is."""
    return store_target.settings(live_trading_enabled=True, shutdown_grace_s=5)


@asynccontextmanager
async def service(
    settings: Settings, clock: SimulatedClock | None = None, **scripts: list[Any]
) -> AsyncIterator[StrategyService]:
    """The real service; agent kind ``name`` decides with ``scripts[name]`` (default: nothing)."""
    kinds = {"default": [], **scripts}
    agents = {kind: ScriptedAgent(PRICES, scripted(script)) for kind, script in kinds.items()}
    async with StrategyService.open(
        settings, agents=agents, clock=clock or SimulatedClock(START_MS)
    ) as svc:
        yield svc


async def create_live(
    svc: StrategyService, request: UserRequest | None = None, agent_kind: str = "default"
) -> StrategyInfo:
    request = request or live_request(symbols=["BTC-USDT", "ETH-USDT"])
    approval = svc.live_gate.approve_elicited(True, "create", live_params("create", request))
    return await svc.create(request, agent_kind=agent_kind, approval=approval)


async def start_live(svc: StrategyService, strategy_id: str) -> StrategyInfo:
    """Start through the two-step flow: preview token, then redeem it for this exact strategy."""
    params = live_params("start", (await svc.get(strategy_id)).request, strategy_id)
    token = svc.live_gate.issue("start", params).token
    return await svc.start(strategy_id, approval=svc.live_gate.redeem(token, "start", params))


async def intents(settings: Settings) -> list[dict[str, Any]]:
    return await fetch(settings, "SELECT * FROM live_intents ORDER BY created_ts, rowid")


async def test_a_live_testnet_strategy_is_created_with_the_accounts_available_cash(
    venue: FakeAccount, settings: Settings
) -> None:
    async with service(settings) as svc:
        info = await create_live(svc)
    assert info.status is S.CREATED and info.trading_mode.value == "live"
    assert info.initial_capital == float(CASH) == info.request.trading_config.initial_capital
    assert venue.orders == [] and all(method == "GET" for method, _ in venue.requests)


async def test_a_second_live_strategy_on_an_account_gets_only_cash_no_other_one_holds(
    venue: FakeAccount, settings: Settings
) -> None:
    async with service(settings) as svc:
        first = await create_live(svc)
        with pytest.raises(
            ConfigError, match=rf"already the capital of live strategies .*{first.strategy_id}"
        ):
            await create_live(svc)
        venue.balances["USDT"] += D("500.25")  # a deposit is free for a new strategy
        second = await create_live(svc)
        await svc.stop(first.strategy_id)  # a stopped strategy holds no capital
        third = await create_live(svc)
    assert first.initial_capital == float(CASH)
    assert second.initial_capital == 500.25
    assert third.initial_capital == float(CASH)  # free 2,845.92 less the second's 500.25
    assert venue.orders == []


async def test_a_cycle_sends_one_order_per_instruction_and_a_restart_resumes_it(
    venue: FakeAccount, settings: Settings
) -> None:
    script = [opens(("BTC-USDT", 0.01), ("ETH-USDT", 0.1))]
    async with service(settings, default=script) as svc:
        sid = (await create_live(svc)).strategy_id
        assert (await start_live(svc, sid)).status is S.RUNNING
        result = await svc.run_cycle_now(sid)
        portfolio = await svc.get_portfolio(sid)
        cycles_before = (await svc.get(sid)).cycles
    assert [tx.status for tx in result.tx_results] == [TxStatus.FILLED, TxStatus.FILLED]
    assert len(venue.orders) == 2 and venue.duplicates() == {}
    assert {s: p.quantity for s, p in portfolio.positions.items()} == {
        "BTC-USDT": 0.01,
        "ETH-USDT": 0.1,
    }
    constraints = result.portfolio.constraints
    assert constraints is not None
    assert (constraints.quantity_step, constraints.min_notional) == (0.001, 5.0)  # venue rules
    stored = await intents(settings)
    assert [(r["status"], r["applied"]) for r in stored] == [("filled", 1), ("filled", 1)]
    assert {r["client_order_id"] for r in stored} == {
        tx.client_order_id for tx in result.tx_results
    }

    venue.requests.clear()
    async with service(settings) as svc:
        info = await svc.get(sid)
        assert (info.status, info.reason, info.cycles) == (S.RUNNING, None, cycles_before)
        assert svc.scheduler.next_run_ms(sid) is not None
    assert any("positionRisk" in path for _, path in venue.requests)  # positions were read back
    assert len(venue.orders) == 2


async def test_fills_of_a_cycle_whose_commit_failed_are_taken_over_at_restart(
    venue: FakeAccount, settings: Settings
) -> None:
    clock = SimulatedClock(START_MS)
    script = [opens(("BTC-USDT", 0.01)), opens(("BTC-USDT", 0.02))]
    async with service(settings, clock, default=script) as svc:
        sid = (await create_live(svc)).strategy_id
        await start_live(svc, sid)
        await svc.run_cycle_now(sid)
        with pytest.raises(OperationalError, match="could not be recorded"):
            await svc.run_cycle_now(sid)  # same slot: the order filled, its commit was refused
        assert (await svc.get_portfolio(sid)).positions["BTC-USDT"].quantity == 0.01
    assert venue.base_position("BTCUSDT") == D("0.03")
    assert [r["applied"] for r in await intents(settings)] == [1, 0]

    async with service(settings, clock) as svc:
        info = await svc.get(sid)
        portfolio = await svc.get_portfolio(sid)
    assert (info.status, info.reason) == (S.RUNNING, None)  # handed over, not paused
    assert portfolio.positions["BTC-USDT"].quantity == pytest.approx(0.03)
    assert [r["applied"] for r in await intents(settings)] == [1, 1]
    assert len(venue.orders) == 2


async def test_a_position_changed_on_the_exchange_pauses_the_strategy_at_restart(
    venue: FakeAccount, settings: Settings
) -> None:
    async with service(settings, default=[opens(("BTC-USDT", 0.01))]) as svc:
        sid = (await create_live(svc)).strategy_id
        await start_live(svc, sid)
        await svc.run_cycle_now(sid)
    venue.positions["BTCUSDT"] = D("0.025")  # someone traded on the account meanwhile
    async with service(settings) as svc:
        info = await svc.get(sid)
        assert svc.scheduler.next_run_ms(sid) is None
        still = await svc.resume(sid)  # reconciled again: still wrong, still paused
        venue.positions["BTCUSDT"] = D("0.01")  # the operator put it right
        resumed = await svc.resume(sid)
    assert info.status is S.PAUSED
    assert "BTC-USDT: stored 0.01, exchange 0.025" in (info.reason or "")
    assert still.status is S.PAUSED and "exchange 0.025" in (still.reason or "")
    assert (resumed.status, resumed.reason) == (S.RUNNING, None)
    assert len(venue.orders) == 1


async def test_the_daily_traded_value_cap_is_enforced_on_the_orders_sent(
    venue: FakeAccount, settings: Settings
) -> None:
    clock = SimulatedClock(START_MS)
    request = live_request(max_daily_traded_value=600)
    async with service(settings, clock, default=[opens(("BTC-USDT", 0.01))] * 3) as svc:
        gate = svc.live_gate  # the headless path: `tradeloop run --confirm-live`
        info = await svc.create(
            request, approval=gate.approve_operator("create", live_params("create", request))
        )
        sid = info.strategy_id
        params = live_params("start", info.request, sid)
        await svc.start(sid, approval=gate.approve_operator("start", params))
        results = []
        for _ in range(3):
            results.append(await svc.run_cycle_now(sid))
            clock.advance(60)
    assert [o.amount for o in venue.orders] == [D("0.01"), D("0.002")]  # 500, then the 100 left
    [refused] = results[2].tx_results
    assert refused.status is TxStatus.REJECTED and "max_daily_traded_value" in (
        refused.reason or ""
    )


async def test_stop_closes_only_this_strategys_quantity_on_a_shared_account(
    venue: FakeAccount, settings: Settings
) -> None:
    scripts = {"a": [opens(("BTC-USDT", 0.01))], "b": [opens(("BTC-USDT", 0.02))]}
    async with service(settings, **scripts) as svc:
        a = (await create_live(svc, agent_kind="a")).strategy_id
        venue.balances["USDT"] += CASH  # a deposit: b's capital (a's cash stays a's)
        b = (await create_live(svc, agent_kind="b")).strategy_id
        for sid in (a, b):
            await start_live(svc, sid)
            await svc.run_cycle_now(sid)
    assert venue.base_position("BTCUSDT") == D("0.03")

    async with service(settings, a=[], b=[]) as svc:  # each reconciled against both on the account
        assert [(await svc.get(s)).status for s in (a, b)] == [S.RUNNING, S.RUNNING]
        venue.positions["BTCUSDT"] += D("0.005")  # and a human's position on top
        stopped = await svc.stop(a, close_positions=True)
        [close] = (await svc.list_cycles(a, newest_first=True, limit=1)).items
        a_left = (await svc.get_portfolio(a)).positions
        b_left = (await svc.get_portfolio(b)).positions
    assert stopped.status is S.STOPPED and a_left == {}
    assert b_left["BTC-USDT"].quantity == 0.02
    assert venue.base_position("BTCUSDT") == D("0.025")
    assert venue.orders[-1].reduce_only and venue.orders[-1].amount == D("0.01")
    assert close.compose_id.startswith(f"stop_{a}_") and close.fills == 1


async def test_without_the_setting_or_a_valid_approval_nothing_reaches_the_venue(
    venue: FakeAccount, settings: Settings
) -> None:
    request = live_request()
    off = settings.model_copy(update={"live_trading_enabled": False})
    async with service(off) as svc:
        with pytest.raises(LiveTradingDisabled):
            await svc.create(request)
        with pytest.raises(LiveTradingDisabled):
            svc.live_gate.approve_elicited(True, "create", live_params("create", request))
        with pytest.raises(LiveTradingDisabled):
            svc.live_gate.approve_operator("create", live_params("create", request))
    async with service(settings) as svc:
        gate = svc.live_gate
        other = live_request(max_order_value=50)
        foreign = LiveGate(enabled=True).approve_elicited(
            True, "create", live_params("create", request)
        )
        with pytest.raises(ConfirmationMissing):
            await svc.create(request)
        with pytest.raises(ConfirmationMismatch):
            await svc.create(
                request,
                approval=gate.approve_elicited(True, "create", live_params("create", other)),
            )
        with pytest.raises(ConfirmationMismatch):
            await svc.create(request, approval=foreign)
        with pytest.raises(ConfirmationDeclined):
            gate.approve_elicited(False, "create", live_params("create", request))
        assert await svc.list() == [] and venue.requests == []

        sid = (await create_live(svc, request)).strategy_id
        sent = len(venue.requests)
        params = live_params("start", (await svc.get(sid)).request, sid)
        with pytest.raises(ConfirmationMissing):
            await svc.start(sid)
        with pytest.raises(ConfirmationMismatch):  # an approval of the create, not of this start
            await svc.start(sid, approval=gate.approve_elicited(True, "create", params))
        token = gate.issue("start", live_params("start", request, sid)).token  # other capital
        with pytest.raises(ConfirmationMismatch):
            await svc.start(
                sid, approval=gate.redeem(token, "start", live_params("start", request, sid))
            )
        with pytest.raises(ConfirmationReused):
            gate.redeem(token, "start", params)
        assert (await svc.get(sid)).status is S.CREATED
    assert len(venue.requests) == sent and venue.orders == []


async def test_a_sentinel_key_appears_in_no_service_output_database_byte_or_log_line(
    venue: FakeAccount, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # ccxt logs request headers, API key included, at DEBUG
    outputs: list[str] = []
    async with service(settings, default=[opens(("BTC-USDT", 0.01))]) as svc:
        info = await create_live(svc)
        sid = info.strategy_id
        outputs += [info.model_dump_json(), (await start_live(svc, sid)).model_dump_json()]
        outputs.append((await svc.run_cycle_now(sid)).model_dump_json())
        outputs.append((await svc.stop(sid, close_positions=True)).model_dump_json())
        outputs.append((await svc.get_portfolio(sid)).model_dump_json())
        outputs.append((await svc.get_digest(sid)).model_dump_json())
        outputs.append((await svc.list_cycles(sid)).model_dump_json())
        outputs.append((await svc.list_trades(sid)).model_dump_json())
        outputs.append(repr(await svc.list()))
    stored = await stored_bytes(settings)
    assert len(venue.orders) == 2 and any("Request" in r.getMessage() for r in caplog.records)
    for secret in (SENTINEL_KEY, SENTINEL_SECRET):
        assert all(secret not in text for text in outputs)
        assert secret.encode() not in stored
        assert secret not in caplog.text
