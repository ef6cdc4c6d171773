"""Reads: a strategy's info, its portfolio and digest as stored, pages of its trades and cycles,
one cycle, and the dashboard's chart rows. Nothing here changes a strategy or takes its lock.

Pages are oldest first unless asked for newest first, at most ``MAX_PAGE`` items; the cursor is
the last item's id, handed back as ``next_cursor``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from tradeloop.scheduler.jobs import StrategyScheduler
from tradeloop.services.loaded import LoadedStrategy
from tradeloop.services.models import CyclePage, ReplaySpec, StrategyInfo, TradePage
from tradeloop.services.principals import OWNER_NAME
from tradeloop.store.cycles import CycleStore, PageCursor
from tradeloop.store.leases import Lease
from tradeloop.store.sqlite_digest import FoldedDigest, fold_stored
from tradeloop.store.sqlite_portfolio import SqlitePortfolioService
from tradeloop.store.strategies import StrategyRow, StrategyStore
from tradeloop.trading.errors import ConfigError, NotFound
from tradeloop.trading.history.digest import to_digest
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    PortfolioView,
    StrategyStatus,
    TradeDigest,
)
from tradeloop.trading.utils import normalize_symbol

MAX_PAGE = 500
LeasesOf = Callable[[Iterable[str]], Awaitable[Mapping[str, Lease]]]
"""The lease rows of some strategies (PostgreSQL replicas; see ``slots.leases``)."""


class StrategyQueries:
    def __init__(
        self,
        strategies: StrategyStore,
        cycles: CycleStore,
        scheduler: StrategyScheduler,
        loaded: dict[str, LoadedStrategy],
        leases_of: LeasesOf | None = None,
    ) -> None:
        self._strategies = strategies
        self._leases_of = leases_of
        self._cycles = cycles
        self._scheduler = scheduler
        self._loaded = loaded
        """The registry's loaded strategies: their digest is in memory."""
        self._digests: dict[str, FoldedDigest] = {}
        """Digest folds of strategies not loaded, continued with the cycles stored since."""

    def forget(self, strategy_id: str) -> None:
        self._digests.pop(strategy_id, None)

    async def require(self, strategy_id: str, *, owner: str | None = None) -> StrategyRow:
        """The stored strategy; ``owner``: only if it is that principal's, else ``NotFound`` in
        the words of an unknown id (``services.owned``)."""
        return await self._strategies.require(strategy_id, owner=owner)

    async def require_cycle(self, compose_id: str, *, owner: str | None = None) -> StrategyRow:
        """The strategy that stored cycle ``compose_id`` (of ``owner``'s, unless None)."""
        row = await self._strategies.of_cycle(compose_id, owner=owner)
        if row is None:
            raise no_cycle(compose_id)
        return row

    async def get(self, strategy_id: str) -> StrategyInfo:
        return await self.info(await self._strategies.require(strategy_id))

    async def list(
        self, status: StrategyStatus | None = None, *, owner: str | None = None
    ) -> list[StrategyInfo]:
        """Every strategy, or ``owner``'s only."""
        rows = await self._strategies.all(status, owner=owner)
        leases = await self._leases([row.id for row in rows])
        return [await self.info(row, leases) for row in rows]

    async def _leases(self, strategy_ids: Sequence[str]) -> Mapping[str, Lease]:
        if self._leases_of is None or not strategy_ids:
            return {}
        return await self._leases_of(strategy_ids)

    async def find(self, name: str, *, owner: str = OWNER_NAME) -> StrategyInfo | None:
        """``owner``'s strategy called ``name`` (names are unique per owner)."""
        row = await self._strategies.by_name(name, owner=owner)
        return None if row is None else await self.info(row)

    async def get_portfolio(self, strategy_id: str) -> PortfolioView:
        """The portfolio as stored after the latest cycle."""
        return await stored_portfolio(self._cycles, await self._strategies.require(strategy_id))

    async def get_digest(self, strategy_id: str) -> TradeDigest:
        """Before the first cycle the digest is as of the strategy's creation (never epoch 0)."""
        loaded = self._loaded.get(strategy_id)
        if loaded is not None:
            row, digest = loaded.row, await loaded.digest.build()
        else:
            row = await self._strategies.require(strategy_id)
            folded = await fold_stored(self._cycles, row.id, row.request, self._digests.get(row.id))
            self._digests[row.id] = folded
            digest = to_digest(folded.state)
        return digest if digest.ts else digest.model_copy(update={"ts": row.created_at})

    async def list_trades(
        self,
        strategy_id: str,
        cursor: str | None = None,
        limit: int = 50,
        symbol: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        newest_first: bool = False,
    ) -> TradePage:
        await self._strategies.require(strategy_id)
        page = _page_cursor(cursor, limit, newest_first)
        rows = await self._cycles.trade_page(
            strategy_id,
            page,
            symbol=_symbol_filter(symbol),
            since_ms=since_ms,
            until_ms=until_ms,
        )
        items, next_cursor = _split_page(rows, limit, key=lambda r: r[0])
        return TradePage(items=[trade for _, trade in items], next_cursor=next_cursor)

    async def list_cycles(
        self,
        strategy_id: str,
        cursor: str | None = None,
        limit: int = 50,
        status: CycleStatus | None = None,
        *,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        newest_first: bool = False,
    ) -> CyclePage:
        await self._strategies.require(strategy_id)
        page = _page_cursor(cursor, limit, newest_first)
        rows = await self._cycles.page(
            strategy_id,
            page,
            status=status,
            symbol=_symbol_filter(symbol),
            since_ms=since_ms,
            until_ms=until_ms,
        )
        items, next_cursor = _split_page(rows, limit, key=lambda r: r.cycle_id)
        return CyclePage(items=items, next_cursor=next_cursor)

    async def get_cycle(self, compose_id: str) -> CycleResult:
        result = await self._cycles.get(compose_id)
        if result is None:
            raise no_cycle(compose_id)
        return result

    async def chart_rows(self, strategy_id: str) -> Sequence[tuple[int, float, str]]:
        """Every cycle's (ts, equity, features JSON), oldest first, for the dashboard's charts."""
        await self._strategies.require(strategy_id)
        return await self._cycles.chart_rows(strategy_id)

    async def info(
        self, row: StrategyRow, leases: Mapping[str, Lease] | None = None
    ) -> StrategyInfo:
        """``row`` as the tools show it; its lease from ``leases`` when given, else read."""
        lease = None
        if row.status is StrategyStatus.RUNNING:  # a lease left by another status means nothing
            lease = (leases if leases is not None else await self._leases([row.id])).get(row.id)
        count, last, summary = await self._cycles.stats(row.id)
        cfg, ex = row.request.trading_config, row.request.exchange_config
        spec = replay_spec(row)
        running = row.status is StrategyStatus.RUNNING
        return StrategyInfo(
            strategy_id=row.id,
            owner=row.owner,
            name=row.name,
            agent_kind=row.agent_kind,
            status=row.status,
            reason=row.reason,
            trading_mode=ex.trading_mode,
            data="live" if spec is None else "replay",
            replay=spec,
            symbols=list(cfg.symbols),
            decide_interval=cfg.decide_interval,
            request=row.request,
            created_at=row.created_at,
            updated_at=row.updated_at,
            cycles=count,
            consecutive_failures=row.consecutive_failures,
            last_slot_ts=row.last_slot_ts,
            last_cycle_ts=None if last is None else last.ts,
            next_run_ms=self._scheduler.next_run_ms(row.id) if running else None,
            equity=summary.equity if summary else cfg.initial_capital,
            initial_capital=cfg.initial_capital,
            realized_pnl=summary.realized_pnl if summary else 0.0,
            unrealized_pnl=summary.unrealized_pnl if summary else 0.0,
            fees_paid=summary.fees_paid if summary else 0.0,
            total_return_pct=summary.total_return_pct if summary else 0.0,
            open_positions=summary.open_positions if summary else 0,
            owner_replica=None if lease is None else lease.owner,
            lease_expires_ms=None if lease is None else lease.expires_at,
        )


