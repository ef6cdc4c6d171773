"""run_backtest: the live pipeline on replayed candles, slot by slot, with its curve and stats."""

from __future__ import annotations

import pytest

from tests.backtest.helpers import BTC, DATA, ETH, HOUR, rsi_request
from tradeloop.backtest.data import resolve_data_files
from tradeloop.backtest.runner import BacktestRuns, BacktestSpec, run_backtest
from tradeloop.services.backtests import equity_chart_png
from tradeloop.trading.errors import ConfigError, NotFound
from tradeloop.trading.models import TradingMode

FIRST_TS = int(BTC.read_text().splitlines()[1].split(",")[0])
LAST_CLOSE = FIRST_TS + 720 * HOUR


def spec(**fields) -> BacktestSpec:
    return BacktestSpec(**({"request": rsi_request(), "data": [str(BTC)]} | fields))


async def test_a_backtest_runs_every_slot_from_the_warm_start_to_the_last_close() -> None:
    run = await run_backtest(spec(warmup_candles=100))
    summary = run.summary()
    assert summary.status == "completed"
    assert run.window.start_ms == FIRST_TS + 100 * HOUR  # candle 99 has closed
    assert run.window.end_ms == LAST_CLOSE
    assert summary.cycles_done == summary.cycles_total == 621
    assert [p.ts for p in run.equity_curve] == [run.window.at(i) for i in range(621)]
    assert summary.stats is not None and summary.stats.trades > 0
    assert summary.stats.final_equity == run.equity_curve[-1].equity


async def test_no_cycle_sees_a_candle_that_had_not_closed_at_its_time() -> None:
    run = await run_backtest(spec(warmup_candles=60))
    for cycle in await run.recorder.get_cycles():
        assert cycle.features and all(fv.ts <= cycle.ts for fv in cycle.features)


async def test_from_and_to_bound_the_cycles_and_a_too_early_start_waits_for_warm_data() -> None:
    start, end = FIRST_TS + 300 * HOUR, FIRST_TS + 400 * HOUR
    run = await run_backtest(spec(start_ms=start, end_ms=end))
    assert (run.window.start_ms, run.window.end_ms, run.window.cycles) == (start, end, 101)
    early = await run_backtest(spec(start_ms=FIRST_TS, end_ms=end, warmup_candles=100))
    assert early.window.start_ms == FIRST_TS + 100 * HOUR


async def test_a_start_between_slots_moves_to_the_next_slot() -> None:
    run = await run_backtest(spec(start_ms=FIRST_TS + 300 * HOUR + 1, end_ms=FIRST_TS + 310 * HOUR))
    assert run.window.start_ms == FIRST_TS + 301 * HOUR


async def test_a_window_without_any_slot_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no cycle fits"):
        await run_backtest(spec(end_ms=FIRST_TS + 10 * HOUR))


async def test_progress_is_reported_in_order_up_to_the_total() -> None:
    seen: list[tuple[int, int, str]] = []

    async def progress(done: int, total: int, message: str) -> None:
        seen.append((done, total, message))

    await run_backtest(spec(warmup_candles=100), progress=progress)
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and done[-1] == 621 and 50 <= len(seen) <= 101
    assert all(total == 621 for _, total, _ in seen) and "equity" in seen[-1][2]


async def test_a_running_backtest_is_registered_and_readable_while_it_runs() -> None:
    runs = BacktestRuns()
    states: list[tuple[str, int]] = []

    charts: list[bytes] = []

    async def progress(done: int, total: int, message: str) -> None:
        (run,) = runs.list()
        states.append((run.status, run.cycles_done))
        if len(charts) < 1:
            charts.append(await equity_chart_png(run.run_id, runs=runs))

    run = await run_backtest(spec(), progress=progress, runs=runs, run_id="bt_test")
    assert states[0] == ("running", states[0][1]) and states[0][1] > 0
    assert runs.get("bt_test") is run and run.status == "completed"
    assert charts[0].startswith(b"\x89PNG")
    with pytest.raises(NotFound):
        runs.get("bt_missing")


async def test_two_symbols_trade_on_one_account() -> None:
    request = rsi_request(("BTC-USDT", "ETH-USDT"))
    run = await run_backtest(BacktestSpec(request=request, data=[str(DATA)]))
    symbols = {t.instrument.symbol for t in run.trades}
    assert symbols == {"BTC-USDT", "ETH-USDT"}
    assert run.summary().candles_per_s > 0


