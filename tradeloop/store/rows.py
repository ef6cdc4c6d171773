"""What the shared read code of the stores needs from a backend: rows by portable SQL.

SQLite's ``Database`` and PostgreSQL's ``PgDatabase`` both answer ``fetchall``/``fetchone`` with
``?`` placeholders (PostgreSQL's translates them to ``$n``), and both return rows that index by
position and by column name (``sqlite3.Row``, ``asyncpg.Record``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class RowSource(Protocol):
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any | None: ...