async def stored_portfolio(cycles: CycleStore, row: StrategyRow) -> PortfolioView:
    """The strategy's portfolio as stored after its latest cycle."""
    portfolio = await SqlitePortfolioService.load(
        cycles, row.id, row.request, opened_ts=row.created_at
    )
    return await portfolio.get_view()


def no_cycle(compose_id: str) -> NotFound:
    """What an unknown cycle (or another principal's) answers."""
    return NotFound(f"no cycle with compose_id {compose_id!r}")


def replay_spec(row: StrategyRow) -> ReplaySpec | None:
    return None if row.replay is None else ReplaySpec.model_validate(row.replay)


def _page_cursor(cursor: str | None, limit: int, newest_first: bool) -> PageCursor:
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    after: int | None = None
    if cursor is not None:
        if not cursor.isdigit():
            raise ConfigError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
        after = int(cursor)
    return PageCursor(after_id=after, limit=limit + 1, ascending=not newest_first)


def _split_page(rows: list, limit: int, *, key: Any) -> tuple[list, str | None]:
    if len(rows) <= limit:
        return rows, None
    items = rows[:limit]
    return items, str(key(items[-1]))


def _symbol_filter(symbol: str | None) -> str | None:
    if symbol is None:
        return None
    try:
        return normalize_symbol(symbol)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
