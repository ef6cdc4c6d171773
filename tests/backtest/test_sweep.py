"""Parameter sweeps: the grid syntax, every set's statistics equal to its own backtest, the table
sorted by the chosen metric, walk-forward reporting out-of-sample runs only, refusals."""

from __future__ import annotations

import pytest

from tests.backtest.helpers import BTC, HOUR, rsi_request
from tradeloop.backtest.runner import BacktestSpec, run_backtest
from tradeloop.backtest.sweep import parse_grid, run_sweep, with_params
from tradeloop.cli import main
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import UserRequest


def spec(**fields) -> BacktestSpec:
    return BacktestSpec(**({"request": rsi_request(), "data": [str(BTC)]} | fields))


async def alone(base: BacktestSpec, params: dict, **window) -> object:
    run = await run_backtest(
        base.model_copy(
            update={"request": with_params(base.request, params), "baselines": False} | window
        )
    )
    return run.stats


def test_a_grid_takes_inclusive_ranges_lists_booleans_and_unambiguous_prefixes() -> None:
    grid = parse_grid(
        ["rsi_buy=20:40:5", "rsi_sell_above=60,72.5", "position=0.1:0.3:0.1", "trend=true,false"]
    )
    assert grid == {
        "rsi_buy_below": [20.0, 25.0, 30.0, 35.0, 40.0],
        "rsi_sell_above": [60.0, 72.5],
        "position_size_pct": [0.1, 0.2, 0.3],
        "trend_filter": [True, False],
    }
    assert parse_grid({"stop_loss": "1:2:0.5"}) == {"stop_loss_pct": [1.0, 1.5, 2.0]}


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("rsi=20:40:5", "'rsi' matches rsi_buy_below, rsi_sell_above"),
        ("leverage=1,2", "'leverage' is not a rules parameter; the rules composer's parameters"),
        ("rsi_buy=40:20:5", "needs STEP > 0 and STOP >= START"),
        ("rsi_buy=20:40", "is not START:STOP:STEP"),
        ("rsi_buy=twenty", "'twenty' is not a number"),
        ("trend_filter=yes", "takes true or false"),
        ("rsi_buy", "is not NAME=START:STOP:STEP"),
        ("rsi_buy=0:100000:1", "more than 1000 values"),
    ],
)
def test_a_bad_grid_is_refused_naming_the_parameter_and_the_reason(item: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="sweep: ") as info:
        parse_grid([item])
    assert reason in str(info.value)


async def test_every_set_scores_as_its_own_backtest_and_the_table_is_best_first() -> None:
    base = spec()
    grid = parse_grid(["rsi_buy=25:45:10", "rsi_sell=40,65,70"])
    result = run_sweep(base, grid, sort_by="return", workers=2)
    assert result.workers == 2 and result.parameter_sets == 8  # 45 / 40 is refused
    assert len(result.skipped) == 1 and "rsi_buy_below must be lower" in result.skipped[0]
    for row in result.rows:
        assert row.stats == await alone(base, row.params)
    returns = [row.stats.total_return_pct for row in result.rows]
    assert returns == sorted(returns, reverse=True)
    drawdown = run_sweep(base, grid, sort_by="drawdown", workers=1)
    depths = [row.stats.max_drawdown_pct for row in drawdown.rows]
    assert depths == sorted(depths)


async def test_walk_forward_picks_in_sample_and_reports_the_next_part_only() -> None:
    base = spec()
    params = [{"rsi_buy_below": b, "rsi_sell_above": 65.0} for b in (30.0, 35.0, 45.0)]
    result = run_sweep(base, parse_grid(["rsi_buy=30,35,45"]), sort_by="return", walk_forward=2)
    folds = result.walk_forward
    assert folds is not None and [f.fold for f in folds] == [1, 2] and result.rows == []
    assert folds[0].out_of_sample_start_ms == folds[1].in_sample_start_ms
    for fold in folds:
        assert fold.out_of_sample_start_ms == fold.in_sample_end_ms + HOUR
        window = {"start_ms": fold.in_sample_start_ms, "end_ms": fold.in_sample_end_ms}
        scores = [(await alone(base, p, **window)).total_return_pct for p in params]
        assert fold.params["rsi_buy_below"] == params[scores.index(max(scores))]["rsi_buy_below"]
        oos = {"start_ms": fold.out_of_sample_start_ms, "end_ms": fold.out_of_sample_end_ms}
        assert fold.out_of_sample == await alone(
            base, fold.params | {"rsi_sell_above": 65.0}, **oos
        )
    growth = (1 + folds[0].out_of_sample.total_return_pct / 100) * (
        1 + folds[1].out_of_sample.total_return_pct / 100
    )
    assert result.out_of_sample_return_pct == pytest.approx((growth - 1) * 100, rel=1e-12)


def test_an_llm_strategy_cannot_be_swept() -> None:
    body = rsi_request().model_dump()
    body["trading_config"]["composer"] = "llm"
    llm = spec(request=UserRequest.model_validate(body))
    with pytest.raises(ConfigError, match="llm strategy cannot be swept: its decisions are model"):
        run_sweep(llm, parse_grid(["rsi_buy=20,30"]))


def test_backtest_sweep_prints_the_table_sorted_by_the_chosen_metric(tmp_path, capsys) -> None:
    config = tmp_path / "rsi.json"
    config.write_text(rsi_request().model_dump_json())
    args = ["backtest", "--config", str(config), "--data", str(BTC), "--workers", "1"]
    code = main(
        [*args, "--sweep", "rsi_buy=30,40", "--sweep", "rsi_sell=60,70", "--sort-by", "sortino"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Sweep of rsi_buy_below, rsi_sell_above: 4 parameter sets" in out and "sortino" in out
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    sortinos = [float(r[4]) for r in rows if r[4] != "-"]
    assert len(rows) == 4 and sortinos == sorted(sortinos, reverse=True)
    assert main([*args, "--sweep", "nope=1"]) == 2
    assert "'nope' is not a rules parameter" in capsys.readouterr().err
    assert main([*args, "--walk-forward", "2"]) == 2
    assert "--walk-forward: needs --sweep" in capsys.readouterr().err
