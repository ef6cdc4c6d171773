"""DefaultDecisionCoordinator: one decision cycle, step by step as the spec numbers them."""

from __future__ import annotations

import logging
from collections import deque

from tradeloop.trading.clock import Clock
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.decision.guardrails import GuardLimits, GuardResult, apply_guardrails
from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.protective import protective_exits
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.features.interfaces import BaseFeaturesPipeline
from tradeloop.trading.features.market_snapshot import MarketSnapshotFeatureComputer
from tradeloop.trading.history.interfaces import BaseDigestBuilder, BaseHistoryRecorder
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    Constraints,
    CycleResult,
    CycleStatus,
    DecisionSummary,
    FeatureVector,
    LevelAdjustment,
    PortfolioView,
    StrategySummary,
    TradeHistoryEntry,
    TradeInstruction,
    TxResult,
    UserRequest,
    constructor,
)
from tradeloop.trading.portfolio.fills import reject_dust_fills
from tradeloop.trading.portfolio.interfaces import BasePortfolioService
from tradeloop.trading.portfolio.views import snapshot_prices
from tradeloop.trading.utils import new_compose_id

logger = logging.getLogger(__name__)
RECENT_DECISIONS = 5
_context = constructor(ComposeContext)
_cycle_result = constructor(CycleResult)
_decision_summary = constructor(DecisionSummary)
_summary = constructor(StrategySummary)


class DefaultDecisionCoordinator:
    def __init__(
        self,
        *,
        strategy_id: str,
        request: UserRequest,
        pipeline: BaseFeaturesPipeline,
        composer: BaseComposer,
        gateway: BaseExecutionGateway,
        portfolio: BasePortfolioService,
        recorder: BaseHistoryRecorder,
        digest: BaseDigestBuilder,
        clock: Clock,
        market_data: BaseMarketDataSource | None = None,
        log_cycles: bool = True,
    ) -> None:
        self.strategy_id = strategy_id
        self.request = request
        self.pipeline = pipeline
        self.composer = composer
        self.gateway = gateway
        self.portfolio = portfolio
        self.recorder = recorder
        self.digest = digest
        self.clock = clock
        self.market_data = market_data
        """Where prices come from when the pipeline gives a symbol no ``market_snapshot`` vector."""
        self.recent: deque[DecisionSummary] = deque(maxlen=RECENT_DECISIONS)
        self.log_cycles = log_cycles
        """One INFO line per cycle (a backtest has none: thousands of cycles a second)."""
        self._guard_limits: tuple[UserRequest, Constraints | None, GuardLimits] | None = None

    async def run_once(
        self,
        compose_id: str | None = None,
        *,
        slot_ts: int | None = None,
        composer: BaseComposer | None = None,
    ) -> CycleResult:
        """Run one full cycle and record it; errors propagate to the caller's cycle boundary.

        ``slot_ts`` names the scheduled slot the cycle runs for; a store keys cycles on it.
        ``composer`` decides this one cycle instead of the strategy's own (a forced close)."""
        context = await self.build_context(compose_id)
        exits = protective_exits(context)
        proposal = await (composer or self.composer).compose(context)
        guarded = self.guard(proposal, context, exits)
        tx_results = reject_dust_fills(
            await self.gateway.execute(guarded.instructions, context.features)
        )
        trades = await self.portfolio.apply_trades(tx_results, context.features)
        adjusted = await self.portfolio.apply_position_notes(
            held_before={s: p.quantity for s, p in context.portfolio.positions.items()},
            instructions=guarded.instructions,
            adjustments=guarded.adjustments,
            rationale=proposal.rationale,
            decided_ts=context.ts,
        )
        after = await self.portfolio.get_view()
        result = self._result(
            context, proposal, guarded, tx_results, trades, after, slot_ts, adjusted
        )
        await self.recorder.record(result)
        await self.digest.update(result)
        self.remember(result)
        if self.log_cycles:
            _log_cycle(result)
        return result

    async def dry_run(self) -> CycleResult:
        """Steps 1-5b on the current state: context, composer, guardrails. Nothing is executed or
        recorded and the recent decisions stay as they are; the result has no fills. Building the
        context marks the portfolio with the latest prices: a caller that must leave the
        portfolio untouched restores it afterwards."""
        context = await self.build_context()
        proposal = await self.composer.compose(context)
        guarded = self.guard(proposal, context)
        return _cycle_result(
            compose_id=context.compose_id,
            strategy_id=context.strategy_id,
            ts=context.ts,
            status=CycleStatus.SKIPPED if proposal.skipped_reason else CycleStatus.OK,
            reason=proposal.skipped_reason,
            features=context.features,
            rationale=proposal.rationale,
            raw=proposal.raw,
            usage=proposal.usage,
            proposed=proposal.instructions,
            instructions=guarded.instructions,
            guard_notes=guarded.notes,
            proposed_adjustments=proposal.adjustments,
            adjustments=guarded.adjustments,
            portfolio=context.portfolio,
            strategy_summary=summarize(context.portfolio),
        )

    async def build_context(self, compose_id: str | None = None) -> ComposeContext:
        """Steps 1-4: portfolio view, market data, features, context assembly."""
        ts = self.clock.now_ms()
        features = await self._with_prices((await self.pipeline.build()).features, ts)
        portfolio = await self.portfolio.mark(features, ts)
        return _context(
            ts=ts,
            compose_id=compose_id or new_compose_id(),
            strategy_id=self.strategy_id,
            features=features,
            portfolio=portfolio,
            digest=await self.digest.build(),  # as the previous cycle left it (spec step 9)
            recent_decisions=list(self.recent),
        )

    async def _with_prices(self, features: list[FeatureVector], ts: int) -> list[FeatureVector]:
        """The pipeline's features, plus a ``market_snapshot`` vector from the market data source
        for every symbol the pipeline left without one (a pipeline of indicators only, as in the
        spec's "Adding Custom Indicators"): marks, guardrails and fills read prices only there."""
        if self.market_data is None:
            return features
        prices = snapshot_prices(features)
        missing = [s for s in self.request.trading_config.symbols if s not in prices]
        if not missing:
            return features
        snapshot = await self.market_data.get_market_snapshot(missing)
        exchange_id = self.request.exchange_config.exchange_id
        return [
            *features,
            *MarketSnapshotFeatureComputer(exchange_id).compute_features(snapshot, ts),
        ]

    def guard(
        self,
        proposal: ComposeResult,
        context: ComposeContext,
        exits: list[TradeInstruction] | None = None,
    ) -> GuardResult:
        """Step 5b: protective exits first, then the composer's proposal, through the guardrails."""
        proposed = [*(exits or []), *proposal.instructions]
        if not proposed and not proposal.adjustments:
            return GuardResult(instructions=[])  # most cycles: nothing to check
        limits = self._limits(context.portfolio.constraints)
        return apply_guardrails(proposed, context, limits, proposal.adjustments)

    def _limits(self, constraints: Constraints | None) -> GuardLimits:
        """The request's limits with the venue's market rules; rebuilt only when those change."""
        cached = self._guard_limits
        if cached is not None and cached[0] is self.request and cached[1] is constraints:
            return cached[2]
        limits = GuardLimits.from_request(
            self.request,
            quantity_step=constraints.quantity_step if constraints else None,
            min_trade_qty=constraints.min_trade_qty if constraints else None,
            min_notional=constraints.min_notional if constraints else None,
        )
        self._guard_limits = (self.request, constraints, limits)
        return limits

    async def record_failure(self, status: CycleStatus, reason: str) -> CycleResult:
        """Record a cycle that did not run (error or skipped slot) with the current portfolio."""
        view = await self.portfolio.get_view()
        result = CycleResult(
            compose_id=new_compose_id(),
            strategy_id=self.strategy_id,
            ts=self.clock.now_ms(),
            status=status,
            reason=reason,
            portfolio=view,
            strategy_summary=summarize(view),
        )
        await self.recorder.record(result)
        return result

    def _result(
        self,
        context: ComposeContext,
        proposal: ComposeResult,
        guarded: GuardResult,
        tx_results: list[TxResult],
        trades: list[TradeHistoryEntry],
        after: PortfolioView,
        slot_ts: int | None,
        adjusted: list[LevelAdjustment],
    ) -> CycleResult:
        skipped = proposal.skipped_reason is not None
        return _cycle_result(
            compose_id=context.compose_id,
            strategy_id=self.strategy_id,
            ts=context.ts,
            slot_ts=slot_ts,
            status=CycleStatus.SKIPPED if skipped else CycleStatus.OK,
            reason=proposal.skipped_reason,
            features=context.features,
            rationale=proposal.rationale,
            raw=proposal.raw,
            usage=proposal.usage,
            proposed=proposal.instructions,
            instructions=guarded.instructions,
            guard_notes=guarded.notes,
            tx_results=tx_results,
            trades=trades,
            proposed_adjustments=proposal.adjustments,
            adjustments=adjusted,
            portfolio=after,
            strategy_summary=summarize(after),
        )

    def remember(self, result: CycleResult) -> None:
        """Add a cycle to the recent decisions the composer sees (also used to restore them)."""
        fills = sum(1 for tx in result.tx_results if tx.filled_qty > 0)
        self.recent.append(
            _decision_summary(
                compose_id=result.compose_id,
                ts=result.ts,
                rationale=(result.rationale or result.reason or "")[:500],
                actions=[
                    f"{i.action.value if i.action else i.side.value} {i.quantity:.6g} "
                    f"{i.instrument.symbol}"
                    for i in result.instructions
                ]
                + [adjustment_text(a) for a in result.adjustments],
                outcome=f"{fills} filled, equity {result.strategy_summary.equity:.2f}",
            )
        )


