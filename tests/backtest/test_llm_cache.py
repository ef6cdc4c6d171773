"""LLM backtests: replies cached by a hash of the exact request, an estimate before the run, and a
spending cap. Claude is scripted at the HTTP boundary (tests/decision/fake_anthropic.py)."""

from __future__ import annotations

import pytest

from tests.backtest.helpers import BTC, HOUR, rsi_request
from tests.decision.fake_anthropic import FakeMessagesAPI, plan_reply
from tradeloop.backtest.llm_cache import request_key
from tradeloop.backtest.runner import BacktestSpec, estimate_backtest, run_backtest

FIRST_TS = int(BTC.read_text().splitlines()[1].split(",")[0])
START = FIRST_TS + 200 * HOUR
CYCLES = 12


def llm_request():
    return rsi_request(composer="llm")


def plan(cycle: int) -> dict:
    action = "open_long" if cycle % 4 == 0 else "close_long" if cycle % 4 == 2 else "hold"
    quantity = 0.01 if action != "hold" else 0
    item = {
        "symbol": "BTC-USDT",
        "action": action,
        "quantity": quantity,
        "confidence": 0.6,
        "rationale": f"cycle {cycle}",
    }
    return plan_reply({"rationale": f"plan {cycle}", "items": [item]})


def spec(cache_dir, **fields) -> BacktestSpec:
    window = {"start_ms": START, "end_ms": START + (CYCLES - 1) * HOUR}
    return BacktestSpec(
        request=llm_request(), data=[str(BTC)], llm_cache_dir=str(cache_dir), **(window | fields)
    )


def actions(run) -> list[tuple]:
    return [(p.ts, p.equity) for p in run.equity_curve] + [
        (t.trade_id.split(":", 1)[1], t.quantity, t.entry_price, t.exit_price) for t in run.trades
    ]


async def test_a_rerun_is_served_from_the_cache_with_the_same_decisions_and_no_calls(
    tmp_path, monkeypatch
) -> None:
    api = FakeMessagesAPI([plan(i) for i in range(CYCLES)])
    first = await run_backtest(spec(tmp_path), llm_client=api.client())
    assert len(api.requests) == CYCLES and first.llm is not None
    assert (first.llm.calls, first.llm.cache_hits) == (CYCLES, 0) and first.llm.spent_usd > 0
    assert any(t.exit_price for t in first.trades)

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # a full hit needs no key at all
    again = await run_backtest(spec(tmp_path))
    assert again.llm is not None and (again.llm.calls, again.llm.cache_hits) == (0, CYCLES)
    assert again.llm.spent_usd == 0 and again.llm.saved_usd == pytest.approx(first.llm.spent_usd)
    assert actions(again) == actions(first)
    assert again.llm.estimate is not None and again.llm.estimate.first_cycle_cached


async def test_max_cost_stops_the_run_before_the_call_that_would_pass_it(tmp_path) -> None:
    api = FakeMessagesAPI([plan(i) for i in range(CYCLES)])
    one_call = 1200 * 3 / 1e6 + 150 * 15 / 1e6  # the scripted usage at Sonnet 4.5 list prices
    run = await run_backtest(spec(tmp_path, max_cost_usd=3.5 * one_call), llm_client=api.client())
    summary = run.summary()
    assert summary.status == "stopped" and "max_cost_usd" in (summary.stop_reason or "")
    assert summary.cycles_done == 3 and len(api.requests) == 3
    assert run.llm is not None and run.llm.spent_usd <= 3.5 * one_call


async def test_the_estimate_prices_every_cycle_from_the_first_real_prompt(tmp_path) -> None:
    estimate = await estimate_backtest(spec(tmp_path))
    assert estimate is not None and estimate.cycles == CYCLES
    assert 100 < estimate.input_tokens_per_cycle < 20_000  # one symbol, one interval
    assert estimate.cached_prompt_tokens_per_cycle > 500  # system prompt and tool schema
    assert 0 < estimate.cost_usd < estimate.max_cost_usd
    assert not estimate.first_cycle_cached


async def test_a_rule_strategy_has_no_llm_estimate(tmp_path) -> None:
    assert await estimate_backtest(BacktestSpec(request=rsi_request(), data=[str(BTC)])) is None


def test_the_request_key_ignores_the_transport_timeout_but_not_the_prompt() -> None:
    params = {"model": "m", "messages": [{"role": "user", "content": "a"}], "max_tokens": 10}
    assert request_key(params) == request_key(params | {"timeout": 30.0})
    assert request_key(params) == request_key(dict(reversed(params.items())))
    assert request_key(params) != request_key(
        params | {"messages": [{"role": "user", "content": "b"}]}
    )
