"""Lifecycle tools through a real MCP session, on replayed candles."""

from __future__ import annotations

from tests.tools.conftest import create, error, ok

HOUR_MS = 3_600_000


async def test_create_strategy_returns_the_id_and_the_normalized_config(connect) -> None:
    async with connect() as client:
        created = await create(client, symbols=["btc/usdt", "ETHUSDT"], name="majors")
        assert created["strategy_id"].startswith("s_")
        assert created["status"] == "created"
        assert created["data"] == "replay"
        config = created["config"]
        assert config["symbols"] == ["BTC-USDT", "ETH-USDT"]
        assert config["trading_mode"] == "paper"
        assert config["composer"] == "rules"
        assert config["decide_interval"] == 3600
        assert config["feature_intervals"] == ["1h", "4h"]
        assert config["max_leverage"] == 1


async def test_a_strategy_goes_through_start_pause_resume_stop(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        assert (await ok(client, "start_strategy", strategy_id=sid))["status"] == "running"
        assert (await ok(client, "pause_strategy", strategy_id=sid))["status"] == "paused"
        assert (await ok(client, "resume_strategy", strategy_id=sid))["status"] == "running"
        stopped = await ok(client, "stop_strategy", strategy_id=sid)
        assert stopped["status"] == "stopped"
        assert stopped["closed_positions"] == []


async def test_a_transition_the_status_does_not_allow_names_the_status(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        text = await error(client, "resume_strategy", strategy_id=sid)
        assert text.endswith("it is created, and that needs a strategy that is paused")
        assert (await ok(client, "get_strategy", strategy_id=sid))["status"] == "created"


async def test_running_a_cycle_of_a_stopped_strategy_says_which_statuses_allow_it(
    connect,
) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "stop_strategy", strategy_id=sid)
        text = await error(client, "run_cycle_now", strategy_id=sid)
    assert text == (
        f"cannot run a cycle of strategy {sid}: it is stopped, and that needs a strategy that is "
        "created, paused or running"
    )


async def test_an_unknown_strategy_id_is_a_tool_error_naming_it(connect) -> None:
    async with connect() as client:
        for tool in (
            "get_strategy",
            "start_strategy",
            "get_portfolio",
            "get_digest",
            "run_cycle_now",
        ):
            text = await error(client, tool, strategy_id="s_doesnotexist0000")
            assert "no strategy with id 's_doesnotexist0000'" in text


async def test_list_strategies_shows_status_equity_pnl_and_replay(connect) -> None:
    async with connect() as client:
        first = (await create(client, name="one"))["strategy_id"]
        second = (await create(client, name="two"))["strategy_id"]
        await ok(client, "start_strategy", strategy_id=second)
        listed = await ok(client, "list_strategies")
        assert listed["count"] == 2
        by_id = {s["strategy_id"]: s for s in listed["strategies"]}
        assert by_id[first]["status"] == "created"
        assert by_id[first]["equity"] == 10_000
        assert by_id[first]["pnl"] == 0
        assert by_id[first]["replay"] is True and by_id[first]["data"] == "replay"
        assert by_id[second]["status"] == "running"
        running = await ok(client, "list_strategies", status="running")
        assert [s["strategy_id"] for s in running["strategies"]] == [second]


async def test_get_strategy_says_it_runs_on_replayed_data_and_names_the_whole_folder(
    connect, shared_data
) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        detail = await ok(client, "get_strategy", strategy_id=sid)
        assert detail["data"] == "replay"
        assert detail["replay_spec"]["data_dir"] == str(shared_data.resolve())
        assert detail["config"]["symbols"] == ["BTC-USDT", "ETH-USDT"]


async def test_run_cycle_now_steps_the_simulated_clock_by_decide_interval(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        first = await ok(client, "run_cycle_now", strategy_id=sid)
        second = await ok(client, "run_cycle_now", strategy_id=sid)
        assert first["executed"] is True
        assert first["status"] == "ok"
        assert second["ts"] - first["ts"] == HOUR_MS
        assert "BTC-USDT" in first["rationale"]
        assert (await ok(client, "get_strategy", strategy_id=sid))["cycles"] == 2


async def test_preview_decision_composes_and_guards_without_storing(connect_trading) -> None:
    async with connect_trading() as client:
        sid = (await create(client))["strategy_id"]
        preview = await ok(client, "preview_decision", strategy_id=sid)
        assert preview["executed"] is False
        assert preview["fills"] == []
        assert {i["symbol"] for i in preview["instructions"]} == {"BTC-USDT", "ETH-USDT"}
        assert (await ok(client, "get_strategy", strategy_id=sid))["cycles"] == 0
        cycles = await ok(client, "list_cycles", strategy_id=sid)
        assert cycles["cycles"] == []
        ran = await ok(client, "run_cycle_now", strategy_id=sid)
        assert ran["ts"] == preview["ts"]


async def test_update_strategy_changes_only_what_is_given(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        updated = await ok(
            client, "update_strategy", strategy_id=sid, decide_interval=7200, name="slower"
        )
        assert updated["name"] == "slower"
        assert updated["config"]["decide_interval"] == 7200
        assert updated["config"]["symbols"] == ["BTC-USDT", "ETH-USDT"]
        text = await error(client, "update_strategy", strategy_id=sid, max_leverage=5)
        assert "max_leverage" in text


async def test_delete_needs_a_stopped_strategy_and_then_removes_it(connect) -> None:
    async with connect() as client:
        sid = (await create(client))["strategy_id"]
        await ok(client, "start_strategy", strategy_id=sid)
        assert "that needs a strategy that is stopped" in await error(
            client, "delete_strategy", strategy_id=sid
        )
        await ok(client, "stop_strategy", strategy_id=sid)
        assert (await ok(client, "delete_strategy", strategy_id=sid))["deleted"] is True
        assert "no strategy" in await error(client, "get_strategy", strategy_id=sid)


async def test_live_trading_is_refused_unless_the_operator_enabled_it(connect) -> None:
    async with connect() as client:
        text = await error(
            client,
            "create_strategy",
            symbols=["BTC-USDT"],
            initial_capital=100,
            trading_mode="live",
        )
        assert text.startswith("trading_mode: live trading is disabled on this server")
        assert (await ok(client, "list_strategies"))["count"] == 0


async def test_a_symbol_without_data_is_refused_naming_what_exists(connect) -> None:
    async with connect() as client:
        text = await error(client, "create_strategy", symbols=["DOGE-USDT"], initial_capital=100)
        assert "DOGE-USDT" in text and "BTC-USDT 1h" in text
        assert (await ok(client, "list_strategies"))["count"] == 0


async def test_a_cli_config_file_and_create_strategy_default_to_the_same_feature_intervals(
    connect, tmp_path
) -> None:
    from tradeloop.commands.backtest import load_request

    minimal = tmp_path / "minimal.json"
    minimal.write_text('{"initial_capital": 1000, "symbols": ["BTC-USDT"]}')
    from_file = load_request(minimal).trading_config.feature_intervals
    async with connect() as client:
        created = await create(client, symbols=["BTC-USDT"])
    assert created["config"]["feature_intervals"] == from_file == ["1h", "4h"]


async def test_create_strategy_with_the_llm_composer_and_no_api_key_names_the_variable(
    connect, monkeypatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    async with connect() as client:
        args = {"symbols": ["BTC-USDT"], "initial_capital": 100, "composer": "llm"}
        text = await error(client, "create_strategy", **args)
        listed = await ok(client, "list_strategies")
    assert "ANTHROPIC_API_KEY is not set" in text and "composer='rules'" in text
    assert listed["strategies"] == []