def adjustment_text(adjustment: LevelAdjustment) -> str:
    """``adjust BTC-USDT stop_loss 98000 take_profit cancelled``: one applied adjustment."""
    parts = [f"adjust {adjustment.instrument.symbol}"]
    for name in ("stop_loss", "take_profit"):
        level = getattr(adjustment, name)
        if getattr(adjustment, f"cancel_{name}"):
            parts.append(f"{name} cancelled")
        elif level is not None:
            parts.append(f"{name} {level:.6g}")
    return " ".join(parts)


def summarize(view: PortfolioView) -> StrategySummary:
    equity = view.total_value if view.total_value is not None else view.account_balance
    initial = view.initial_capital or equity
    return _summary(
        strategy_id=view.strategy_id,
        ts=view.ts,
        equity=equity,
        cash=view.account_balance,
        realized_pnl=view.realized_pnl,
        unrealized_pnl=view.total_unrealized_pnl or 0.0,
        fees_paid=view.fees_paid,
        total_return_pct=(equity / initial - 1) * 100 if initial else 0.0,
        open_positions=len(view.positions),
    )


def _log_cycle(result: CycleResult) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    fills = sum(1 for tx in result.tx_results if tx.filled_qty > 0)
    cost = "" if result.usage is None else f" llm_cost_usd={_usd(result.usage.cost_usd)}"
    logger.info(
        "cycle strategy_id=%s compose_id=%s status=%s instructions=%d fills=%d equity=%.2f%s",
        result.strategy_id,
        result.compose_id,
        result.status.value,
        len(result.instructions),
        fills,
        result.strategy_summary.equity,
        cost,
    )


def _usd(cost: float | None) -> str:
    return "unknown" if cost is None else f"{cost:.6f}"
