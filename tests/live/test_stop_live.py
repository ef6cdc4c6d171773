"""Stop with close_positions on a live strategy holding two symbols, interrupted at the venue
(issue 11): the retry books each venue fill once, on its own symbol, and "stopped" is said only
when the venue is flat."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from tests.execution.fake_exchange.engine import FakeAccount
from tests.live.test_service_live import (  # the same fixtures and helpers
    create_live,
    opens,
    service,
    settings,
    start_live,
    venue,
)
from tradeloop.settings import Settings
from tradeloop.trading.models import StrategyStatus

__all__ = ["settings", "venue"]  # pytest fixtures
D = Decimal
S = StrategyStatus


async def test_a_stop_whose_first_close_is_left_unknown_closes_each_symbol_on_the_retry(
    venue: FakeAccount, settings: Settings
) -> None:
    legs = opens(("BTC-USDT", 0.028), ("ETH-USDT", 0.791))
    venue.balances["USDT"] = D("20000")
    async with service(settings, default=[legs]) as svc:
        sid = (await create_live(svc)).strategy_id
        await start_live(svc, sid)
        await svc.run_cycle_now(sid)
        assert venue.base_position("BTCUSDT") == D("0.028")
        assert venue.base_position("ETHUSDT") == D("0.791")
        # the BTC close is accepted, its answer lost, and the venue cannot be asked about it
        venue.faults.accept_then_timeout = 1
        venue.faults.network_fail_next, venue.faults.network_fail_paths = 4, ("GET /fapi/v1/order",)
        first = await svc.stop_closing(sid, close_positions=True)
        assert first.info.status is S.PAUSED, first.info
        assert "could not close" in (first.info.reason or "")
        assert {line.symbol: line.done for line in first.closing} == {
            "BTC-USDT": False,
            "ETH-USDT": False,
        }

        second = await svc.stop_closing(sid, close_positions=True)  # the venue answers again
        portfolio = await svc.get_portfolio(sid)
        trades = (await svc.list_trades(sid)).items
    assert second.info.status is S.STOPPED, second.info.reason
    assert venue.base_position("BTCUSDT") == 0 and venue.base_position("ETHUSDT") == 0
    assert portfolio.positions == {}
    assert venue.duplicates() == {}
    closes = Counter((t.instrument.symbol, t.quantity) for t in trades if t.exit_price is not None)
    assert closes == Counter({("BTC-USDT", 0.028): 1, ("ETH-USDT", 0.791): 1})
    sent = [(o.symbol_id, o.amount) for o in venue.orders if o.reduce_only]
    assert sorted(sent) == [("BTCUSDT", D("0.028")), ("ETHUSDT", D("0.791"))]
    wallet = venue.balances["USDT"]
    assert D(repr(portfolio.account_balance)).quantize(D("0.01")) == wallet.quantize(D("0.01"))


async def test_a_restart_with_live_trading_switched_off_keeps_the_strategy_paused_saying_why(
    venue: FakeAccount, settings: Settings
) -> None:
    async with service(settings) as svc:
        sid = (await create_live(svc)).strategy_id
        await start_live(svc, sid)
    off = settings.model_copy(update={"live_trading_enabled": False})
    async with service(off) as svc:
        info = await svc.get(sid)
    assert info.status is S.PAUSED, info
    assert "TRADELOOP_LIVE_TRADING" in (info.reason or "")
    async with service(settings) as svc:  # switched on again: resume needs no new confirmation
        resumed = await svc.resume(sid)
    assert resumed.status is S.RUNNING
