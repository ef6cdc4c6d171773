"""A decision interval becomes slots in one place: steps in milliseconds, slots on its multiples."""

from __future__ import annotations

import math

import pytest

from tradeloop.trading.clock import slot_at_or_after, slot_at_or_before, slot_step_ms
from tradeloop.trading.errors import ConfigError

HOUR_MS = 3_600_000


def test_an_interval_in_seconds_is_a_step_in_milliseconds() -> None:
    assert slot_step_ms(3600) == HOUR_MS
    assert slot_step_ms(1) == 1_000
    assert slot_step_ms(0.25) == 250  # a replay at 4x speed of a one-second interval


def test_a_step_is_never_shorter_than_one_millisecond() -> None:
    assert slot_step_ms(60 / 1_000_000) == 1  # a one-minute replay sped up a million times


@pytest.mark.parametrize("bad", [0, -60, math.nan, math.inf])
def test_an_interval_that_is_not_a_positive_number_of_seconds_names_decide_interval(bad) -> None:
    with pytest.raises(ConfigError, match="decide_interval: must be a positive number"):
        slot_step_ms(bad)


def test_slots_are_the_multiples_of_the_step_since_the_epoch() -> None:
    assert slot_at_or_after(HOUR_MS * 5 + 1, 3600) == HOUR_MS * 6
    assert slot_at_or_after(HOUR_MS * 5, 3600) == HOUR_MS * 5
    assert slot_at_or_before(HOUR_MS * 5 + 59_999, 3600) == HOUR_MS * 5
    assert slot_at_or_before(HOUR_MS * 5, 3600) == HOUR_MS * 5
