"""The digest builder backed by the store: ``load`` folds the stored decision cycles in order with
the same ``DigestAccumulator`` the running builder uses, so the rebuilt digest is identical.

``fold_stored`` continues from an earlier fold (``FoldedDigest``, the state after a given cycle id)
and reads only the cycles after it: folding N cycles then M more equals folding all N + M, because
a fold depends only on the state and the cycle. Cycle ids only grow (``AUTOINCREMENT``), so "the
cycles after id X" is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradeloop.store.cycles import CycleStore
from tradeloop.trading.history.digest import DigestAccumulator, DigestState, RollingDigestBuilder
from tradeloop.trading.models import UserRequest


@dataclass(frozen=True, slots=True)
class FoldedDigest:
    """The digest state after every stored decision cycle up to ``last_cycle_id`` (0: none)."""

    state: DigestState
    last_cycle_id: int = 0


def empty_state(request: UserRequest) -> DigestState:
    cfg = request.trading_config
    return DigestState(
        interval_s=cfg.decide_interval,
        window=cfg.sharpe_window,
        initial_capital=cfg.initial_capital,
    )


async def fold_stored(
    cycles: CycleStore,
    strategy_id: str,
    request: UserRequest,
    since: FoldedDigest | None = None,
) -> FoldedDigest:
    """``since`` folded further with the cycles stored after it; from scratch when ``since`` is
    None or was folded under another config (interval, Sharpe window, capital)."""
    start = empty_state(request)
    if since is None or _config(since.state) != _config(start):
        since = FoldedDigest(start)
    accumulator, last = DigestAccumulator(since.state), since.last_cycle_id
    for cycle_id, result in await cycles.digest_inputs_after(strategy_id, last):
        accumulator.fold(result)
        last = cycle_id
    return FoldedDigest(accumulator.state(), last)


def _config(state: DigestState) -> tuple[int, int, float]:
    return state.interval_s, state.window, state.initial_capital


class SqliteDigestBuilder(RollingDigestBuilder):
    @classmethod
    async def load(
        cls, cycles: CycleStore, strategy_id: str, request: UserRequest
    ) -> SqliteDigestBuilder:
        cfg = request.trading_config
        builder = cls(
            interval_s=cfg.decide_interval,
            window=cfg.sharpe_window,
            initial_capital=cfg.initial_capital,
        )
        builder.state = (await fold_stored(cycles, strategy_id, request)).state
        return builder
