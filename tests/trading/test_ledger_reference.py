"""The ledger against an independent average-cost reference model written from the definitions.

The model below uses exact rationals (``Fraction``) and imports nothing from tradeloop: only the
ledger's public entry point (``Ledger``, ``Fill``, ``apply_fill``) and its enums are under test.
Definitions (average cost, gross realized PnL, fees booked separately):
- an open adds ``quantity x price`` to the position's signed cost;
- a close of ``q`` out of ``|Q|`` removes ``cost x q / |Q|`` and realizes
  ``signed_closed x fill_price - cost_removed`` (so a short closed lower gains);
- a fill larger than the position closes all of it and opens the rest on the other side;
- the fee of a fill is split pro rata between the part it closes and the part it opens;
- spot: buying spends ``quantity x price`` of cash, selling receives it;
  perpetual: cash moves only by realized PnL; both pay every fee from cash.
Pro-rata shares are rounded at 1e-18 by the ledger, so amounts are compared to 1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hypothesis_budget import examples
from tradeloop.trading.errors import AccountingError
from tradeloop.trading.models import MarketType, TradeSide, TradeType
from tradeloop.trading.portfolio.ledger import Fill, Ledger, apply_fill

D = Decimal
F = Fraction
TOLERANCE = F(1, 10**12)
BUY, SELL = TradeSide.BUY, TradeSide.SELL


@dataclass
class RefPosition:
    quantity: Fraction  # signed
    cost: Fraction  # signed: sum of quantity x entry price still open
    entry_fees: Fraction


@dataclass
class RefStep:
    closed_qty: Fraction = F(0)
    opened_qty: Fraction = F(0)
    realized: Fraction = F(0)
    open_fee: Fraction = F(0)
    close_fee: Fraction = F(0)  # this fill's fee share for the closed part
    round_trip_fees: Fraction = F(0)  # close fee share + entry fees of the closed part


@dataclass
class RefAccount:
    spot: bool
    cash: Fraction
    positions: dict[str, RefPosition] = field(default_factory=dict)
    realized: Fraction = F(0)
    fees: Fraction = F(0)

    def apply(self, symbol: str, side: TradeSide, qty: Fraction, price: Fraction, fee: Fraction):
        sign = 1 if side is BUY else -1
        pos = self.positions.get(symbol)
        held = pos.quantity if pos else F(0)
        if self.spot and side is SELL and qty > held:
            raise ValueError("spot sell exceeds holding")
        step = RefStep()
        cash = self.cash - fee
        positions = dict(self.positions)
        realized = self.realized
        remaining = qty
        if pos is not None and (pos.quantity > 0) != (sign > 0):
            closed = min(qty, abs(pos.quantity))
            cost_removed = pos.cost * closed / abs(pos.quantity)
            fees_removed = pos.entry_fees * closed / abs(pos.quantity)
            signed_closed = closed if pos.quantity > 0 else -closed
            pnl = signed_closed * price - cost_removed
            realized += pnl
            cash += signed_closed * price if self.spot else pnl
            step.closed_qty, step.realized = closed, pnl
            step.close_fee = fee * closed / qty
            step.round_trip_fees = step.close_fee + fees_removed
            left = pos.quantity - signed_closed
            if left == 0:
                del positions[symbol]
            else:
                positions[symbol] = RefPosition(
                    left, pos.cost - cost_removed, pos.entry_fees - fees_removed
                )
            remaining = qty - closed
        if remaining > 0:
            open_fee = fee * remaining / qty
            added = sign * remaining * price
            if self.spot:
                cash -= added
            cur = positions.get(symbol, RefPosition(F(0), F(0), F(0)))
            positions[symbol] = RefPosition(
                cur.quantity + sign * remaining, cur.cost + added, cur.entry_fees + open_fee
            )
            step.opened_qty, step.open_fee = remaining, open_fee
        if self.spot and cash < 0:
            raise ValueError("spot cash would go negative")
        self.cash, self.positions, self.realized = cash, positions, realized
        self.fees += fee
        return step


def close(actual: Decimal, expected: Fraction) -> bool:
    return abs(F(actual) - expected) <= TOLERANCE


def assert_matches(ledger: Ledger, ref: RefAccount) -> None:
    assert close(ledger.cash, ref.cash), ("cash", ledger.cash, float(ref.cash))
    assert close(ledger.realized_pnl, ref.realized), ("realized", ledger.realized_pnl)
    assert F(ledger.fees_paid) == ref.fees, ("fees", ledger.fees_paid, float(ref.fees))
    assert set(ledger.positions) == set(ref.positions)
    for symbol, expected in ref.positions.items():
        pos = ledger.positions[symbol]
        assert F(pos.quantity) == expected.quantity, (symbol, "quantity")
        assert close(pos.cost, expected.cost), (symbol, "cost", pos.cost, float(expected.cost))
        assert close(pos.entry_fees, expected.entry_fees), (symbol, "entry_fees")


SYMBOLS = ["BTC-USDT", "ETH-USDT"]
prices = st.decimals(min_value="0.5", max_value="50000", places=2)
quantities = st.decimals(min_value="0.001", max_value="4", places=3)
fees = st.decimals(min_value="0", max_value="3", places=4)
fill_steps = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), st.sampled_from([BUY, SELL]), quantities, prices, fees),
    min_size=1,
    max_size=25,
)


def run_against_model(market: MarketType, capital: str, steps) -> None:
    ledger = Ledger.open_account(market, D(capital))
    ref = RefAccount(spot=market is MarketType.SPOT, cash=F(D(capital)))
    for ts, (symbol, side, qty, price, fee) in enumerate(steps):
        fill = Fill(symbol=symbol, side=side, quantity=qty, price=price, fee=fee, ts=ts)
        try:
            expected = ref.apply(symbol, side, F(qty), F(price), F(fee))
        except ValueError:
            with pytest.raises(AccountingError):
                apply_fill(ledger, fill)
            continue
        ledger, effect = apply_fill(ledger, fill)
        assert F(effect.closed_qty) == expected.closed_qty
        assert F(effect.opened_qty) == expected.opened_qty
        assert close(effect.realized_pnl, expected.realized)
        assert close(effect.open_fee, expected.open_fee)
        assert close(effect.close_fee, expected.close_fee)
        assert close(effect.round_trip_fees, expected.round_trip_fees)
        assert_matches(ledger, ref)


@settings(max_examples=examples(250), deadline=None)
@given(steps=fill_steps)
def test_perpetual_fills_over_two_symbols_match_the_average_cost_reference(steps) -> None:
    run_against_model(MarketType.PERPETUAL, "10000", steps)


@settings(max_examples=examples(250), deadline=None)
@given(steps=fill_steps, capital=st.sampled_from(["500", "1000000000"]))
def test_spot_fills_over_two_symbols_match_the_average_cost_reference(steps, capital) -> None:
    run_against_model(MarketType.SPOT, capital, steps)


# ----------------------------------------------------------------- literal cases, computed by hand


def perp() -> Ledger:
    return Ledger.open_account(MarketType.PERPETUAL, D("1000"))


def do(ledger: Ledger, side: TradeSide, qty: str, price: str, fee: str = "0", ts: int = 0):
    return apply_fill(
        ledger,
        Fill(symbol="BTC-USDT", side=side, quantity=D(qty), price=D(price), fee=D(fee), ts=ts),
    )


def test_buying_back_half_of_a_short_lower_realizes_a_gain() -> None:
    ledger, _ = do(perp(), SELL, "2", "100", ts=3)
    ledger, effect = do(ledger, BUY, "1", "90", ts=9)
    assert effect.realized_pnl == D("10")  # (100 - 90) x 1
    assert (effect.symbol, effect.side, effect.entry_ts) == ("BTC-USDT", BUY, 3)
    assert effect.closed_type is TradeType.SHORT
    assert effect.entry_price == D("100")
    assert ledger.realized_pnl == D("10")
    assert ledger.cash == D("1010")
    position = ledger.positions["BTC-USDT"]
    assert position.quantity == D("-1")
    assert position.cost == D("-100")


def test_buying_back_a_short_higher_realizes_a_loss_net_of_both_fees() -> None:
    ledger, _ = do(perp(), SELL, "2", "100", fee="0.4")
    ledger, effect = do(ledger, BUY, "2", "110", fee="0.44")
    assert effect.realized_pnl == D("-20")
    assert effect.close_fee == D("0.44")
    assert effect.round_trip_fees == D("0.84")  # the close fee plus the entry fee of what closed
    assert ledger.fees_paid == D("0.84")
    assert ledger.cash == D("979.16")  # 1000 - 20 - 0.4 - 0.44
    assert ledger.positions == {}


def test_a_spot_partial_sell_with_fees_on_both_sides() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("1000"))
    ledger, _ = do(ledger, BUY, "2", "100", fee="0.2")  # cash 1000 - 200 - 0.2
    ledger, _ = do(ledger, BUY, "2", "110", fee="0.22")  # avg 105, cost 420
    ledger, effect = do(ledger, SELL, "1", "120", fee="0.12")
    assert effect.realized_pnl == D("15")  # 120 - 105
    assert effect.close_fee == D("0.12")
    assert effect.round_trip_fees == D("0.225")  # 0.12 + a quarter of 0.42
    assert ledger.cash == D("699.46")  # 1000 - 200.2 - 220.22 + 120 - 0.12
    position = ledger.positions["BTC-USDT"]
    assert (position.quantity, position.cost, position.entry_fees) == (D("3"), D("315"), D("0.315"))
    assert ledger.fees_paid == D("0.54")


def test_a_flip_from_short_to_long_closes_the_short_and_opens_the_rest_at_the_fill() -> None:
    ledger, _ = do(perp(), SELL, "1", "100", ts=1)
    ledger, effect = do(ledger, BUY, "3", "80", fee="0.3", ts=2)
    assert effect.realized_pnl == D("20")
    assert (effect.closed_qty, effect.opened_qty) == (D("1"), D("2"))
    assert (effect.closed_type, effect.opened_type) == (TradeType.SHORT, TradeType.LONG)
    assert (effect.open_fee, effect.close_fee, effect.round_trip_fees) == (
        D("0.2"),
        D("0.1"),
        D("0.1"),
    )
    assert ledger.cash == D("1019.7")
    position = ledger.positions["BTC-USDT"]
    assert (position.quantity, position.cost, position.entry_ts) == (D("2"), D("160"), 2)


def test_adding_to_a_position_keeps_its_entry_time_and_the_larger_leverage() -> None:
    ledger, _ = apply_fill(
        perp(),
        Fill("BTC-USDT", BUY, D("1"), D("100"), D("0"), ts=5, leverage=D(3), stop_loss=D(90)),
    )
    ledger, _ = apply_fill(ledger, Fill("BTC-USDT", BUY, D("1"), D("120"), D("0"), ts=9))
    position = ledger.positions["BTC-USDT"]
    assert (position.entry_ts, position.leverage, position.stop_loss) == (5, D(3), D(90))
    assert position.avg_price == D("110")
    assert position.mark_price == D("120")
    ledger, _ = apply_fill(
        ledger, Fill("BTC-USDT", BUY, D("1"), D("120"), D("0"), ts=9, take_profit=D(150))
    )
    assert ledger.positions["BTC-USDT"].take_profit == D(150)


def test_a_close_that_differs_from_the_position_by_dust_closes_all_of_it() -> None:
    ledger, _ = do(perp(), SELL, "1", "100")
    ledger, effect = do(ledger, BUY, "1.0000000000001", "100")  # 1e-13 more than held
    assert ledger.positions == {}
    assert effect.opened_qty == 0
    ledger, _ = do(perp(), BUY, "1", "100")
    ledger, effect = do(ledger, SELL, "0.9999999999999", "110")  # 1e-13 less than held
    assert ledger.positions == {}
    assert effect.realized_pnl == D("10")


def test_a_spot_sell_beyond_the_holding_by_more_than_dust_is_refused() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("1000"))
    ledger, _ = do(ledger, BUY, "1", "100")
    with pytest.raises(AccountingError):
        do(ledger, SELL, "1.00001", "100")
    ledger, _ = do(ledger, SELL, "1.0000000000001", "100")  # within dust: closes exactly
    assert ledger.positions == {} and ledger.cash == D("1000")


@pytest.mark.parametrize(
    ("qty", "price", "fee"), [("0", "100", "0"), ("1", "0", "0"), ("1", "100", "-0.1")]
)
def test_a_fill_with_no_quantity_no_price_or_a_negative_fee_is_refused(qty, price, fee) -> None:
    with pytest.raises(AccountingError):
        do(perp(), BUY, qty, price, fee)


def test_equity_marks_a_spot_holding_at_value_and_a_perpetual_one_at_its_pnl() -> None:
    spot = Ledger.open_account(MarketType.SPOT, D("1000"))
    spot, _ = do(spot, BUY, "2", "100")
    spot = spot.with_marks({"BTC-USDT": D("130")})
    assert spot.equity == D("1060")  # 800 cash + 2 x 130
    assert spot.unrealized_pnl == D("60")
    assert spot.gross_exposure == D("260")
    short, _ = do(perp(), SELL, "2", "100")
    short = short.with_marks({"BTC-USDT": D("130")})
    assert short.equity == D("940")  # 1000 cash + (-2 x 130 - -200)
    assert short.gross_exposure == D("260")


def test_a_full_close_removes_the_exact_cost_and_entry_fee_however_many_decimals() -> None:
    # cost 1e-8 x 1.0000000000001 has 21 decimals, the fee 1e-20: neither may be rounded away
    ledger, _ = do(perp(), BUY, "0.00000001", "1.0000000000001", fee="0.00000000000000000001")
    ledger, effect = do(ledger, SELL, "0.00000001", "2")
    assert effect.realized_pnl == D("0.000000009999999999999")
    assert effect.round_trip_fees == D("0.00000000000000000001")
    assert ledger.realized_pnl == D("0.000000009999999999999")
    assert ledger.positions == {}


def test_marking_keeps_every_other_field_and_leaves_unpriced_symbols_alone() -> None:
    ledger, _ = apply_fill(
        perp(),
        Fill(
            "BTC-USDT",
            BUY,
            D("2"),
            D("100"),
            D("0.2"),
            ts=7,
            leverage=D(2),
            stop_loss=D(90),
            take_profit=D(130),
        ),
    )
    ledger, _ = apply_fill(ledger, Fill("ETH-USDT", SELL, D("1"), D("10"), D("0"), ts=8))
    before = ledger.positions["BTC-USDT"]
    marked = ledger.with_marks({"BTC-USDT": D("120")})
    after = marked.positions["BTC-USDT"]
    assert after.mark_price == D("120")
    assert (after.quantity, after.cost, after.entry_fees, after.leverage, after.entry_ts) == (
        D(2),
        D(200),
        D("0.2"),
        D(2),
        7,
    )
    assert (after.stop_loss, after.take_profit) == (D(90), D(130))
    assert marked.positions["ETH-USDT"] == ledger.positions["ETH-USDT"]  # no price: unchanged
    assert (marked.cash, marked.realized_pnl, marked.fees_paid) == (
        ledger.cash,
        ledger.realized_pnl,
        ledger.fees_paid,
    )
    assert marked.equity == D("1039.8")  # 1000 - 0.2 fee + 2 x (120 - 100)
    assert before.mark_price == D("100") and ledger.with_marks({"BTC-USDT": D("100")}) is ledger


def test_an_open_records_its_levels_and_an_add_raises_leverage_and_replaces_given_levels() -> None:
    ledger, _ = apply_fill(
        perp(),
        Fill(
            "BTC-USDT",
            BUY,
            D("1"),
            D("100"),
            D("0"),
            ts=1,
            leverage=D(2),
            stop_loss=D(90),
            take_profit=D(150),
        ),
    )
    opened = ledger.positions["BTC-USDT"]
    assert (opened.mark_price, opened.leverage, opened.stop_loss, opened.take_profit) == (
        D(100),
        D(2),
        D(90),
        D(150),
    )
    ledger, _ = apply_fill(
        ledger,
        Fill("BTC-USDT", BUY, D("1"), D("104"), D("0"), ts=2, leverage=D(5), stop_loss=D(95)),
    )
    added = ledger.positions["BTC-USDT"]
    assert (added.mark_price, added.leverage, added.stop_loss, added.take_profit) == (
        D(104),
        D(5),
        D(95),
        D(150),
    )


def test_a_long_partial_close_is_a_long_round_trip_even_on_a_ten_figure_position() -> None:
    # cost 3e10: the pro-rata share needs 29 digits at 1e-18, more than a default context holds
    ledger = Ledger.open_account(MarketType.PERPETUAL, D("1e12"))
    ledger, _ = do(ledger, BUY, "3", "10000000000.5")
    ledger, effect = do(ledger, SELL, "1", "10000000001")
    assert effect.closed_type is TradeType.LONG
    assert effect.realized_pnl == D("0.5")
    assert ledger.positions["BTC-USDT"].cost == D("20000000001")


def test_a_spot_buy_may_spend_the_last_cent_of_cash_but_not_one_more() -> None:
    ledger = Ledger.open_account(MarketType.SPOT, D("100"))
    spent, _ = do(ledger, BUY, "1", "99.9", fee="0.1")
    assert spent.cash == 0
    with pytest.raises(AccountingError):
        do(ledger, BUY, "1", "99.9", fee="0.11")


def test_a_difference_of_exactly_the_dust_size_still_counts_as_dust() -> None:
    # dust is 1e-12: a close that misses the position by exactly that much closes all of it
    ledger, _ = do(perp(), BUY, "1", "100")
    short_by, effect = do(ledger, SELL, "0.999999999999", "100")
    assert short_by.positions == {} and effect.closed_qty == D(1)
    over_by, effect = do(ledger, SELL, "1.000000000001", "100")
    assert over_by.positions == {} and effect.opened_qty == 0
    spot = Ledger.open_account(MarketType.SPOT, D("1000"))
    spot, _ = do(spot, BUY, "1", "100")
    spot, _ = do(spot, SELL, "1.000000000001", "100")
    assert spot.positions == {}


def test_an_open_only_fill_names_its_symbol_side_and_type() -> None:
    _, effect = do(perp(), SELL, "2", "100", fee="0.2")
    assert (effect.symbol, effect.side, effect.opened_type, effect.opened_qty) == (
        "BTC-USDT",
        SELL,
        TradeType.SHORT,
        D(2),
    )
    assert (effect.closed_qty, effect.closed_type, effect.open_fee) == (0, None, D("0.2"))
