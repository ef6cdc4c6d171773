"""Stored cycles: one row per slot plus what the cycle did, written in one transaction.

Live fills the cycle applied to its portfolio are marked ``applied`` on their order intents in the
same transaction, so a crash can never leave a fill both in the ledger and handed over again.

A cycle row holds the features (as references to deduplicated payloads, see ``payloads``), the
composer's rationale, and packed (deflated) JSON of its raw output, the portfolio view, the summary
and the exact ledger after the cycle. Instructions (proposed and guarded), guard notes,
TxResults and trades have their own tables. ``UNIQUE (strategy_id, slot_ts)`` makes a second row
for a slot impossible: ``insert`` raises ``SlotTaken`` and nothing of that cycle is stored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic_core import to_json

from tradeloop.store.codec import ledger_from_json, ledger_to_json
from tradeloop.store.db import Database, SlotTaken, StoreError
from tradeloop.store.intents import mark_applied_rows
from tradeloop.store.payloads import content_hash, join_hashes, pack, split_hashes, unpack
from tradeloop.store.rows import RowSource
from tradeloop.trading.crashpoints import crash_point
from tradeloop.trading.models import (
    CycleResult,
    CycleStatus,
    FeatureVector,
    GuardNote,
    LevelAdjustment,
    LLMUsage,
    PortfolioView,
    StrategySummary,
    TradeHistoryEntry,
    TradeInstruction,
    TxResult,
    TxStatus,
)
from tradeloop.trading.portfolio.ledger import Ledger

CycleKind = Literal["decision", "failure"]
"""A decision went through the composer (and is folded into the digest); a failure did not run."""

FEATURES_BEFORE_0003 = TypeAdapter(list[FeatureVector])
"""Features as stored before migration 0003: one JSON array per cycle."""
_ADJUSTMENTS = TypeAdapter(dict[str, list[LevelAdjustment]])
"""A cycle's ``{"proposed": [...], "applied": [...]}`` stop and target adjustments."""
_SYSTEM_REF = "payload"
_FILLED = (TxStatus.FILLED.value, TxStatus.PARTIAL.value)

