"""What ``update`` may change in a stored strategy: its TradingConfig fields except the ones the
ledger was opened with, validated like a new config, and only what its desk, its replay data and
its model key allow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tradeloop.backtest.store import BACKTEST_AGENT_KIND
from tradeloop.services.desk import Desk
from tradeloop.services.llm_keys import require_llm_key
from tradeloop.services.queries import replay_spec
from tradeloop.services.replay import ReplayLibrary
from tradeloop.store.strategies import StrategyRow
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import TradingConfig, UserRequest

FIXED_FIELDS = frozenset({"initial_capital", "symbols"})
"""The ledger was opened with them; changing them would rewrite history."""
LLM_MODEL = "llm_model_config"
"""The one change outside TradingConfig: which model decides (replaced whole, validated like a new
config's)."""
UPDATABLE_FIELDS = frozenset(TradingConfig.model_fields) - FIXED_FIELDS | {LLM_MODEL}


def check_change(
    row: StrategyRow, changes: dict[str, Any], desk: Desk, replays: ReplayLibrary
) -> UserRequest:
    """The request of ``row`` with ``changes`` (TradingConfig fields); raises ``ConfigError``
    naming what may not change and why."""
    if row.agent_kind == BACKTEST_AGENT_KIND and changes:
        raise ConfigError(
            f"strategy {row.id} is a stored backtest: its config is the one it ran with "
            "and cannot change (only name can); create_strategy with a new config instead"
        )
    desk.check_update(row, changes)
    request = updated_request(row.request, changes)
    if (
        row.request.trading_config.composer != request.trading_config.composer
        or row.request.llm_model_config != request.llm_model_config
    ):
        require_llm_key(request)
    if request != row.request:
        _check_replay(row, request, changes, replays)
    return request


def updated_request(request: UserRequest, changes: dict[str, Any]) -> UserRequest:
    unknown = sorted(set(changes) - UPDATABLE_FIELDS - FIXED_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(UPDATABLE_FIELDS | {"name"}))
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}; settable: {allowed}")
    fixed = sorted(set(changes) & FIXED_FIELDS)
    if fixed:
        raise ConfigError(f"cannot be changed after creation: {', '.join(fixed)}")
    body = request.model_dump()
    trading = dict(changes)
    if LLM_MODEL in trading:
        body[LLM_MODEL] = trading.pop(LLM_MODEL)
    body["trading_config"].update(trading)
    try:
        return UserRequest.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(f"invalid update: {exc}") from exc


def _check_replay(
    row: StrategyRow, request: UserRequest, changes: Mapping[str, Any], replays: ReplayLibrary
) -> None:
    """A replay strategy's new config must run on its replay data, as create checks."""
    spec = replay_spec(row)
    if spec is None:
        return
    try:
        replays.timeline(spec, request)
    except ConfigError as exc:
        raise ConfigError(
            f"cannot update {', '.join(sorted(changes))} of replay strategy {row.id}: "
            f"its replay data in {spec.data_dir} cannot serve it: {exc}; nothing was changed"
        ) from exc
