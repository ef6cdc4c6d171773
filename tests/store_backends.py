"""Both store backends behind one fixture: the store tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tradeloop.store.backend import Store, open_store
from tradeloop.store.codec import without_marks
from tradeloop.trading.models import TxResult, UserRequest
from tradeloop.trading.portfolio.in_memory import fill_from_tx
from tradeloop.trading.portfolio.ledger import Ledger, apply_fill
from tradeloop.trading.utils import to_decimal

BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: a fresh SQLite file or a fresh PostgreSQL database."""

    backend: str
    path: Path
    url: str | None

    @property
    def db(self) -> str:
        """What ``--db`` / ``TRADELOOP_DB`` take for it."""
        return self.url if self.url is not None else str(self.path)

    @asynccontextmanager
    async def open(self, *, exclusive: bool = False) -> AsyncIterator[Store]:
        async with open_store(self.path, self.url, exclusive=exclusive) as store:
            yield store


async def stored_ledger_mismatches(store: Store, strategy_id: str, request: UserRequest) -> int:
    """Cycles whose stored ledger differs from the replay (``apply_fill``) of the fills stored
    up to them, from an account opened with the request's capital: on either backend."""
    ex, cfg = request.exchange_config, request.trading_config
    ledger = Ledger.open_account(ex.market_type, to_decimal(cfg.initial_capital))
    fills: dict[int, list[tuple[int, TxResult]]] = {}
    for cycle_id, ts, tx in await store.cycles.fills(strategy_id):
        fills.setdefault(cycle_id, []).append((ts, tx))
    mismatches = 0
    for cycle_id, stored in await store.cycles.ledgers(strategy_id):
        for ts, tx in fills.get(cycle_id, []):
            ledger, _ = apply_fill(ledger, fill_from_tx(tx, ts))
        if without_marks(ledger) != without_marks(stored):
            mismatches += 1
    return mismatches
