"""Live trading needs the operator's setting, then a human's confirmation of the exact request."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult

from tests.tools.conftest import MODES, error
from tradeloop.server.app import build_server
from tradeloop.settings import Settings

LIVE = {
    "symbols": ["BTC-USDT"],
    "initial_capital": 1000,
    "trading_mode": "live",
    "credentials_name": "main",
}


class Human:
    """An elicitation callback that answers as told and records every question."""

    def __init__(self, action: str, confirm: bool = True) -> None:
        self.action, self.confirm = action, confirm
        self.questions: list[str] = []

    async def __call__(self, _context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


@asynccontextmanager
async def connect(settings: Settings, mode: str, human: Human | None = None):
    server = build_server(settings)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        yield client


@pytest.fixture
def live_settings(replay_settings: Settings) -> Settings:
    return replay_settings.model_copy(update={"live_trading_enabled": True})


@pytest.mark.parametrize("mode", MODES)
async def test_without_the_operator_setting_live_is_refused_and_nobody_is_asked(
    replay_settings, mode
) -> None:
    human = Human("accept")
    async with connect(replay_settings, mode, human) as client:
        text = await error(client, "create_strategy", **LIVE)
    assert "live trading is disabled on this server" in text
    assert human.questions == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_gets_a_token_bound_to_the_request(
    live_settings, mode
) -> None:
    async with connect(live_settings, mode) as client:
        first = await error(client, "create_strategy", **LIVE)
        token = first.split("confirmation_token='")[1].split("'")[0]
        other = await error(
            client,
            "create_strategy",
            **LIVE | {"initial_capital": 5000, "confirmation_token": token},
        )
        again = await error(client, "create_strategy", **LIVE | {"confirmation_token": token})
        forged = await error(client, "create_strategy", **LIVE | {"confirmation_token": "a.1.b"})
    assert first.startswith("confirmation required before live trading")
    assert "REAL FUNDS" in first and "Nothing was created" in first
    assert "issued for different parameters" in other
    assert "already used" in again
    assert "not issued by this server" in forged


@pytest.mark.parametrize("mode", MODES)
async def test_a_valid_token_gets_past_the_gate(live_settings, mode) -> None:
    async with connect(live_settings, mode) as client:
        first = await error(client, "create_strategy", **LIVE)
        token = first.split("confirmation_token='")[1].split("'")[0]
        second = await error(client, "create_strategy", **LIVE | {"confirmation_token": token})
    # Past the gate, the strategy service decides: this server replays history, so no live.
    assert "confirmation" not in second and "needs live market data" in second


@pytest.mark.parametrize("mode", MODES)
async def test_an_eliciting_client_asks_its_human_and_a_no_creates_nothing(
    live_settings, mode
) -> None:
    human = Human("accept", confirm=False)
    async with connect(live_settings, mode, human) as client:
        text = await error(client, "create_strategy", **LIVE)
    assert len(human.questions) == 1
    assert "LIVE strategy on binance spot with REAL FUNDS" in human.questions[0]
    assert "not confirmed" in text


@pytest.mark.parametrize("mode", MODES)
async def test_an_eliciting_client_whose_human_says_yes_gets_past_the_gate(
    live_settings, mode
) -> None:
    human = Human("accept", confirm=True)
    async with connect(live_settings, mode, human) as client:
        text = await error(client, "create_strategy", **LIVE)
        declined = Human("decline")
    assert len(human.questions) == 1
    assert "confirmation" not in text and "needs live market data" in text
    async with connect(live_settings, mode, declined) as client:
        assert "not confirmed" in await error(client, "create_strategy", **LIVE)


@pytest.mark.parametrize("mode", MODES)
async def test_paper_trading_never_asks_and_refuses_a_stray_token(live_settings, mode) -> None:
    human = Human("accept")
    async with connect(live_settings, mode, human) as client:
        created = await client.call_tool(
            "create_strategy", {"symbols": ["BTC-USDT"], "initial_capital": 10}
        )
        text = await error(
            client,
            "start_strategy",
            strategy_id=created.structured_content["strategy_id"],
            confirmation_token="x",
        )
    assert not created.is_error
    assert human.questions == []
    assert "only live trading needs a confirmation" in text
