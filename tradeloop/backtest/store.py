"""A finished backtest stored like any strategy: a strategy row (``agent_kind="backtest"``, status
stopped) and every cycle with the exact ledger after it, in one transaction. The history and
digest tools then read it by its run id (``list_trades``, ``get_digest``, ...).

``backtest`` is not an agent kind the server runs, and the service refuses to load one, so a
stored backtest cannot be started by mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tradeloop.store.backend import NewStrategy, Store, StoredCycle
from tradeloop.trading.models import CycleResult, CycleStatus, StrategyStatus, UserRequest
from tradeloop.trading.portfolio.ledger import Ledger

logger = logging.getLogger(__name__)

BACKTEST_AGENT_KIND = "backtest"


def stored_reason(status: str, stop_reason: str | None) -> str:
    """The reason a stored backtest carries, e.g. ``backtest completed``."""
    return f"backtest {status}" + (f": {stop_reason}" if stop_reason else "")


async def store_run(
    store: Store,
    *,
    owner: str,
    run_id: str,
    request: UserRequest,
    cycles: Sequence[tuple[CycleResult, Ledger]],
    reason: str,
) -> None:
    """Insert the run as a stopped strategy of ``owner`` with all its cycles: stored whole or not
    at all.
    Raises ConfigError when a strategy with that id is already stored."""
    name = f"{request.trading_config.strategy_name or 'backtest'} [{run_id}]"
    strategy = NewStrategy(
        strategy_id=run_id,
        name=name,
        agent_kind=BACKTEST_AGENT_KIND,
        request=request,
        replay=None,
        status=StrategyStatus.STOPPED,
        reason=reason,
        owner=owner,
    )
    stored: list[StoredCycle] = [
        (result, "failure" if result.status is CycleStatus.ERROR else "decision", ledger)
        for result, ledger in cycles
    ]
    await store.insert_whole(strategy, stored)
    logger.info("stored backtest run_id=%s cycles=%d", run_id, len(cycles))
