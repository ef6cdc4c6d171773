"""The backtest reply cache for every provider: keyed by provider, base URL, model and request;
an OpenAI-compatible backtest re-runs from the cache with the same decisions and no calls."""

from __future__ import annotations

import pytest

from tests.backtest.helpers import BTC, HOUR, rsi_request
from tests.backtest.test_llm_cache import CYCLES, START, actions
from tests.decision.fake_openai import FakeChatAPI, plan_completion
from tradeloop.backtest.llm_cache import request_key
from tradeloop.backtest.runner import BacktestSpec, run_backtest


def test_the_same_request_to_another_provider_or_server_is_another_key() -> None:
    params = {"model": "m", "messages": [{"role": "user", "content": "a"}]}
    keys = {
        request_key(params),
        request_key(params, provider="openai"),
        request_key(params, provider="openai", base_url="http://localhost:11434/v1"),
        request_key(params, provider="openai", base_url="https://openrouter.ai/api/v1"),
    }
    assert len(keys) == 4


def openai_spec(cache_dir, **llm) -> BacktestSpec:
    cfg = {"provider": "openai", "model_id": "gpt-4.1-mini", "max_retries": 0} | llm
    request = rsi_request(composer="llm").model_copy(
        update={"llm_model_config": rsi_request().llm_model_config.model_validate(cfg)}
    )
    return BacktestSpec(
        request=request,
        data=[str(BTC)],
        llm_cache_dir=str(cache_dir),
        start_ms=START,
        end_ms=START + (CYCLES - 1) * HOUR,
    )


def gpt_plan(cycle: int, model: str = "gpt-4.1-mini-2025-04-14") -> dict:
    action = "open_long" if cycle % 4 == 0 else "close_long" if cycle % 4 == 2 else "hold"
    item = {
        "symbol": "BTC-USDT",
        "action": action,
        "quantity": 0.01 if action != "hold" else 0,
        "confidence": 0.6,
        "rationale": f"cycle {cycle}",
    }
    return plan_completion({"rationale": f"plan {cycle}", "items": [item]}, model=model)


async def test_an_openai_backtest_reruns_from_the_cache_without_a_key(
    tmp_path, monkeypatch
) -> None:
    api = FakeChatAPI([gpt_plan(i) for i in range(CYCLES)])
    first = await run_backtest(openai_spec(tmp_path), llm_client=api.client())
    assert len(api.requests) == CYCLES and first.llm is not None
    assert first.llm.calls == CYCLES and first.llm.spent_usd > 0
    assert any(t.exit_price for t in first.trades)

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    again = await run_backtest(openai_spec(tmp_path))
    assert again.llm is not None and (again.llm.calls, again.llm.cache_hits) == (0, CYCLES)
    assert again.llm.saved_usd == pytest.approx(first.llm.spent_usd)
    assert actions(again) == actions(first)


async def test_an_unpriced_model_reports_unpriced_calls_not_zero_cost(tmp_path) -> None:
    api = FakeChatAPI([gpt_plan(i, "my-local-model") for i in range(CYCLES)])
    run = await run_backtest(
        openai_spec(tmp_path, model_id="my-local-model"), llm_client=api.client()
    )
    assert run.llm is not None and run.llm.unpriced_calls == CYCLES
    assert run.llm.estimate is not None and run.llm.estimate.cost_usd is None
