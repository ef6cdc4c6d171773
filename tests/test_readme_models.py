"""The model configs the README shows (OpenAI, OpenRouter, Ollama) are valid as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tradeloop.trading.decision.prompt_based.plan import parse_plan
from tradeloop.trading.decision.prompt_based.providers import is_local
from tradeloop.trading.models import UserRequest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_llm_model_config_in_the_readme_validates() -> None:
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.S)
    configs = [json.loads(b) for b in blocks if "llm_model_config" in b]
    assert len(configs) == 3
    requests = [
        UserRequest.model_validate(
            c | {"trading_config": {"initial_capital": 1000, "symbols": ["BTC-USDT"]}}
        )
        for c in configs
    ]
    openai, router, ollama = (r.llm_model_config for r in requests)
    assert (openai.provider, openai.api_key_env) == ("openai", "OPENAI_API_KEY")
    assert router.api_key_env == "OPENROUTER_API_KEY" and not is_local(router.base_url)
    assert is_local(ollama.base_url) and ollama.price is not None and ollama.price.input == 0


def test_the_readme_adjust_item_is_a_valid_plan_item() -> None:
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.S)
    [item] = [json.loads(b) for b in blocks if '"action": "adjust"' in b]
    plan = parse_plan({"rationale": "manage the open long", "items": [item]})
    assert (plan.items[0].stop_loss, plan.items[0].cancel_take_profit) == (100500, True)
