"""The digest builder backed by the store: ``load`` folds the stored decision cycles in order with
the same pure ``fold_cycle`` the running builder uses, so the rebuilt digest is identical."""

from __future__ import annotations

from tradeloop.store.cycles import CycleRepository
from tradeloop.trading.history.digest import RollingDigestBuilder, fold_cycle
from tradeloop.trading.models import UserRequest


class SqliteDigestBuilder(RollingDigestBuilder):
    @classmethod
    async def load(
        cls, cycles: CycleRepository, strategy_id: str, request: UserRequest
    ) -> SqliteDigestBuilder:
        cfg = request.trading_config
        builder = cls(
            interval_s=cfg.decide_interval,
            window=cfg.sharpe_window,
            initial_capital=cfg.initial_capital,
        )
        state = builder.state
        for result in await cycles.digest_inputs(strategy_id):
            state = fold_cycle(state, result)
        builder.state = state
        return builder
