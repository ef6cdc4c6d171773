"""Mapping between tool arguments / service objects and the tool result models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tradeloop.services.close_report import SymbolClose
from tradeloop.services.scrub import scrub
from tradeloop.tools.models import (
    BacktestResult,
    ClosedPosition,
    CycleListItem,
    CycleOutcome,
    CyclePage,
    CycleRecord,
    DigestResult,
    FillView,
    GuardNoteView,
    InstructionView,
    PortfolioResult,
    ReplayView,
    StatusChange,
    StrategyConfig,
    StrategyCreated,
    StrategyDetail,
    StrategySummaryView,
    SymbolCloseView,
    TradePage,
    iso,
)
from tradeloop.trading.models import (
    CycleResult,
    PortfolioView,
    TradeDigest,
    TradeInstruction,
    TradingMode,
    UserRequest,
)
from tradeloop.trading.utils import normalize_symbol

if TYPE_CHECKING:
    from tradeloop.services.models import StrategyInfo


def config(request: UserRequest) -> StrategyConfig:
    t, x = request.trading_config, request.exchange_config
    return StrategyConfig(
        symbols=list(t.symbols),
        initial_capital=t.initial_capital,
        decide_interval=t.decide_interval,
        max_leverage=t.max_leverage,
        max_positions=t.max_positions,
        composer=t.composer,
        template=t.template,
        strategy_prompt=t.custom_prompt,
        feature_intervals=list(t.feature_intervals),
        candle_lookback=t.candle_lookback,
        exchange=x.exchange_id,
        market_type=x.market_type.value,
        trading_mode="live" if x.trading_mode is TradingMode.LIVE else "paper",
        fee_bps=x.fee_bps,
        llm_model=request.llm_model_config.model_id if t.composer == "llm" else None,
        llm_provider=request.llm_model_config.provider if t.composer == "llm" else None,
        llm_base_url=request.llm_model_config.base_url if t.composer == "llm" else None,
        max_drawdown_pct=t.max_drawdown_pct,
        daily_loss_limit=t.daily_loss_limit,
        max_order_value=t.max_order_value,
        rules=t.rules.model_dump() if t.composer == "rules" else None,
    )


def _summary_fields(info: StrategyInfo) -> dict[str, Any]:
    return {
        "strategy_id": info.strategy_id,
        "name": info.name,
        "status": info.status,
        "reason": _text(info.reason),
        "trading_mode": "live" if info.trading_mode is TradingMode.LIVE else "paper",
        "data": info.data,
        "replay": info.data == "replay",
        "symbols": list(info.symbols),
        "decide_interval": info.decide_interval,
        "equity": info.equity,
        "initial_capital": info.initial_capital,
        "pnl": info.equity - info.initial_capital,
        "realized_pnl": info.realized_pnl,
        "unrealized_pnl": info.unrealized_pnl,
        "fees_paid": info.fees_paid,
        "total_return_pct": info.total_return_pct,
        "open_positions": info.open_positions,
        "cycles": info.cycles,
        "consecutive_failures": info.consecutive_failures,
        "last_cycle_ts": info.last_cycle_ts,
        "last_cycle": iso(info.last_cycle_ts),
        "next_run_ms": info.next_run_ms,
        "next_run": iso(info.next_run_ms),
        "owner_replica": info.owner_replica,
        "lease_expires_ms": info.lease_expires_ms,
        "lease_expires": iso(info.lease_expires_ms),
    }


def summary(info: StrategyInfo) -> StrategySummaryView:
    return StrategySummaryView(**_summary_fields(info))


def detail(info: StrategyInfo) -> StrategyDetail:
    return StrategyDetail(
        **_summary_fields(info),
        config=config(info.request),
        replay_spec=_replay_spec(info),
        created_ms=info.created_at,
        created=iso(info.created_at),
    )


def _replay_spec(info: StrategyInfo) -> ReplayView | None:
    spec = info.replay
    if spec is None:
        return None
    return ReplayView(
        data_dir=spec.data_dir,
        venue=spec.venue,
        start_ms=spec.start_ms,
        end_ms=spec.end_ms,
        simulated_clock_ms=info.last_slot_ts,
        simulated_clock=iso(info.last_slot_ts),
    )


def created(info: StrategyInfo) -> StrategyCreated:
    return StrategyCreated(
        strategy_id=info.strategy_id,
        name=info.name,
        status=info.status,
        data=info.data,
        config=config(info.request),
        next_step=f"start_strategy(strategy_id='{info.strategy_id}') schedules it every "
        f"{info.decide_interval} s; run_cycle_now runs one cycle now",
    )


def status_change(
    info: StrategyInfo,
    message: str,
    closed_positions: list[str] | None = None,
    closing: Sequence[SymbolClose] = (),
) -> StatusChange:
    return StatusChange(
        strategy_id=info.strategy_id,
        status=info.status,
        message=message,
        closed_positions=closed_positions or [],
        closing=[SymbolCloseView(**line.model_dump()) for line in closing],
    )


def portfolio(view: PortfolioView) -> PortfolioResult:
    equity = view.total_value if view.total_value is not None else view.account_balance
    leverage = view.gross_exposure / equity if equity > 0 else 0.0
    return PortfolioResult(
        **view.model_dump(),
        equity=equity,
        cash=view.account_balance,
        leverage=leverage,
        as_of=iso(view.ts),
    )


def _instruction(i: TradeInstruction) -> InstructionView:
    return InstructionView(
        instruction_id=i.instruction_id,
        symbol=i.instrument.symbol,
        side=i.side.value,
        action=i.action.value if i.action else None,
        quantity=i.quantity,
        leverage=i.leverage,
        stop_loss=i.stop_loss,
        take_profit=i.take_profit,
    )


def cycle_outcome(result: CycleResult, *, executed: bool = True) -> CycleOutcome:
    """A cycle as run_cycle_now returns it (or preview_decision, with ``executed=False``)."""
    s = result.strategy_summary
    return CycleOutcome(
        compose_id=result.compose_id,
        strategy_id=result.strategy_id,
        ts=result.ts,
        time=iso(result.ts),
        status=result.status,
        reason=_text(result.reason),
        executed=executed,
        rationale=result.rationale,
        proposed=[_instruction(i) for i in result.proposed],
        instructions=[_instruction(i) for i in result.instructions],
        dropped=[
            GuardNoteView(
                instruction_id=n.instruction_id, symbol=n.symbol, outcome=n.outcome, reason=n.reason
            )
            for n in result.guard_notes
        ],
        fills=[
            FillView(
                instruction_id=tx.instruction_id,
                symbol=tx.instrument.symbol,
                side=tx.side.value,
                status=tx.status.value,
                requested_qty=tx.requested_qty,
                filled_qty=tx.filled_qty,
                avg_exec_price=tx.avg_exec_price,
                fee_cost=tx.fee_cost,
                reason=_text(tx.reason),
                client_order_id=tx.client_order_id,
                exchange_order_id=tx.exchange_order_id,
            )
            for tx in result.tx_results
        ],
        trades=list(result.trades),
        proposed_adjustments=list(result.proposed_adjustments),
        adjustments=list(result.adjustments),
        equity=s.equity,
        realized_pnl=s.realized_pnl,
        unrealized_pnl=s.unrealized_pnl,
        fees_paid=s.fees_paid,
        open_positions=s.open_positions,
        portfolio=None if result.portfolio is None else portfolio(result.portfolio),
    )


def closed_position(result: CycleResult, symbol: str) -> ClosedPosition:
    """The forced-close cycle of ``symbol`` (as given; the service has already normalized it)."""
    symbol = normalize_symbol(symbol)
    fills = [tx for tx in result.tx_results if tx.instrument.symbol == symbol]
    tx = fills[0] if fills else None
    closes = [
        t for t in result.trades if t.instrument.symbol == symbol and t.exit_price is not None
    ]
    pnl = sum(t.realized_pnl or 0.0 for t in closes) if closes else None
    notes = [n.reason for n in result.guard_notes if n.symbol == symbol]
    return ClosedPosition(
        strategy_id=result.strategy_id,
        symbol=symbol,
        compose_id=result.compose_id,
        status=tx.status.value if tx else "NOT_SENT",
        filled_qty=tx.filled_qty if tx else 0.0,
        avg_exec_price=tx.avg_exec_price if tx else None,
        fee_cost=tx.fee_cost if tx else None,
        realized_pnl=pnl,
        reason=_text((tx.reason if tx else None) or ("; ".join(notes) or result.reason)),
        portfolio=None if result.portfolio is None else portfolio(result.portfolio),
    )


def digest(strategy_id: str, value: TradeDigest) -> DigestResult:
    return DigestResult(**value.model_dump(), strategy_id=strategy_id, as_of=iso(value.ts))


def trade_page(strategy_id: str, page: Any) -> TradePage:
    return TradePage(strategy_id=strategy_id, trades=list(page.items), next_cursor=page.next_cursor)


def cycle_page(strategy_id: str, page: Any) -> CyclePage:
    return CyclePage(
        strategy_id=strategy_id,
        cycles=[cycle_item(c) for c in page.items],
        next_cursor=page.next_cursor,
    )


def cycle_item(record: Any) -> CycleListItem:
    """A stored cycle's one-line summary (``tradeloop.store.cycles.CycleRecord``)."""
    return CycleListItem(
        compose_id=record.compose_id,
        ts=record.ts,
        time=iso(record.ts),
        kind=record.kind,
        status=record.status,
        reason=_text(record.reason),
        rationale=_clip(record.rationale),
        proposed=record.proposed,
        instructions=record.instructions,
        dropped=record.guard_notes,
        fills=record.fills,
        trades=record.trades,
        equity=record.equity,
    )


def _text(reason: str | None) -> str | None:
    """Stored reasons can quote an exception (a file path, say): shown scrubbed, like errors."""
    return None if reason is None else scrub(reason)


def _clip(text: str | None, limit: int = 300) -> str | None:
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cycle_record(result: CycleResult) -> CycleRecord:
    body = result.model_dump()
    body["reason"] = _text(body["reason"])
    for tx in body["tx_results"]:
        tx["reason"] = _text(tx["reason"])
    return CycleRecord(**body, time=iso(result.ts))


def backtest(summary: Any) -> BacktestResult:
    """A ``tradeloop.backtest.runner.BacktestSummary`` as the tool result."""
    body = summary.model_dump()
    return BacktestResult(**body, start=iso(body["start_ms"]), end=iso(body["end_ms"]))
