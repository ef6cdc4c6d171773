"""``max_cost_usd`` on a model without a price: every call would cost 'unknown', so the cap could
never stop the run. It is refused up front, naming the field; a price given with the model makes
the cap work."""

from __future__ import annotations

import pytest

from tests.backtest.helpers import BTC, rsi_request
from tests.backtest.test_llm_cache import CYCLES, plan, spec
from tests.decision.fake_anthropic import FakeMessagesAPI
from tradeloop.backtest.compare import compare
from tradeloop.backtest.runner import run_backtest
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import LLMModelConfig, LlmPrice, UserRequest

UNPRICED = "my-finetune-7b"  # in no price table


def replies() -> list[dict]:
    """The scripted plans, answered under the unpriced model's name (as a server would)."""
    return [plan(i) | {"model": UNPRICED} for i in range(CYCLES)]


def llm_request(price: LlmPrice | None = None) -> UserRequest:
    request = rsi_request(composer="llm")
    model = LLMModelConfig(model_id=UNPRICED, max_retries=0, timeout_s=5, price=price)
    return request.model_copy(update={"llm_model_config": model})


async def test_a_cost_cap_on_an_unpriced_model_is_refused_before_any_call(tmp_path) -> None:
    api = FakeMessagesAPI(replies())
    capped = spec(tmp_path, max_cost_usd=5.0).model_copy(update={"request": llm_request()})

    with pytest.raises(ConfigError) as refused:
        await run_backtest(capped, llm_client=api.client())

    message = str(refused.value)
    assert message.startswith(f"max_cost_usd: model '{UNPRICED}' has no known price")
    assert "llm_model_config.price" in message and "price_input_per_mtok" in message
    assert api.requests == []


async def test_an_unpriced_model_without_a_cap_runs_and_counts_its_calls_as_unpriced(
    tmp_path,
) -> None:
    api = FakeMessagesAPI(replies())
    uncapped = spec(tmp_path).model_copy(update={"request": llm_request()})

    run = await run_backtest(uncapped, llm_client=api.client())

    assert run.llm is not None and run.llm.unpriced_calls == CYCLES and run.llm.spent_usd == 0


async def test_a_price_given_with_the_model_makes_the_cap_stop_the_run(tmp_path) -> None:
    api = FakeMessagesAPI(replies())
    price = LlmPrice(input=1000, output=1000)  # USD per million tokens
    one_call = (1200 + 150) * 1000 / 1e6  # the scripted usage: 1200 input and 150 output tokens
    capped = spec(tmp_path, max_cost_usd=2.5 * one_call).model_copy(
        update={"request": llm_request(price)}
    )

    run = await run_backtest(capped, llm_client=api.client())

    summary = run.summary()
    assert summary.status == "stopped" and "max_cost_usd" in (summary.stop_reason or "")
    assert summary.cycles_done == 2 and len(api.requests) == 2


async def test_a_comparison_with_a_capped_unpriced_model_runs_nothing(tmp_path) -> None:
    entries = [("rules", rsi_request()), ("unpriced", llm_request())]
    with pytest.raises(ConfigError, match=r"^max_cost_usd: model 'my-finetune-7b'"):
        await compare(entries, [str(BTC)], max_cost_usd=1.0, llm_cache_dir=str(tmp_path))
