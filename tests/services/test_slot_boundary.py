"""The cycle boundary classifies what a cycle raised; nothing ever flattens positions."""

from __future__ import annotations

import logging

import pytest

from tradeloop.services.slots.boundary import (
    CycleOutcome,
    Failure,
    FailureKind,
    run_cycle,
    status_after,
)
from tradeloop.store.db import SlotTaken
from tradeloop.trading.errors import (
    AccountingError,
    ConfigError,
    MarketDataUnavailable,
    OperationalError,
)
from tradeloop.trading.models import CycleResult, CycleStatus, StrategyStatus, StrategySummary


def cycle(status: CycleStatus = CycleStatus.OK, reason: str | None = None) -> CycleResult:
    summary = StrategySummary(
        strategy_id="s",
        ts=0,
        equity=100.0,
        cash=100.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        fees_paid=0.0,
        total_return_pct=0.0,
        open_positions=0,
    )
    return CycleResult(
        compose_id="c",
        strategy_id="s",
        ts=0,
        status=status,
        reason=reason,
        strategy_summary=summary,
    )


class Target:
    """A recording fake: ``run`` raises ``error`` when set."""

    strategy_id = "s_fake"

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.errors: list[tuple[int | None, str]] = []
        self.discarded = 0

    async def run(self, slot_ts: int | None) -> CycleResult:
        if self.error is not None:
            raise self.error
        return cycle()

    async def record_error(self, slot_ts: int | None, reason: str) -> CycleResult:
        self.errors.append((slot_ts, reason))
        return cycle(CycleStatus.ERROR, reason)

    async def discard_unstored(self) -> None:
        self.discarded += 1


async def test_a_cycle_that_runs_is_returned_with_no_failure() -> None:
    outcome = await run_cycle(Target(), 60_000)
    assert outcome.failure is None and outcome.result is not None
    assert status_after(outcome, 0, 5) is None


async def test_a_temporary_failure_records_an_error_cycle_and_the_strategy_goes_on() -> None:
    target = Target(MarketDataUnavailable("exchange busy"))
    outcome = await run_cycle(target, 60_000)
    assert outcome.failure is not None and outcome.failure.kind is FailureKind.TEMPORARY
    assert target.errors == [(60_000, outcome.failure.reason)]
    assert "exchange busy" in outcome.failure.reason
    assert status_after(outcome, 4, 5) is None


async def test_the_fifth_consecutive_temporary_failure_moves_the_strategy_to_error() -> None:
    outcome = await run_cycle(Target(MarketDataUnavailable("timeout")), 60_000)
    status, reason = status_after(outcome, 5, 5)  # type: ignore[misc]
    assert status is StrategyStatus.ERROR
    assert reason.startswith("5 consecutive failures; last: temporary failure")


@pytest.mark.parametrize(
    "error", [OperationalError("bad credentials"), ConfigError("symbol delisted")]
)
async def test_an_operational_failure_moves_the_strategy_to_error_at_once(error) -> None:  # type: ignore[no-untyped-def]
    target = Target(error)
    outcome = await run_cycle(target, 60_000)
    assert outcome.failure is not None and outcome.failure.kind is FailureKind.OPERATIONAL
    status, reason = status_after(outcome, 1, 5)  # type: ignore[misc]
    assert status is StrategyStatus.ERROR and str(error) in reason
    assert len(target.errors) == 1


@pytest.mark.parametrize("error", [AccountingError("cash went negative"), KeyError("bug")])
async def test_accounting_and_unexpected_errors_are_logged_with_traceback_and_stop_it(  # type: ignore[no-untyped-def]
    error, caplog
) -> None:
    caplog.set_level(logging.ERROR, logger="tradeloop.services.slots.boundary")
    outcome = await run_cycle(Target(error), 60_000)
    assert outcome.failure is not None and outcome.failure.kind is FailureKind.FATAL
    assert status_after(outcome, 1, 5)[0] is StrategyStatus.ERROR  # type: ignore[index]
    assert any(record.exc_info for record in caplog.records)


async def test_a_slot_that_already_ran_records_nothing_and_drops_the_unstored_state() -> None:
    target = Target(SlotTaken("slot taken"))
    outcome = await run_cycle(target, 60_000)
    assert outcome == CycleOutcome(result=None, duplicate=True)
    assert target.errors == [] and target.discarded == 1
    assert status_after(outcome, 0, 5) is None


async def test_when_the_error_cycle_cannot_be_stored_the_strategy_moves_to_error() -> None:
    class Broken(Target):
        async def record_error(self, slot_ts: int | None, reason: str) -> CycleResult:
            raise OSError("disk full")

    outcome = await run_cycle(Broken(MarketDataUnavailable("timeout")), 60_000)
    assert outcome.result is None
    assert outcome.failure == Failure(
        FailureKind.FATAL,
        outcome.failure.reason,  # type: ignore[union-attr]
    )
    assert "disk full" in outcome.failure.reason  # type: ignore[union-attr]
    assert status_after(outcome, 0, 5)[0] is StrategyStatus.ERROR  # type: ignore[index]
