"""A strategy name is unique within one principal's strategies only: a name another principal
uses is free (answering "taken" would tell that the other strategy exists)."""

from __future__ import annotations

from tests.tenancy.world import World, session, tool_answer


def test_a_name_another_principal_uses_is_free_and_ones_own_is_still_taken(world: World) -> None:
    config = {"symbols": ["BTC-USDT"], "initial_capital": 1000}
    with (
        world.portal.wrap_async_context_manager(session(world.served, "dave")) as dave,
        world.portal.wrap_async_context_manager(session(world.served, "erin")) as erin,
    ):

        def call(client, tool: str, **args: object):
            return tool_answer(world.portal.call(client.call_tool, tool, args))

        assert not call(dave, "create_strategy", **config, name="desk-1").is_error
        assert not call(dave, "create_strategy", **config, name="desk-2").is_error
        same = call(erin, "create_strategy", **config, name="desk-1")
        other = world.portal.call(
            erin.call_tool, "create_strategy", config | {"name": "desk-3"}
        ).structured_content
        renamed = call(erin, "update_strategy", strategy_id=other["strategy_id"], name="desk-2")
        again = call(erin, "create_strategy", **config, name="desk-1")
    assert not same.is_error, same.text
    assert not renamed.is_error, renamed.text
    assert again.is_error and "desk-1" in again.text
