"""Quiet cycles folded in bulk (a fast-forwarded backtest stretch) leave the digest exactly as
folding each cycle's result one by one does."""

from __future__ import annotations

import random

import pytest

from tradeloop.trading.history.digest import DigestAccumulator, DigestState, RollingDigestBuilder
from tradeloop.trading.models import CycleResult, StrategySummary

HOUR_MS = 3_600_000


def quiet(ts: int, equity: float, fees: float = 3.0, realized: float = -7.0) -> CycleResult:
    """A cycle that traded nothing and cost nothing."""
    return CycleResult(
        compose_id=f"c{ts}",
        strategy_id="s",
        ts=ts,
        strategy_summary=StrategySummary(
            strategy_id="s",
            ts=ts,
            equity=equity,
            cash=equity,
            realized_pnl=realized,
            unrealized_pnl=0.0,
            fees_paid=fees,
            total_return_pct=0.0,
            open_positions=0,
        ),
    )


def walk(count: int, seed: int, flat_every: int = 5) -> list[float]:
    """A random walk with flat stretches (equal equity, exactly zero returns)."""
    rng, equity, out = random.Random(seed), 10_000.0, []
    for i in range(count):
        if (i // flat_every) % 2 == 0:
            equity *= 1 + rng.uniform(-0.03, 0.031)
        out.append(equity)
    return out


def one_by_one(window: int, head: list[float], tail: list[float]) -> DigestAccumulator:
    acc = DigestAccumulator(DigestState(interval_s=3600, window=window, initial_capital=10_000))
    for i, equity in enumerate(head + tail):
        acc.fold(quiet(i * HOUR_MS, equity))
    return acc


def in_bulk(window: int, head: list[float], tail: list[float], cuts: int) -> DigestAccumulator:
    acc = DigestAccumulator(DigestState(interval_s=3600, window=window, initial_capital=10_000))
    for i, equity in enumerate(head):
        acc.fold(quiet(i * HOUR_MS, equity))
    ts = [(len(head) + i) * HOUR_MS for i in range(len(tail))]
    step = max(1, -(-len(tail) // cuts))
    for start in range(0, len(tail), step):
        acc.fold_quiet(ts[start : start + step], tail[start : start + step], 3.0, -7.0)
    return acc


@pytest.mark.parametrize("window", [2, 3, 7, 500])
@pytest.mark.parametrize("head_len", [0, 1, 2, 10])
@pytest.mark.parametrize(("length", "cuts"), [(40, 1), (40, 3), (40, 40), (700, 1), (700, 3)])
def test_a_bulk_fold_of_quiet_cycles_equals_folding_them_one_by_one(
    window: int, head_len: int, length: int, cuts: int
) -> None:
    equity = walk(head_len + length, seed=window * 100 + head_len)
    head, tail = equity[:head_len], equity[head_len:]
    expected = one_by_one(window, head, tail)
    got = in_bulk(window, head, tail, cuts)
    assert got.state() == expected.state()
    assert got.digest() == expected.digest()


def test_a_bulk_fold_skips_returns_from_zero_equity_and_survives_huge_returns() -> None:
    tail = [5.0, 0.0, 0.0, 4.0, 1e-6, 1e6, 2e6, 3.0] * 10  # long enough for the numpy path
    expected = one_by_one(4, [10.0], tail)
    got = in_bulk(4, [10.0], tail, 1)
    assert got.state() == expected.state()


async def test_the_builder_serves_the_bulk_folded_digest_stamped_with_the_last_quiet_cycle() -> (
    None
):
    builder = RollingDigestBuilder(interval_s=3600, window=5, initial_capital=10_000)
    await builder.update(quiet(0, 10_000.0))
    builder.fold_quiet([HOUR_MS, 2 * HOUR_MS], [10_100.0, 9_900.0], 3.0, -7.0)
    digest = await builder.build()
    assert (digest.ts, digest.equity, digest.fees_paid, digest.realized_pnl) == (
        2 * HOUR_MS,
        9_900.0,
        3.0,
        -7.0,
    )
    assert digest.max_drawdown_pct == pytest.approx((10_100 - 9_900) / 10_100 * 100, rel=1e-15)
