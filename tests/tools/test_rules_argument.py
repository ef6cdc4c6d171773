"""The rules composer's thresholds are set through create_strategy and update_strategy (issue 11),
through a real MCP session; a bad threshold is refused by name and changes nothing."""

from __future__ import annotations

from tests.tools.conftest import create, error, ok


async def test_rules_thresholds_are_set_at_create_and_changed_one_at_a_time(connect) -> None:
    rules = {"rsi_buy_below": 40, "rsi_sell_above": 65, "position_size_pct": 0.1}
    async with connect() as client:
        created = await create(client, rules=rules)
        sid = created["strategy_id"]
        shown = created["config"]["rules"]
        assert {k: shown[k] for k in ("rsi_buy_below", "rsi_sell_above", "position_size_pct")} == {
            "rsi_buy_below": 40.0,
            "rsi_sell_above": 65.0,
            "position_size_pct": 0.1,
        }
        assert (shown["allow_short"], shown["trend_filter"]) == (False, False)  # defaults
        updated = await ok(client, "update_strategy", strategy_id=sid, rules={"rsi_buy_below": 25})
        assert updated["config"]["rules"]["rsi_buy_below"] == 25.0
        assert updated["config"]["rules"]["rsi_sell_above"] == 65.0  # kept
        refused = await error(
            client, "update_strategy", strategy_id=sid, rules={"rsi_buy_below": 70}
        )
        detail = await ok(client, "get_strategy", strategy_id=sid)
    assert "rsi_buy_below" in refused
    assert detail["config"]["rules"]["rsi_buy_below"] == 25.0


async def test_an_unknown_or_out_of_range_threshold_is_refused_by_name(connect) -> None:
    async with connect() as client:
        unknown = await error(
            client, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000,
            rules={"rsi_buy": 20},
        )  # fmt: skip
        too_big = await error(
            client, "create_strategy", symbols=["BTC-USDT"], initial_capital=1000,
            rules={"position_size_pct": 2},
        )  # fmt: skip
        listed = await ok(client, "list_strategies")
    assert "rsi_buy" in unknown and "position_size_pct" in too_big
    assert listed["count"] == 0
