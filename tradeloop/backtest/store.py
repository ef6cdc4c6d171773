"""A finished backtest stored like any strategy: a strategy row (``agent_kind="backtest"``, status
stopped) and every cycle with the exact ledger after it, through the store's own repositories. The
history and digest tools then read it by its run id (``list_trades``, ``get_digest``, ...).

``backtest`` is not an agent kind the server runs, so a stored backtest cannot be started by mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tradeloop.store.cycles import CycleRepository
from tradeloop.store.db import Database
from tradeloop.store.strategies import StrategyRepository
from tradeloop.trading.models import CycleResult, CycleStatus, StrategyStatus, UserRequest
from tradeloop.trading.portfolio.ledger import Ledger

logger = logging.getLogger(__name__)

BACKTEST_AGENT_KIND = "backtest"


async def store_run(
    db: Database,
    *,
    run_id: str,
    request: UserRequest,
    cycles: Sequence[tuple[CycleResult, Ledger]],
    reason: str,
) -> None:
    """Insert the run as a stopped strategy with its cycles (one transaction per cycle)."""
    strategies = StrategyRepository(db)
    name = f"{request.trading_config.strategy_name or 'backtest'} [{run_id}]"
    await strategies.insert(
        strategy_id=run_id,
        name=name,
        agent_kind=BACKTEST_AGENT_KIND,
        request=request,
        replay=None,
    )
    repository = CycleRepository(db)
    for result, ledger in cycles:
        kind = "failure" if result.status is CycleStatus.ERROR else "decision"
        await repository.insert(result, kind=kind, ledger=ledger)
    await strategies.transition(
        run_id, StrategyStatus.STOPPED, reason, action="stop", allowed_from={StrategyStatus.CREATED}
    )
    logger.info("stored backtest run_id=%s cycles=%d", run_id, len(cycles))
