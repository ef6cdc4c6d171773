"""Comparisons: several configs against buy-and-hold on the real candles, a tested Student-t
interval, repeated LLM runs with the cache off, the training-cutoff warning and the regime split."""

from __future__ import annotations

import math

import pytest

from tests.backtest.helpers import BTC, HOUR
from tests.backtest.test_baselines import _close_at, two_coin_request
from tests.backtest.test_llm_cache import START
from tests.backtest.test_llm_cache_providers import gpt_plan, openai_spec
from tests.decision.fake_openai import FakeChatAPI
from tradeloop.backtest.compare import compare, intervals
from tradeloop.backtest.confidence import mean_ci, t_quantile
from tradeloop.backtest.honesty import cutoff_warning, regime_labels, regime_split
from tradeloop.backtest.stats import EquityPoint
from tradeloop.backtest.times import parse_time_ms
from tradeloop.commands.compare import comparison_report
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import LLMModelConfig

DAY = 24 * HOUR


def test_t_quantiles_match_the_printed_tables() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.706204736174705, rel=1e-9)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764451051977987, rel=1e-9)
    assert t_quantile(0.975, 30) == pytest.approx(2.0422724563012373, rel=1e-9)
    assert t_quantile(0.95, 10) == pytest.approx(1.8124611228107335, rel=1e-9)


def test_mean_ci_is_the_mean_plus_minus_t_times_the_standard_error() -> None:
    ci = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)  # s^2 = 10/4
    assert (ci.mean, ci.n) == (3.0, 5)
    assert (ci.low, ci.high) == pytest.approx((3.0 - half, 3.0 + half), rel=1e-9)
    assert mean_ci([7.0]) == (7.0, 7.0, 7.0, 1)
    with pytest.raises(ValueError):
        mean_ci([])


async def test_two_rule_configs_are_compared_with_buy_and_hold_checked_by_hand(shared_data) -> None:
    files = [str(shared_data / f"binance_spot_{s}USDT_1h.csv") for s in ("BTC", "ETH")]
    loose = two_coin_request(strategy_name="loose")
    trend = two_coin_request(
        strategy_name="trend",
        rules={"rsi_buy_below": 40, "rsi_sell_above": 70, "trend_filter": True},
    )
    start, end = parse_time_ms("2025-03-01"), parse_time_ms("2025-05-01")

    done = await compare([("loose", loose), ("trend", trend)], files, start_ms=start, end_ms=end)

    result = done.result
    assert [s.label for s in result.strategies] == ["loose", "trend"]
    f = 0.001
    growth = [
        _close_at(shared_data / f"binance_spot_{s}USDT_1h.csv", end)
        / _close_at(shared_data / f"binance_spot_{s}USDT_1h.csv", start)
        for s in ("BTC", "ETH")
    ]
    expected = (sum(0.5 * g * (1 - f) / (1 + f) for g in growth) - 1) * 100
    assert result.buy_and_hold.total_return_pct == pytest.approx(expected, rel=1e-9)
    for strategy in result.strategies:
        assert strategy.runs == 1 and strategy.intervals == {}
        beat = strategy.stats.total_return_pct > expected
        assert strategy.beat_buy_and_hold == int(beat)
    assert result.strategies[0].stats != result.strategies[1].stats
    assert [label for label, _ in done.curves] == ["loose", "trend", "buy and hold"]
    assert {r.regime for r in result.regimes} == {"up", "between", "down"}
    report = comparison_report(result)
    assert "loose" in report and "buy and hold" in report and "Beat buy and hold" in report


async def test_repeated_llm_runs_skip_the_cache_and_report_intervals(tmp_path) -> None:
    fakes = [FakeChatAPI([gpt_plan(i) for i in range(12)]) for _ in range(3)]
    spec = openai_spec(tmp_path, training_cutoff="2026-01")  # after the test candles
    done = await compare(
        [("gpt", spec.request)],
        [str(BTC)],
        start_ms=START,
        end_ms=START + 11 * HOUR,
        repeats=3,
        llm_cache_dir=str(tmp_path),
        llm_client_for=lambda label, index: fakes[index].client(),
    )
    (gpt,) = done.result.strategies
    assert [len(f.requests) for f in fakes] == [12, 12, 12]  # every run asked the model
    assert gpt.runs == 3 and len(gpt.llm_decisions) == 3
    ci = gpt.intervals["total_return_pct"]
    assert ci.n == 3 and ci.low == pytest.approx(ci.mean) == pytest.approx(ci.high)
    assert any("training cutoff" in w for w in gpt.warnings)


