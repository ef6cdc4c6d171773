"""Exact accounting: the ledger reconciles to the last digit after any sequence of fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hypothesis_budget import examples
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.models import MarketType, TradeSide
from tradeloop.trading.portfolio.ledger import EXACT, Fill, Ledger, apply_fill

D = Decimal


def reconciles(ledger: Ledger) -> None:
    positions_value = D(0)
    for position in ledger.positions.values():
        positions_value = EXACT.add(positions_value, ledger.value_term(position))
    assert ledger.equity == EXACT.add(ledger.cash, positions_value)
    identity = EXACT.subtract(
        EXACT.add(EXACT.add(ledger.initial_capital, ledger.realized_pnl), ledger.unrealized_pnl),
        ledger.fees_paid,
    )
    assert ledger.equity == identity
    for position in ledger.positions.values():
        assert position.quantity != 0


def fill(side: TradeSide, qty: str, price: str, fee: str = "0", ts: int = 0) -> Fill:
    return Fill(symbol="BTC-USDT", side=side, quantity=D(qty), price=D(price), fee=D(fee), ts=ts)


prices = st.decimals(min_value="0.01", max_value="100000", places=2)
quantities = st.decimals(min_value="0.001", max_value="5", places=3)
fees = st.decimals(min_value="0", max_value="5", places=4)
steps = st.lists(
    st.tuples(st.sampled_from([TradeSide.BUY, TradeSide.SELL]), quantities, prices, fees, prices),
    min_size=1,
    max_size=30,
)


@settings(max_examples=examples(300), deadline=None)
@given(steps=steps)
def test_perpetual_ledger_reconciles_exactly_after_every_fill(steps) -> None:
    ledger = Ledger.open_account(MarketType.PERPETUAL, D("10000"))
    for i, (side, qty, price, fee, mark) in enumerate(steps):
        ledger, _ = apply_fill(ledger, fill(side, str(qty), str(price), str(fee), ts=i))
        reconciles(ledger)
        ledger = ledger.with_marks({"BTC-USDT": mark})
        reconciles(ledger)


@settings(max_examples=examples(300), deadline=None)
@given(steps=steps)
def test_spot_ledger_reconciles_exactly_and_never_sells_what_it_does_not_hold(steps) -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("1000000000"))
    for i, (side, qty, price, fee, mark) in enumerate(steps):
        held = ledger.positions["BTC-USDT"].quantity if "BTC-USDT" in ledger.positions else D(0)
        if side is TradeSide.SELL and qty > held:
            with pytest.raises(AccountingError):
                apply_fill(ledger, fill(side, str(qty), str(price), str(fee), ts=i))
            continue
        ledger, _ = apply_fill(ledger, fill(side, str(qty), str(price), str(fee), ts=i))
        reconciles(ledger)
        ledger = ledger.with_marks({"BTC-USDT": mark})
        reconciles(ledger)


def test_a_flip_books_realized_pnl_exactly_once() -> None:
    ledger = Ledger.open_account(MarketType.PERPETUAL, D("1000"))
    ledger, _ = apply_fill(ledger, fill(TradeSide.BUY, "1", "100"))
    ledger, effect = apply_fill(ledger, fill(TradeSide.SELL, "3", "110"))
    assert effect.realized_pnl == D("10")
    assert ledger.realized_pnl == D("10")
    position = ledger.positions["BTC-USDT"]
    assert position.quantity == D("-2")
    assert position.avg_price == D("110")
    assert ledger.cash == D("1010")
    ledger = ledger.with_marks({"BTC-USDT": D("110")})
    assert ledger.equity == D("1010")
    reconciles(ledger)


def test_a_partial_close_keeps_its_realized_gain_in_equity() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("1000"))
    ledger, _ = apply_fill(ledger, fill(TradeSide.BUY, "2", "100"))
    ledger, effect = apply_fill(ledger, fill(TradeSide.SELL, "1", "150"))
    assert effect.realized_pnl == D("50")
    ledger = ledger.with_marks({"BTC-USDT": D("150")})
    assert ledger.equity == D("1100")  # 950 cash after the sale + 1 BTC at 150
    assert ledger.realized_pnl == D("50")
    assert ledger.unrealized_pnl == D("50")
    reconciles(ledger)


def test_float_dust_never_leaves_a_phantom_position() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("1000"))
    for qty in (0.1, 0.2):
        ledger, _ = apply_fill(ledger, fill(TradeSide.BUY, repr(qty), "10"))
    ledger, _ = apply_fill(ledger, fill(TradeSide.SELL, repr(0.1 + 0.2), "10"))
    assert ledger.positions == {}
    assert ledger.cash == D("1000")
    reconciles(ledger)


def test_fees_reduce_equity_by_exactly_what_was_paid() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("1000"))
    ledger, _ = apply_fill(ledger, fill(TradeSide.BUY, "1", "100", fee="0.1"))
    ledger, _ = apply_fill(ledger, fill(TradeSide.SELL, "1", "100", fee="0.1"))
    assert ledger.equity == D("999.8")
    assert ledger.fees_paid == D("0.2")


def test_a_spot_buy_that_would_overdraw_cash_is_an_accounting_error() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("100"))
    with pytest.raises(AccountingError):
        apply_fill(ledger, fill(TradeSide.BUY, "2", "60"))
