"""Persistence: one SQLite file through aiosqlite, numbered SQL migrations (see ``db``)."""

from tradeloop.store.cycles import CycleRecord, CycleRepository
from tradeloop.store.db import Database, SlotTaken, StoreError
from tradeloop.store.sqlite_digest import SqliteDigestBuilder
from tradeloop.store.sqlite_portfolio import SqlitePortfolioService
from tradeloop.store.sqlite_recorder import SqliteHistoryRecorder
from tradeloop.store.strategies import StrategyRepository, StrategyRow

__all__ = [
    "CycleRecord",
    "CycleRepository",
    "Database",
    "SlotTaken",
    "SqliteDigestBuilder",
    "SqliteHistoryRecorder",
    "SqlitePortfolioService",
    "StoreError",
    "StrategyRepository",
    "StrategyRow",
]
