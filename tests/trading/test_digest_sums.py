"""The digest's exact integer sums: the numpy sum of squares equals Python's exact one at every
length (below the numpy threshold, above it, and across a chunk boundary), for any int64 return up
to 2**62 in magnitude; a bulk fold long enough to take the numpy path equals the one-by-one fold."""

from __future__ import annotations

import numpy as np
import pytest

from tests.trading.test_digest_bulk import in_bulk, one_by_one, walk
from tradeloop.trading.history.digest import _sum_of_squares

LIMIT = 2**62


@pytest.mark.parametrize("length", [0, 1, 199, 200, 201, 5_000, (1 << 19) + 7])
def test_the_sum_of_squares_is_exact_at_every_length(length: int) -> None:
    rng = np.random.default_rng(length)
    values = rng.integers(-LIMIT + 1, LIMIT, size=length, dtype=np.int64)
    if length:
        values[0] = LIMIT - 1  # the largest magnitude a scaled return may have
    assert _sum_of_squares(values) == sum(v * v for v in values.tolist())


def test_a_long_bulk_fold_equals_the_one_by_one_fold() -> None:
    equity = walk(1_500, seed=11, flat_every=50)
    assert (
        in_bulk(7, equity[:3], equity[3:], 2).state()
        == one_by_one(7, equity[:3], equity[3:]).state()
    )


@pytest.mark.parametrize("window", [2, 4, 500])
def test_a_bulk_fold_through_zero_equity_equals_the_one_by_one_fold(window: int) -> None:
    # long enough for the numpy path, with no huge return (which would fall back to one by one)
    tail = [5.0, 0.0, 0.0, 4.0, 6.0, 5.5] * 12
    assert in_bulk(window, [10.0], tail, 1).state() == one_by_one(window, [10.0], tail).state()
    assert in_bulk(window, [], tail, 1).digest() == one_by_one(window, [], tail).digest()
    starts_flat = [0.0, 0.0] + [5.0] * 70  # a zero peak is no drawdown
    got, expected = in_bulk(window, [], starts_flat, 1), one_by_one(window, [], starts_flat)
    assert got.state() == expected.state()