def test_a_comparison_needs_unique_labels_and_sane_repeats() -> None:
    import asyncio

    request = two_coin_request()
    with pytest.raises(ConfigError, match="labels must be unique"):
        asyncio.run(compare([("a", request), ("a", request)], ["x"]))
    with pytest.raises(ConfigError, match="repeats"):
        asyncio.run(compare([("a", request)], ["x"], repeats=0))


def test_intervals_cover_every_metric_the_runs_have() -> None:
    from tests.backtest.helpers import curve
    from tradeloop.backtest.stats import compute_stats

    runs = [compute_stats([], curve(100, 110, 105)), compute_stats([], curve(100, 90, 95))]
    ci = intervals(runs)["total_return_pct"]  # +5 % and -5 %: s = sqrt(50), t(0.975, 1)
    half = 12.706204736174705 * math.sqrt(50) / math.sqrt(2)
    assert (ci.mean, ci.n) == (pytest.approx(0.0), 2)
    assert (ci.low, ci.high) == pytest.approx((-half, half))
    assert "payoff_ratio" not in intervals(runs)  # no run had trades


def test_the_cutoff_warning_names_the_model_and_an_override_moves_it() -> None:
    gpt = LLMModelConfig(provider="openai", model_id="gpt-4.1-mini")
    early, late = parse_time_ms("2024-03-01"), parse_time_ms("2025-03-01")
    warning = cutoff_warning(gpt, early)
    assert warning is not None and "gpt-4.1-mini's training cutoff 2024-06" in warning
    assert cutoff_warning(gpt, late) is None
    moved = gpt.model_copy(update={"training_cutoff": "2025-06"})
    assert cutoff_warning(moved, late) is not None
    unknown = cutoff_warning(LLMModelConfig(provider="openai", model_id="llama3.1:8b"), late)
    assert unknown is not None and "unknown" in unknown


def test_regimes_follow_the_trailing_30_day_buy_and_hold_return() -> None:
    # buy-and-hold: flat for 30 days, then +20 % in a day, flat, then down to 85 (-15 % on 30 days)
    levels = [100.0] * 31 + [120.0] * 10 + [85.0] * 5
    hold = [EquityPoint(i * DAY, v) for i, v in enumerate(levels)]
    labels = regime_labels(hold)
    assert labels[:30] == [None] * 30
    assert labels[30] == "between" and labels[31] == "up" and labels[41] == "down"
    strategy = [EquityPoint(i * DAY, 100.0 + (i >= 41) * 10) for i in range(len(levels))]
    split = {r.regime: r for r in regime_split(hold, [("s", strategy), ("buy and hold", hold)])}
    assert split["up"].returns_pct["buy and hold"] == pytest.approx(20.0)
    assert split["down"].returns_pct["buy and hold"] == pytest.approx((85 / 120 - 1) * 100)
    assert split["down"].returns_pct["s"] == pytest.approx(10.0)
    assert split["up"].share_pct == pytest.approx(10 / 16 * 100)


def test_the_compare_command_prints_the_table_and_writes_one_chart(tmp_path, capsys) -> None:
    from tests.backtest.helpers import rsi_request
    from tradeloop.cli import main

    configs = []
    for name, buy in (("rsi30", 30), ("rsi40", 40)):
        path = tmp_path / f"{name}.json"
        rules = {"rsi_buy_below": buy, "rsi_sell_above": 65}
        path.write_text(rsi_request(rules=rules).model_dump_json())
        configs += ["--config", str(path)]
    chart = tmp_path / "cmp.png"
    code = main(["compare", *configs, "--data", str(BTC), "--chart", str(chart)])
    out = capsys.readouterr().out
    assert code == 0
    assert "rsi30" in out and "rsi40" in out and "buy and hold" in out and "regime" in out
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
