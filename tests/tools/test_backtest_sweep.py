"""run_backtest with a sweep, through a real MCP session: the table, the best set's stored run,
walk-forward, and refusals."""

from __future__ import annotations

from tests.tools.conftest import error, ok

WINDOW = {"start": "2025-01-01", "end": "2025-01-15"}
BTC = {"symbols": ["BTC-USDT"], "initial_capital": 10_000, "feature_intervals": ["1h"]}


async def test_a_sweep_returns_the_table_and_reports_the_best_sets_run(connect) -> None:
    async with connect() as client:
        result = await ok(
            client,
            "run_backtest",
            **BTC,
            **WINDOW,
            sweep={"rsi_buy": "30,45", "rsi_sell_above": "55,70"},
            sort_by="return",
        )
        cycles = await ok(client, "list_cycles", strategy_id=result["run_id"], limit=1)
    sweep = result["sweep"]
    assert sweep["parameter_sets"] == 4 and sweep["sort_by"] == "return"
    returns = [row["stats"]["total_return_pct"] for row in sweep["rows"]]
    assert returns == sorted(returns, reverse=True)
    assert result["stats"]["total_return_pct"] == returns[0]
    assert cycles["cycles"], "the best set's run is stored like any backtest"


async def test_walk_forward_reports_out_of_sample_folds(connect) -> None:
    async with connect() as client:
        result = await ok(
            client, "run_backtest", **BTC, **WINDOW, sweep={"rsi_buy": "30,45"}, walk_forward=2
        )
    folds = result["sweep"]["walk_forward"]
    assert [f["fold"] for f in folds] == [1, 2] and result["sweep"]["rows"] == []
    last = folds[-1]["out_of_sample"]
    for key in ("start_ts", "end_ts", "final_equity", "trades", "sharpe_ratio"):
        assert result["stats"][key] == last[key]


async def test_a_sweep_of_an_llm_strategy_and_walk_forward_alone_are_refused(connect) -> None:
    async with connect() as client:
        llm = await error(
            client, "run_backtest", **BTC, composer="llm", max_cost_usd=1, sweep={"rsi_buy": "30"}
        )
        alone = await error(client, "run_backtest", **BTC, walk_forward=2)
    assert "llm strategy cannot be swept" in llm
    assert "walk_forward: needs sweep" in alone
