"""The llm_model argument: provider, model, base_url and the NAME of the key variable, through a
real MCP session; a key itself is never an argument or an output."""

from __future__ import annotations

from tests.tools.conftest import create, error, ok


async def test_a_local_openai_compatible_model_is_stored_and_shown(connect) -> None:
    model = {
        "provider": "openai",
        "model": "llama3.1:8b",
        "base_url": "http://localhost:11434/v1",
        "price_input_per_mtok": 0,
        "price_output_per_mtok": 0,
    }
    async with connect() as client:
        created = await create(client, composer="llm", llm_model=model)
        config = created["config"]
        assert (config["llm_provider"], config["llm_model"]) == ("openai", "llama3.1:8b")
        assert config["llm_base_url"] == "http://localhost:11434/v1"
        detail = await ok(client, "get_strategy", strategy_id=created["strategy_id"])
        assert detail["config"]["llm_provider"] == "openai"


async def test_a_key_value_or_a_trading_secret_is_refused_as_the_key_variable(connect) -> None:
    async with connect() as client:
        for name in ("sk-proj-abc123", "TRADELOOP_MAIN_API_KEY"):
            model = {"provider": "openai", "model": "gpt-4.1-mini", "api_key_env": name}
            text = await error(
                client,
                "create_strategy",
                symbols=["BTC-USDT"],
                initial_capital=1000,
                composer="llm",
                llm_model=model,
            )
            assert "api_key_env" in text
        listed = await ok(client, "list_strategies")
        assert listed["strategies"] == []


async def test_an_openai_model_must_be_named(connect) -> None:
    async with connect() as client:
        text = await error(
            client,
            "create_strategy",
            symbols=["BTC-USDT"],
            initial_capital=1000,
            composer="llm",
            llm_model={"provider": "openai"},
        )
        assert "model_id: required for provider 'openai'" in text
