"""The cycle boundary: the one place that catches what a cycle raised and says what it means.

TemporaryError                        an error cycle is recorded; the strategy goes on, until
                                      ``max_consecutive`` failures in a row move it to error
OperationalError, ConfigError         an error cycle is recorded and the strategy moves to error
PauseRequired (e.g. IntentMismatch)   an error cycle is recorded and the strategy pauses with
                                      the reason (nothing was booked; a human looks first)
AccountingError, anything unexpected  the same, logged with the traceback
SlotTaken (the slot is already stored) nothing is recorded; the target drops its unstored state

No failure touches positions: closing them is a decision, never a side effect of an error.
CancelledError passes through (shutdown abandons the cycle; its transaction is atomic).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from tradeloop.store.db import SlotTaken
from tradeloop.trading.errors import (
    ConfigError,
    OperationalError,
    PauseRequired,
    TemporaryError,
)
from tradeloop.trading.models import CycleResult, StrategyStatus

logger = logging.getLogger(__name__)
MAX_REASON = 500


class FailureKind(StrEnum):
    TEMPORARY = "temporary"
    OPERATIONAL = "operational"
    PAUSE = "pause"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    reason: str


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    result: CycleResult | None
    """The recorded cycle (an error cycle for a failure); None when nothing could be recorded."""
    failure: Failure | None = None
    duplicate: bool = False
    """The slot already had a cycle: this run was dropped."""


class CycleTarget(Protocol):
    """One strategy, as the boundary drives it."""

    @property
    def strategy_id(self) -> str: ...

    async def run(self, slot_ts: int | None) -> CycleResult:
        """Run and record one full cycle."""
        ...

    async def record_error(self, slot_ts: int | None, reason: str) -> CycleResult:
        """Drop unstored state, then record an error cycle for the slot."""
        ...

    async def discard_unstored(self) -> None:
        """Drop state that was not stored (fills of a cycle whose commit failed)."""
        ...


async def run_cycle(target: CycleTarget, slot_ts: int | None) -> CycleOutcome:
    """Run one slot; never raises except ``CancelledError``."""
    try:
        return CycleOutcome(result=await target.run(slot_ts))
    except SlotTaken as exc:
        logger.warning(
            "slot already ran strategy_id=%s slot=%s: %s", target.strategy_id, slot_ts, exc
        )
        await target.discard_unstored()
        return CycleOutcome(result=None, duplicate=True)
    except TemporaryError as exc:
        failure = Failure(FailureKind.TEMPORARY, _reason("temporary failure", exc))
    except PauseRequired as exc:
        failure = Failure(FailureKind.PAUSE, _reason("paused", exc))
    except (OperationalError, ConfigError) as exc:
        failure = Failure(FailureKind.OPERATIONAL, _reason("operational failure", exc))
    except Exception as exc:  # the boundary: AccountingError and bugs end here, with a traceback
        logger.exception("cycle failed strategy_id=%s slot=%s", target.strategy_id, slot_ts)
        failure = Failure(FailureKind.FATAL, _reason("unexpected failure", exc))
    return await _record_failure(target, slot_ts, failure)


async def _record_failure(
    target: CycleTarget, slot_ts: int | None, failure: Failure
) -> CycleOutcome:
    logger.warning(
        "cycle error strategy_id=%s slot=%s kind=%s reason=%s",
        target.strategy_id,
        slot_ts,
        failure.kind.value,
        failure.reason,
    )
    try:
        result = await target.record_error(slot_ts, failure.reason)
    except SlotTaken:
        return CycleOutcome(result=None, failure=failure, duplicate=True)
    except Exception as exc:  # the store itself failed: nothing more can be recorded
        logger.exception("could not record the error cycle strategy_id=%s", target.strategy_id)
        return CycleOutcome(
            result=None, failure=Failure(FailureKind.FATAL, _reason(failure.reason, exc))
        )
    return CycleOutcome(result=result, failure=failure)


def status_after(
    outcome: CycleOutcome, consecutive_failures: int, max_consecutive: int
) -> tuple[StrategyStatus, str] | None:
    """The status the strategy must move to after ``outcome``, with the reason; None: carry on."""
    failure = outcome.failure
    if failure is None:
        return None
    if failure.kind is FailureKind.TEMPORARY:
        if consecutive_failures < max_consecutive:
            return None
        return StrategyStatus.ERROR, (
            f"{consecutive_failures} consecutive failures; last: {failure.reason}"
        )
    if failure.kind is FailureKind.PAUSE:
        return StrategyStatus.PAUSED, failure.reason
    return StrategyStatus.ERROR, failure.reason


def _reason(prefix: str, exc: BaseException) -> str:
    text = f"{prefix}: {type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
