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
            assert "api_key_env" in text and "sk-proj" not in text  # a pasted key is not echoed
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


LOCAL = {
    "provider": "openai",
    "model": "llama3.1:8b",
    "base_url": "http://localhost:11434/v1",
    "price_input_per_mtok": 0,
    "price_output_per_mtok": 0,
}


async def test_update_strategy_switches_the_model_and_the_config_shows_it(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "update_strategy", strategy_id=sid, composer="llm", llm_model=LOCAL)
        config = (await ok(client, "get_strategy", strategy_id=sid))["config"]
        assert (config["llm_provider"], config["llm_model"]) == ("openai", "llama3.1:8b")
        assert config["llm_base_url"] == "http://localhost:11434/v1"
        other = LOCAL | {"model": "qwen2.5:7b"}
        await ok(client, "update_strategy", strategy_id=sid, llm_model=other)
        config = (await ok(client, "get_strategy", strategy_id=sid))["config"]
        assert config["llm_model"] == "qwen2.5:7b" and config["composer"] == "llm"


async def test_update_strategy_refuses_a_key_value_as_the_key_variable_and_never_echoes_it(
    connect,
) -> None:
    secret = "sk-proj-abc123secretvalue"
    async with connect() as client:
        sid = (await create(client, composer="llm", llm_model=LOCAL))["strategy_id"]
        for name in (secret, "TRADELOOP_MAIN_API_KEY"):
            model = {"provider": "openai", "model": "gpt-4.1-mini", "api_key_env": name}
            text = await error(client, "update_strategy", strategy_id=sid, llm_model=model)
            assert "api_key_env" in text and secret not in text
        config = (await ok(client, "get_strategy", strategy_id=sid))["config"]
        assert config["llm_model"] == "llama3.1:8b"  # nothing stored changed


async def test_update_strategy_to_a_remote_model_without_its_key_names_the_variable(
    connect, monkeypatch
) -> None:
    monkeypatch.delenv("PLAN16_ABSENT_KEY", raising=False)
    remote = {"provider": "openai", "model": "gpt-4.1-mini", "api_key_env": "PLAN16_ABSENT_KEY"}
    async with connect() as client:
        sid = (await create(client, composer="llm", llm_model=LOCAL))["strategy_id"]
        text = await error(client, "update_strategy", strategy_id=sid, llm_model=remote)
        assert "PLAN16_ABSENT_KEY" in text
        config = (await ok(client, "get_strategy", strategy_id=sid))["config"]
        assert config["llm_model"] == "llama3.1:8b"