async def test_a_live_config_is_backtested_on_paper_without_credentials() -> None:
    request = rsi_request()
    live = request.model_copy(
        update={
            "exchange_config": request.exchange_config.model_copy(
                update={"trading_mode": TradingMode.LIVE, "api_key": "k", "secret_key": "s"}
            )
        }
    )
    run = await run_backtest(BacktestSpec(request=live, data=[str(BTC)]))
    assert run.request.exchange_config.trading_mode is TradingMode.VIRTUAL
    assert run.request.exchange_config.api_key is None


async def test_a_feature_interval_without_data_is_a_config_error_naming_the_files() -> None:
    request = rsi_request(feature_intervals=["1m"])
    with pytest.raises(ConfigError, match="BTC-USDT 1h"):
        await run_backtest(BacktestSpec(request=request, data=[str(BTC)]))


async def test_the_run_keeps_the_digest_the_next_cycle_would_have_seen() -> None:
    run = await run_backtest(spec())
    assert run.digest is not None and run.stats is not None
    closed = [t for t in run.trades if t.exit_price is not None]
    assert run.digest.by_instrument["BTC-USDT"].trade_count == len(closed) == run.stats.trades


def test_data_files_are_found_by_name_label_folder_or_the_single_symbol(tmp_path) -> None:
    plain = tmp_path / "prices.csv"
    plain.write_bytes(BTC.read_bytes())
    assert resolve_data_files([str(BTC)], ["BTC-USDT"]) == {("BTC-USDT", "1h"): BTC}
    assert resolve_data_files([f"ETH/USDT@1h={plain}"], ["ETH-USDT"]) == {("ETH-USDT", "1h"): plain}
    assert resolve_data_files([str(DATA)], ["ETH-USDT"]) == {("ETH-USDT", "1h"): ETH}
    assert resolve_data_files([str(plain)], ["SOL-USDT"]) == {("SOL-USDT", "1h"): plain}
    with pytest.raises(ConfigError, match="label it"):
        resolve_data_files([str(plain)], ["SOL-USDT", "BTC-USDT"])
    with pytest.raises(ConfigError, match="no candle file for SOL-USDT"):
        resolve_data_files([str(BTC)], ["BTC-USDT", "SOL-USDT"])


def test_a_folder_prefers_the_files_of_the_strategys_own_venue(tmp_path) -> None:
    own = tmp_path / "binance_spot_BTCUSDT_1h.csv"
    other = tmp_path / "bybit_linear_BTCUSDT_5m.csv"
    own.write_bytes(BTC.read_bytes())
    other.write_bytes(BTC.read_bytes())
    assert resolve_data_files([str(tmp_path)], ["BTC-USDT"], "binance_spot") == {
        ("BTC-USDT", "1h"): own
    }
    assert resolve_data_files([str(tmp_path)], ["BTC-USDT"], "okx_spot") == {
        ("BTC-USDT", "1h"): own,
        ("BTC-USDT", "5m"): other,
    }


async def test_a_backtest_logs_its_summary_not_a_line_per_cycle(caplog) -> None:
    with caplog.at_level("INFO"):
        run = await run_backtest(spec(warmup_candles=100))
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith("cycle ")], "per-cycle lines in a backtest"
    assert any(m.startswith(f"backtest run_id={run.run_id} status=completed") for m in messages)


async def test_a_first_cycle_without_data_records_its_portfolio_as_of_the_cycle_not_epoch_0() -> (
    None
):
    from tradeloop.trading.base_agent import BaseStrategyAgent
    from tradeloop.trading.errors import MarketDataUnavailable
    from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
    from tradeloop.trading.models import CycleStatus

    class NoData(BaseFeaturesPipeline):
        async def build(self):  # type: ignore[no-untyped-def]
            raise MarketDataUnavailable("venue busy")

    class DataFails(BaseStrategyAgent):
        async def _build_features_pipeline(self, request):  # type: ignore[no-untyped-def]
            return NoData()

        async def _create_decision_composer(self, request):  # type: ignore[no-untyped-def]
            return None

    run = await run_backtest(spec(warmup_candles=100), agent=DataFails(), storable=True)
    (first, _), *_ = run.take_cycles_to_store()
    assert first.status is CycleStatus.ERROR
    assert first.portfolio is not None and first.portfolio.ts == FIRST_TS + 100 * HOUR