INSERT_CYCLE = """INSERT INTO cycles (
    compose_id, strategy_id, slot_ts, ts, kind, status, reason, rationale, features, raw,
    usage_json, summary, portfolio, ledger, portfolio_ts, equity, n_proposed,
    n_instructions, n_notes, n_tx, n_fills, n_trades, recorded_at, adjustments
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_INSERT_PAYLOAD = "INSERT OR IGNORE INTO payloads (strategy_id, hash, body) VALUES (?, ?, ?)"
INSERT_INSTRUCTION = """INSERT INTO instructions (
    cycle_id, stage, position, instruction_id, symbol, side, action, quantity, body_json
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_NOTE = """INSERT INTO guard_notes (
    cycle_id, position, instruction_id, symbol, outcome, reason) VALUES (?, ?, ?, ?, ?, ?)"""
INSERT_TX = """INSERT INTO tx_results (
    cycle_id, strategy_id, position, instruction_id, symbol, side, status, requested_qty,
    filled_qty, avg_exec_price, fee_cost, ts, body_json
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_TRADE = """INSERT INTO trades (
    cycle_id, strategy_id, trade_id, compose_id, symbol, side, type, quantity, entry_price,
    exit_price, entry_ts, exit_ts, realized_pnl, fee_cost, body_json
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_UPDATE_STRATEGY = """UPDATE strategies SET
    last_slot_ts = CASE
        WHEN :slot IS NULL THEN last_slot_ts
        WHEN last_slot_ts IS NULL OR :slot > last_slot_ts THEN :slot
        ELSE last_slot_ts END,
    consecutive_failures = CASE :failures
        WHEN 'reset' THEN 0 WHEN 'add' THEN consecutive_failures + 1
        ELSE consecutive_failures END,
    updated_at = :now
WHERE id = :id RETURNING consecutive_failures"""
_SUMMARY_COLUMNS = (
    "id, compose_id, strategy_id, slot_ts, ts, kind, status, reason, rationale, equity,"
    " n_proposed, n_instructions, n_notes, n_fills, n_trades"
)


class CycleRecord(BaseModel):
    """One stored cycle, without its bulky parts (``get_cycle`` has everything)."""

    model_config = ConfigDict(frozen=True)

    cycle_id: int
    compose_id: str
    strategy_id: str
    slot_ts: int | None
    ts: int
    kind: CycleKind
    status: CycleStatus
    reason: str | None
    rationale: str | None
    equity: float
    proposed: int
    instructions: int
    guard_notes: int
    fills: int
    trades: int


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Keyset pagination on row ids: the rows after ``after_id`` in the chosen order."""

    after_id: int | None
    limit: int
    ascending: bool = True

    @property
    def order(self) -> str:
        return "ASC" if self.ascending else "DESC"


class CycleStore:
    """The cycle store on any backend: the reads are shared (portable SQL on a ``RowSource``),
    ``insert`` is each backend's own (``CycleRepository`` for SQLite, ``store.postgres``)."""

    def __init__(self, db: RowSource) -> None:
        self._db = db

    async def insert(self, result: CycleResult, *, kind: CycleKind, ledger: Ledger) -> int:
        """Store the whole cycle or nothing; returns the strategy's consecutive failures after it.
        Raises ``SlotTaken`` when the strategy has a cycle for that slot (or compose_id)."""
        raise NotImplementedError

    async def latest_ledger(self, strategy_id: str) -> tuple[Ledger, int] | None:
        row = await self._db.fetchone(
            "SELECT ledger, portfolio_ts FROM cycles WHERE strategy_id = ? ORDER BY id DESC LIMIT 1",
            (strategy_id,),
        )
        return None if row is None else (_ledger(row[0]), row[1])

    async def ledgers(self, strategy_id: str) -> list[tuple[int, Ledger]]:
        """Every stored after-cycle ledger, oldest first, with its cycle id."""
        rows = await self._db.fetchall(
            "SELECT id, ledger FROM cycles WHERE strategy_id = ? ORDER BY id", (strategy_id,)
        )
        return [(row[0], _ledger(row[1])) for row in rows]

    async def fills(self, strategy_id: str) -> list[tuple[int, int, TxResult]]:
        """Every stored fill in execution order: (cycle id, cycle ts, tx)."""
        rows = await self._db.fetchall(
            "SELECT t.cycle_id, c.ts, t.body_json FROM tx_results t JOIN cycles c"
            " ON c.id = t.cycle_id WHERE t.strategy_id = ? AND t.status IN (?, ?)"
            " AND t.filled_qty > 0 ORDER BY t.id",
            (strategy_id, *_FILLED),
        )
        return [(row[0], row[1], TxResult.model_validate_json(row[2])) for row in rows]

    async def digest_inputs_after(
        self, strategy_id: str, after_id: int = 0
    ) -> list[tuple[int, CycleResult]]:
        """The decision cycles with an id above ``after_id``, oldest first, as (cycle id, what the
        digest folds: trades, summary, usage)."""
        cycles = await self._db.fetchall(
            "SELECT id, compose_id, ts, summary, usage_json FROM cycles"
            " WHERE strategy_id = ? AND kind = 'decision' AND id > ? ORDER BY id",
            (strategy_id, after_id),
        )
        if not cycles:
            return []
        # bounded by the last cycle read: a cycle committed in between is left for the next call
        trades = await self._trades_by_cycle(strategy_id, after_id, cycles[-1]["id"])
        return [
            (
                row["id"],
                CycleResult(
                    compose_id=row["compose_id"],
                    strategy_id=strategy_id,
                    ts=row["ts"],
                    strategy_summary=_summary(row["summary"]),
                    usage=_usage(row["usage_json"]),
                    trades=trades.get(row["id"], []),
                ),
            )
            for row in cycles
        ]

    async def recent_decisions(self, strategy_id: str, limit: int) -> list[CycleResult]:
        """The last ``limit`` decision cycles, oldest first, complete."""
        rows = await self._db.fetchall(
            "SELECT compose_id FROM cycles WHERE strategy_id = ? AND kind = 'decision'"
            " ORDER BY id DESC LIMIT ?",
            (strategy_id, limit),
        )
        found = [await self.get(row[0]) for row in reversed(rows)]
        return [result for result in found if result is not None]

    async def get(self, compose_id: str) -> CycleResult | None:
        row = await self._db.fetchone("SELECT * FROM cycles WHERE compose_id = ?", (compose_id,))
        if row is None:
            return None
        return await self._decode(row)

    async def equity_before(self, strategy_id: str, ts: int) -> float | None:
        row = await self._db.fetchone(
            "SELECT equity FROM cycles WHERE strategy_id = ? AND ts < ? ORDER BY ts DESC, id DESC"
            " LIMIT 1",
            (strategy_id, ts),
        )
        return None if row is None else float(row[0])

    async def chart_rows(self, strategy_id: str) -> list[tuple[int, float, str]]:
        """Every cycle's (ts, equity, features as a JSON list), oldest first: what the dashboard
        charts. The strategy's payloads are read once, not per cycle."""
        rows = await self._db.fetchall(
            "SELECT ts, equity, features FROM cycles WHERE strategy_id = ? ORDER BY id",
            (strategy_id,),
        )
        stored = await self._db.fetchall(
            "SELECT hash, body FROM payloads WHERE strategy_id = ?", (strategy_id,)
        )
        bodies = {bytes(row[0]): bytes(row[1]) for row in stored}
        return [(int(row[0]), float(row[1]), _features_text(row[2], bodies)) for row in rows]

    async def count(self, strategy_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM cycles WHERE strategy_id = ?", (strategy_id,)
        )
        return int(row[0]) if row else 0

    async def stats(
        self, strategy_id: str
    ) -> tuple[int, CycleRecord | None, StrategySummary | None]:
        """(number of cycles, latest cycle, its summary)."""
        count = await self._db.fetchone(
            "SELECT COUNT(*) FROM cycles WHERE strategy_id = ?", (strategy_id,)
        )
        row = await self._db.fetchone(
            f"SELECT {_SUMMARY_COLUMNS}, summary FROM cycles WHERE strategy_id = ?"
            " ORDER BY id DESC LIMIT 1",
            (strategy_id,),
        )
        if row is None:
            return 0, None, None
        summary = _summary(row["summary"])
        return int(count[0]) if count else 0, _record(row), summary

    async def page(
        self,
        strategy_id: str,
        cursor: PageCursor,
        *,
        status: CycleStatus | None = None,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[CycleRecord]:
        """Up to ``cursor.limit`` cycles past ``cursor.after_id`` matching the filters; ``symbol``
        keeps cycles with an instruction (proposed or guarded) for it."""
        where, params = _filters(strategy_id, cursor, since_ms, until_ms, "ts")
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if symbol is not None:
            where.append("id IN (SELECT cycle_id FROM instructions WHERE symbol = ?)")
            params.append(symbol)
        rows = await self._db.fetchall(
            f"SELECT {_SUMMARY_COLUMNS} FROM cycles WHERE {' AND '.join(where)}"
            f" ORDER BY id {cursor.order} LIMIT ?",
            (*params, cursor.limit),
        )
        return [_record(row) for row in rows]

    async def trade_page(
        self,
        strategy_id: str,
        cursor: PageCursor,
        *,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[tuple[int, TradeHistoryEntry]]:
        """(row id, trade) pairs; the time filters apply to the exit (else entry) time."""
        where, params = _filters(
            strategy_id, cursor, since_ms, until_ms, "COALESCE(exit_ts, entry_ts)"
        )
        if symbol is not None:
            where.append("symbol = ?")
            params.append(symbol)
        rows = await self._db.fetchall(
            f"SELECT id, body_json FROM trades WHERE {' AND '.join(where)}"
            f" ORDER BY id {cursor.order} LIMIT ?",
            (*params, cursor.limit),
        )
        return [(row[0], TradeHistoryEntry.model_validate_json(row[1])) for row in rows]

    async def trades(self, strategy_id: str, limit: int | None = None) -> list[TradeHistoryEntry]:
        """Oldest first (the last ``limit`` when given)."""
        rows = await self._db.fetchall(
            f"SELECT body_json FROM trades WHERE strategy_id = ? ORDER BY id DESC{_limit(limit)}",
            (strategy_id,),
        )
        return [TradeHistoryEntry.model_validate_json(row[0]) for row in reversed(rows)]

    async def compose_ids(self, strategy_id: str, limit: int | None = None) -> list[str]:
        """Oldest first (the last ``limit`` when given)."""
        rows = await self._db.fetchall(
            f"SELECT compose_id FROM cycles WHERE strategy_id = ? ORDER BY id DESC{_limit(limit)}",
            (strategy_id,),
        )
        return [row[0] for row in reversed(rows)]

    async def _trades_by_cycle(
        self, strategy_id: str, after_id: int, last_id: int
    ) -> dict[int, list[TradeHistoryEntry]]:
        rows = await self._db.fetchall(
            "SELECT cycle_id, body_json FROM trades WHERE strategy_id = ?"
            " AND cycle_id > ? AND cycle_id <= ? ORDER BY id",
            (strategy_id, after_id, last_id),
        )
        grouped: dict[int, list[TradeHistoryEntry]] = defaultdict(list)
        for row in rows:
            grouped[row[0]].append(TradeHistoryEntry.model_validate_json(row[1]))
        return grouped

    async def _decode(self, row: sqlite3.Row) -> CycleResult:
        cycle_id = row["id"]
        instructions = await self._db.fetchall(
            "SELECT stage, body_json FROM instructions WHERE cycle_id = ? ORDER BY stage, position",
            (cycle_id,),
        )
        notes = await self._db.fetchall(
            "SELECT instruction_id, symbol, outcome, reason FROM guard_notes WHERE cycle_id = ?"
            " ORDER BY position",
            (cycle_id,),
        )
        txs = await self._db.fetchall(
            "SELECT body_json FROM tx_results WHERE cycle_id = ? ORDER BY position", (cycle_id,)
        )
        trades = await self._db.fetchall(
            "SELECT body_json FROM trades WHERE cycle_id = ? ORDER BY id", (cycle_id,)
        )
        by_stage = _by_stage(instructions)
        adjustments = _adjustments(row["adjustments"])
        return CycleResult(
            compose_id=row["compose_id"],
            strategy_id=row["strategy_id"],
            ts=row["ts"],
            slot_ts=row["slot_ts"],
            status=CycleStatus(row["status"]),
            reason=row["reason"],
            features=await self._features(row["strategy_id"], row["features"]),
            rationale=row["rationale"],
            raw=await self._raw(row["strategy_id"], row["raw"]),
            usage=_usage(row["usage_json"]),
            proposed=by_stage["proposed"],
            instructions=by_stage["guarded"],
            guard_notes=[GuardNote(**dict(note)) for note in notes],
            tx_results=[TxResult.model_validate_json(tx[0]) for tx in txs],
            trades=[TradeHistoryEntry.model_validate_json(t[0]) for t in trades],
            proposed_adjustments=adjustments.get("proposed", []),
            adjustments=adjustments.get("applied", []),
            portfolio=None
            if row["portfolio"] is None
            else PortfolioView.model_validate_json(unpack(row["portfolio"])),
            strategy_summary=_summary(row["summary"]),
        )

    async def _features(self, strategy_id: str, value: bytes | str) -> list[FeatureVector]:
        if isinstance(value, str):
            return FEATURES_BEFORE_0003.validate_json(value)
        hashes = split_hashes(value)
        bodies = await self._payloads(strategy_id, hashes)
        return [FeatureVector.model_validate_json(unpack(bodies[h])) for h in hashes]

    async def _raw(self, strategy_id: str, value: bytes | str | None) -> dict[str, Any] | None:
        if value is None:
            return None
        raw = json.loads(unpack(value))
        prompt = raw.get("prompt")
        system = prompt.get("system") if isinstance(prompt, dict) else None
        if isinstance(system, dict) and set(system) == {_SYSTEM_REF}:
            ref = bytes.fromhex(system[_SYSTEM_REF])
            body = (await self._payloads(strategy_id, [ref]))[ref]
            prompt["system"] = json.loads(unpack(body))
        return raw

    async def _payloads(self, strategy_id: str, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}
        rows = await self._db.fetchall(
            f"SELECT hash, body FROM payloads WHERE strategy_id = ?"
            f" AND hash IN ({', '.join('?' * len(wanted))})",
            (strategy_id, *wanted),
        )
        found = {bytes(row[0]): bytes(row[1]) for row in rows}
        if len(found) != len(wanted):
            raise StoreError(f"strategy {strategy_id}: a stored cycle refers to a missing payload")
        return found


class CycleRepository(CycleStore):
    """The cycle store on SQLite: a cycle is one ``Database.write`` on the writer thread."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._sqlite = db

    async def insert(self, result: CycleResult, *, kind: CycleKind, ledger: Ledger) -> int:
        rows = CycleRows.of(result, kind, ledger)
        try:
            return await self._sqlite.write(rows.insert)
        except sqlite3.IntegrityError as exc:
            if "slot_ts" in str(exc) or "compose_id" in str(exc):
                raise slot_taken(result) from exc
            raise StoreError(f"cycle {result.compose_id} could not be stored: {exc}") from exc


def slot_taken(result: CycleResult) -> SlotTaken:
    return SlotTaken(
        f"strategy {result.strategy_id} already has a cycle for slot {result.slot_ts}"
        f" (or compose_id {result.compose_id})"
    )


def insert_cycle(
    conn: sqlite3.Connection, result: CycleResult, *, kind: CycleKind, ledger: Ledger
) -> int:
    """``CycleRepository.insert`` inside the caller's transaction (many cycles in one commit);
    returns the strategy's consecutive failures after it."""
    return CycleRows.of(result, kind, ledger).insert(conn)


def _cycle_params(
    result: CycleResult, kind: CycleKind, ledger: Ledger, features: bytes, raw: bytes | None
) -> tuple[Any, ...]:
    view = result.portfolio
    return (
        result.compose_id,
        result.strategy_id,
        result.slot_ts,
        result.ts,
        kind,
        result.status.value,
        result.reason,
        result.rationale,
        features,
        raw,
        None if result.usage is None else result.usage.model_dump_json(),
        pack(result.strategy_summary.model_dump_json().encode()),
        None if view is None else pack(view.model_dump_json().encode()),
        pack(ledger_to_json(ledger).encode()),
        view.ts if view is not None else result.ts,
        result.strategy_summary.equity,
        len(result.proposed),
        len(result.instructions),
        len(result.guard_notes),
        len(result.tx_results),
        sum(1 for tx in result.tx_results if tx.filled_qty > 0),
        len(result.trades),
        time.time_ns() // 1_000_000,
        _adjustments_blob(result),
    )


def _adjustments_blob(result: CycleResult) -> bytes | None:
    if not result.proposed_adjustments and not result.adjustments:
        return None  # nearly every cycle
    body = {"proposed": result.proposed_adjustments, "applied": result.adjustments}
    return pack(_ADJUSTMENTS.dump_json(body))


@dataclass(frozen=True, slots=True)
class CycleRows:
    """A cycle encoded as rows (backend-neutral); ``insert`` writes them on SQLite's writer
    thread in one transaction (``store.postgres`` has its own)."""

    strategy_id: str
    cycle: tuple[Any, ...]
    payloads: list[tuple[Any, ...]]
    instructions: list[tuple[Any, ...]]
    notes: list[tuple[Any, ...]]
    txs: list[tuple[Any, ...]]
    trades: list[tuple[Any, ...]]
    update: dict[str, Any]
    applied: list[str]
    """Client order ids of the live fills this cycle applied to the portfolio."""

    @classmethod
    def of(cls, result: CycleResult, kind: CycleKind, ledger: Ledger) -> CycleRows:
        sid = result.strategy_id
        payloads: dict[bytes, bytes] = {}
        features = join_hashes(
            _payload(payloads, vector.model_dump_json().encode()) for vector in result.features
        )
        raw = None if result.raw is None else pack(_raw_json(result.raw, payloads))
        return cls(
            strategy_id=sid,
            cycle=_cycle_params(result, kind, ledger, features, raw),
            payloads=[(sid, h, body) for h, body in payloads.items()],
            instructions=[
                *_instruction_rows("proposed", result.proposed),
                *_instruction_rows("guarded", result.instructions),
            ],
            notes=[
                (i, n.instruction_id, n.symbol, n.outcome, n.reason)
                for i, n in enumerate(result.guard_notes)
            ],
            txs=[_tx_row(sid, i, tx) for i, tx in enumerate(result.tx_results)],
            trades=[_trade_row(sid, t) for t in result.trades],
            update=_strategy_update(result, kind),
            applied=[
                tx.client_order_id
                for tx in result.tx_results
                if tx.client_order_id and tx.status.value in _FILLED and tx.filled_qty > 0
            ],
        )

    def insert(self, conn: sqlite3.Connection) -> int:
        if self.payloads:
            conn.executemany(_INSERT_PAYLOAD, self.payloads)
        cycle_id = conn.execute(INSERT_CYCLE, self.cycle).lastrowid
        for sql, rows in (
            (INSERT_INSTRUCTION, self.instructions),
            (INSERT_NOTE, self.notes),
            (INSERT_TX, self.txs),
            (INSERT_TRADE, self.trades),
        ):
            if rows:
                conn.executemany(sql, [(cycle_id, *row) for row in rows])
        updated = conn.execute(_UPDATE_STRATEGY, self.update).fetchone()
        if updated is None:
            raise StoreError(f"no strategy {self.strategy_id} to record a cycle for")
        mark_applied_rows(conn, self.applied, self.update["now"])
        crash_point("mid_commit")
        return int(updated[0])


def _payload(payloads: dict[bytes, bytes], data: bytes) -> bytes:
    """Add ``data`` (JSON) to this cycle's payloads (stored unless its strategy has it already);
    returns its hash."""
    key = content_hash(data)
    if key not in payloads:
        payloads[key] = pack(data)
    return key


def _raw_json(raw: dict[str, Any], payloads: dict[bytes, bytes]) -> bytes:
    """``raw`` as JSON, an LLM system prompt (the same every cycle) replaced by its payload hash."""
    prompt = raw.get("prompt")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("system"), str):
        return to_json(raw)
    system = prompt["system"]
    ref = _payload(payloads, to_json(system))
    return to_json({**raw, "prompt": {**prompt, "system": {_SYSTEM_REF: ref.hex()}}})


def _strategy_update(result: CycleResult, kind: CycleKind) -> dict[str, Any]:
    if kind == "decision":
        failures = "reset"
    else:
        failures = "add" if result.status is CycleStatus.ERROR else "keep"
    return {
        "slot": result.slot_ts,
        "failures": failures,
        "now": time.time_ns() // 1_000_000,
        "id": result.strategy_id,
    }


def _instruction_rows(
    stage: str, instructions: Iterable[TradeInstruction]
) -> list[tuple[Any, ...]]:
    return [
        (
            stage,
            i,
            inst.instruction_id,
            inst.instrument.symbol,
            inst.side.value,
            None if inst.action is None else inst.action.value,
            inst.quantity,
            inst.model_dump_json(),
        )
        for i, inst in enumerate(instructions)
    ]


def _tx_row(strategy_id: str, position: int, tx: TxResult) -> tuple[Any, ...]:
    return (
        strategy_id,
        position,
        tx.instruction_id,
        tx.instrument.symbol,
        tx.side.value,
        tx.status.value,
        tx.requested_qty,
        tx.filled_qty,
        tx.avg_exec_price,
        tx.fee_cost,
        tx.ts,
        tx.model_dump_json(),
    )


def _trade_row(strategy_id: str, trade: TradeHistoryEntry) -> tuple[Any, ...]:
    return (
        strategy_id,
        trade.trade_id,
        trade.compose_id,
        trade.instrument.symbol,
        trade.side.value,
        trade.type.value,
        trade.quantity,
        trade.entry_price,
        trade.exit_price,
        trade.entry_ts,
        trade.exit_ts,
        trade.realized_pnl,
        trade.fee_cost,
        trade.model_dump_json(),
    )


def _filters(
    strategy_id: str,
    cursor: PageCursor,
    since_ms: int | None,
    until_ms: int | None,
    ts_expr: str,
) -> tuple[list[str], list[Any]]:
    where: list[str] = ["strategy_id = ?"]
    params: list[Any] = [strategy_id]
    for clause, value in (
        ("id > ?" if cursor.ascending else "id < ?", cursor.after_id),
        (f"{ts_expr} >= ?", since_ms),
        (f"{ts_expr} < ?", until_ms),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


def _by_stage(rows: Sequence[sqlite3.Row]) -> dict[str, list[TradeInstruction]]:
    stages: dict[str, list[TradeInstruction]] = {"proposed": [], "guarded": []}
    for row in rows:
        stages[row["stage"]].append(TradeInstruction.model_validate_json(row["body_json"]))
    return stages


def _adjustments(value: bytes | None) -> dict[str, list[LevelAdjustment]]:
    return {} if value is None else _ADJUSTMENTS.validate_json(unpack(value))


def _ledger(value: bytes | str) -> Ledger:
    text = unpack(value)
    return ledger_from_json(text if isinstance(text, str) else text.decode())


def _summary(value: bytes | str) -> StrategySummary:
    return StrategySummary.model_validate_json(unpack(value))


def _features_text(value: bytes | str | None, bodies: dict[bytes, bytes]) -> str:
    """A cycle's stored features as one JSON list (rows from before migration 0003 are JSON
    text already; a missing payload leaves its vector out of the chart)."""
    if value is None:
        return "[]"
    if isinstance(value, str):
        return value
    texts = (unpack(bodies[h]) for h in split_hashes(value) if h in bodies)
    return "[" + ",".join(t.decode() if isinstance(t, bytes) else t for t in texts) + "]"


def _limit(limit: int | None) -> str:
    """A LIMIT clause both backends read (SQLite's ``LIMIT -1`` is an error in PostgreSQL)."""
    return "" if limit is None else f" LIMIT {int(limit)}"


def _usage(text: str | None) -> LLMUsage | None:
    return None if text is None else LLMUsage.model_validate_json(text)


def _record(row: sqlite3.Row) -> CycleRecord:
    return CycleRecord(
        cycle_id=row["id"],
        compose_id=row["compose_id"],
        strategy_id=row["strategy_id"],
        slot_ts=row["slot_ts"],
        ts=row["ts"],
        kind=row["kind"],
        status=CycleStatus(row["status"]),
        reason=row["reason"],
        rationale=row["rationale"],
        equity=row["equity"],
        proposed=row["n_proposed"],
        instructions=row["n_instructions"],
        guard_notes=row["n_notes"],
        fills=row["n_fills"],
        trades=row["n_trades"],
    )
