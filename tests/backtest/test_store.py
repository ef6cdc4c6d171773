"""A stored backtest reads like any strategy through the StrategyService."""

from __future__ import annotations

import pytest

from tests.backtest.helpers import BTC, rsi_request
from tradeloop.backtest.runner import BacktestSpec, run_backtest
from tradeloop.services.backtests import equity_chart_png
from tradeloop.services.owned import OwnedStrategies
from tradeloop.services.principals import OWNER
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import StrategyStatus


async def test_a_stored_backtest_has_the_trades_digest_and_equity_of_the_run(tmp_path) -> None:
    spec = BacktestSpec(request=rsi_request(), data=[str(BTC)])
    run = await run_backtest(spec, storable=True, run_id="bt_stored")
    async with StrategyService.open(Settings(db_path=tmp_path / "t.db")) as service:
        await service.import_backtest(run)
        info = await service.get("bt_stored")
        assert info.status is StrategyStatus.STOPPED and info.agent_kind == "backtest"
        assert info.cycles == run.cycles_done and info.equity == run.equity_curve[-1].equity
        trades = (await service.list_trades("bt_stored", limit=500)).items
        assert [t.trade_id for t in trades] == [t.trade_id for t in run.trades]
        digest = await service.get_digest("bt_stored")
        assert digest.by_instrument["BTC-USDT"].trade_count == run.stats.trades
        assert digest.sharpe_ratio == run.digest.sharpe_ratio
        assert (
            await equity_chart_png("bt_stored", service=OwnedStrategies(service, OWNER))
        ).startswith(b"\x89PNG")


async def test_the_digest_of_a_stored_backtest_agrees_with_the_backtest_statistics(
    tmp_path,
) -> None:
    run = await run_backtest(BacktestSpec(request=rsi_request(), data=[str(BTC)]), storable=True)
    async with StrategyService.open(Settings(db_path=tmp_path / "t.db")) as service:
        await service.import_backtest(run)
        digest = await service.get_digest(run.run_id)
    stats = run.stats
    assert run.cycles_done > 500  # longer than the recent window: the headline must not use it
    assert stats.trades > 0 and stats.sharpe_ratio is not None
    assert digest.sharpe_ratio == pytest.approx(stats.sharpe_ratio, rel=1e-9)
    assert digest.sortino_ratio == pytest.approx(stats.sortino_ratio, rel=1e-9)
    assert digest.total_return_pct == pytest.approx(stats.total_return_pct, rel=1e-12)
    assert digest.fees_paid == pytest.approx(stats.fees_paid, rel=1e-12)
    assert digest.recent_window == 500 and digest.sharpe_ratio_recent != digest.sharpe_ratio


async def test_import_backtest_stores_a_run_once_and_the_stored_run_never_starts(tmp_path) -> None:
    run = await run_backtest(BacktestSpec(request=rsi_request(), data=[str(BTC)]), storable=True)
    async with StrategyService.open(Settings(db_path=tmp_path / "t.db")) as service:
        info = await service.import_backtest(run)
        assert info.strategy_id == run.run_id and info.status is StrategyStatus.STOPPED
        assert info.cycles == run.cycles_done and info.reason == "backtest completed"
        digest = await service.get_digest(run.run_id)
        assert digest.sharpe_ratio == run.digest.sharpe_ratio
        with pytest.raises(ConfigError, match="no cycles to store"):
            await service.import_backtest(run)
        with pytest.raises(ConfigError):  # InvalidTransition: it is stopped
            await service.run_cycle_now(run.run_id)
        for action in (service.start, service.preview_decision):
            with pytest.raises(ConfigError, match="is a stored backtest"):
                await action(run.run_id)
        with pytest.raises(ConfigError, match="cannot change"):
            await service.update(run.run_id, decide_interval=60)
        assert (await service.get(run.run_id)).request == run.request
        assert (await service.get(run.run_id)).status is StrategyStatus.STOPPED


async def test_a_run_not_kept_for_storing_cannot_be_imported(tmp_path) -> None:
    run = await run_backtest(BacktestSpec(request=rsi_request(), data=[str(BTC)]))
    async with StrategyService.open(Settings(db_path=tmp_path / "t.db")) as service:
        with pytest.raises(ConfigError, match="no cycles to store"):
            await service.import_backtest(run)
        assert await service.list() == []
