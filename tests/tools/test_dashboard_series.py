"""What the dashboard draws beyond the ordinary tools: buy-and-hold as the backtest baselines
define it, OHLC candles from the replay files, backtest runs and comparisons with their tables,
and the long poll that keeps the page current inside a chat host."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import anyio
import pytest

from tests.tools.conftest import connector, create, error, ok

HOUR_MS = 3_600_000


def csv_candles(path: Path) -> dict[int, tuple[float, float, float, float]]:
    """open time -> (open, high, low, close), read straight from the file."""
    with path.open() as handle:
        return {
            int(row["timestamp"]): tuple(float(row[k]) for k in ("open", "high", "low", "close"))
            for row in csv.DictReader(handle)
        }


async def test_the_buy_and_hold_line_of_a_backtest_ends_at_its_baseline_final_equity(
    replay_settings,
) -> None:
    window = {"start": "2025-01-01", "end": "2025-01-04"}
    async with connector(replay_settings, "auto")() as client:
        run = await ok(
            client, "run_backtest", symbols=["BTC-USDT", "ETH-USDT"], initial_capital=1000, **window
        )
        charted = await ok(client, "get_chart_series", strategy_id=run["run_id"])
    hold = next(b for b in run["baselines"] if b["name"] == "buy_and_hold")["stats"]
    assert charted["buy_and_hold"][-1][1] == pytest.approx(hold["final_equity"], rel=1e-9)
    assert charted["buy_and_hold"][0][1] < 1000  # bought with the fee and slippage


async def test_the_buy_and_hold_line_of_a_strategy_ends_at_get_digests_buy_and_hold(
    replay_settings,
) -> None:
    async with connector(replay_settings, "auto")() as client:
        sid = (await create(client, initial_capital=2000))["strategy_id"]
        for _ in range(4):
            await ok(client, "run_cycle_now", strategy_id=sid)
        charted = await ok(client, "get_chart_series", strategy_id=sid)
        digest = await ok(client, "get_digest", strategy_id=sid)
    expected = 2000 * (1 + digest["buy_and_hold"]["total_return_pct"] / 100)
    assert charted["buy_and_hold"][-1][1] == pytest.approx(expected, rel=1e-9)


async def test_the_chart_candles_are_the_replay_files_candles_up_to_the_latest_cycle(
    replay_settings, shared_data: Path
) -> None:
    async with connector(replay_settings, "auto")() as client:
        sid = (await create(client))["strategy_id"]
        outcomes = [await ok(client, "run_cycle_now", strategy_id=sid) for _ in range(3)]
        charted = await ok(client, "get_chart_series", strategy_id=sid)
    first, last = outcomes[0]["ts"], outcomes[-1]["ts"]
    assert charted["candle_interval"] == "1h" and charted["candles_note"] is None
    by_symbol = {c["symbol"]: c["bars"] for c in charted["candles"]}
    assert set(by_symbol) == {"BTC-USDT", "ETH-USDT"}
    for symbol, name in (("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT")):
        rows = csv_candles(shared_data / f"binance_spot_{name}_1h.csv")
        # the candles that closed at each cycle: open one hour before it
        opens = list(range(first - HOUR_MS, last, HOUR_MS))
        assert [bar[0] for bar in by_symbol[symbol]] == opens
        assert [tuple(bar[1:]) for bar in by_symbol[symbol]] == [rows[t] for t in opens]


async def test_a_comparison_opens_in_the_dashboard_with_every_curve_and_its_table(
    replay_settings,
) -> None:
    strategies = [
        {"label": "rsi30", "symbols": ["BTC-USDT"]},
        {"label": "rsi40", "symbols": ["BTC-USDT"], "rules": {"rsi_buy_below": 40}},
    ]
    async with connector(replay_settings, "auto")() as client:
        compared = await ok(
            client,
            "compare_strategies",
            strategies=strategies,
            start="2025-03-01",
            end="2025-03-08",
        )
        drawn = await ok(client, "get_run_series", run_id=compared["comparison_id"])
    assert drawn["kind"] == "comparison"
    assert [c["label"] for c in drawn["curves"]] == ["rsi30", "rsi40", "buy and hold"]
    assert drawn["comparison"]["strategies"] == compared["strategies"]
    for curve, stats in zip(drawn["curves"], compared["strategies"], strict=False):
        assert curve["points"][-1][1] == pytest.approx(stats["stats"]["final_equity"])
    hold = drawn["curves"][-1]["points"]
    assert hold[-1][1] == pytest.approx(compared["buy_and_hold"]["final_equity"])


async def test_a_backtest_run_series_has_its_curve_buy_and_hold_and_baselines(
    replay_settings,
) -> None:
    window = {"start": "2025-01-01", "end": "2025-01-03"}
    async with connector(replay_settings, "auto")() as client:
        run = await ok(client, "run_backtest", symbols=["BTC-USDT"], initial_capital=1000, **window)
        drawn = await ok(client, "get_run_series", run_id=run["run_id"])
    assert drawn["kind"] == "backtest"
    assert [c["label"] for c in drawn["curves"]][1:] == ["buy and hold"]
    assert drawn["curves"][0]["points"][-1][1] == pytest.approx(run["stats"]["final_equity"])
    assert drawn["backtest"]["baselines"] == run["baselines"]


async def test_an_unknown_run_says_runs_are_kept_in_memory(replay_settings) -> None:
    async with connector(replay_settings, "auto")() as client:
        text = await error(client, "get_run_series", run_id="cmp_0000")
    assert "cmp_0000" in text and "restarts" in text


async def test_wait_for_change_answers_when_a_cycle_is_stored(replay_settings) -> None:
    async with connector(replay_settings, "auto")() as client:
        sid = (await create(client))["strategy_id"]
        info = await ok(client, "get_strategy", strategy_id=sid)
        answers: list[dict] = []

        async def wait() -> None:
            answers.append(
                await ok(
                    client,
                    "wait_for_change",
                    strategy_id=sid,
                    cycles=info["cycles"],
                    status=info["status"],
                    timeout_s=50,
                )
            )

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await asyncio.sleep(0)  # the wait is sent before the cycle
            with anyio.fail_after(45):  # an answer by timeout would say changed: false
                await ok(client, "run_cycle_now", strategy_id=sid)
                while not answers:
                    await asyncio.sleep(0.01)
    assert answers == [{"changed": True, "strategy_ids": [sid]}]


async def test_wait_for_change_answers_at_once_when_the_page_is_behind(replay_settings) -> None:
    async with connector(replay_settings, "auto")() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "run_cycle_now", strategy_id=sid)
        with anyio.fail_after(20):
            behind = await ok(
                client, "wait_for_change", strategy_id=sid, cycles=0, status="created", timeout_s=50
            )
        quiet = await ok(
            client, "wait_for_change", strategy_id=sid, cycles=1, status="created", timeout_s=0.2
        )
    assert behind == {"changed": True, "strategy_ids": [sid]}
    assert quiet == {"changed": False, "strategy_ids": []}
