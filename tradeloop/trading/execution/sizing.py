"""Pure order sizing: base quantity -> venue amount that the venue will accept, or a reason not to send.

Steps, in order (all in ``Decimal``, never float arithmetic):

1. base units -> order units (contracts: ``amount = base / contractSize``);
2. opening orders are clamped by the caps (per-order value, what is left of the daily value) and
   every order by the venue's maximum amount;
3. the amount is rounded *down* to the venue's step, so it never exceeds what was asked or a cap;
4. an amount that rounds to zero, or falls below the venue's minimum amount or order value, is
   dropped with the reason. Closing (reduce-only) orders are exempt from the caps, so a cap can
   never trap a position, and from the minimum value where the venue says so.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.utils import to_decimal

ZERO = Decimal(0)
FALLBACK_STEP = Decimal("1e-12")
"""Used for a market that publishes no amount precision, so no amount carries 60 digits."""
_CTX = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)

# ccxt precision modes (ccxt.base.decimal_to_precision); repeated so this module stays ccxt-free.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What one venue market accepts, in order units (contracts or base)."""

    symbol: str
    amount_step: Decimal | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_cost: Decimal | None = None
    """Minimum order value in the quote currency."""
    contract_size: Decimal = Decimal(1)
    """Base units per order unit (1 for spot and for venues that count in base units)."""
    price_step: Decimal | None = None

    @property
    def base_step(self) -> Decimal | None:
        """The amount step in base units."""
        return self.amount_step * self.contract_size if self.amount_step is not None else None

    @property
    def base_min_amount(self) -> Decimal | None:
        return self.min_amount * self.contract_size if self.min_amount is not None else None

    @classmethod
    def from_ccxt(
        cls, market: Mapping[str, Any], precision_mode: int, *, market_order: bool = True
    ) -> MarketRules:
        """Rules from a loaded ccxt market structure."""
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        max_amount = _dec((limits.get("amount") or {}).get("max"))
        market_max = _dec((limits.get("market") or {}).get("max")) if market_order else None
        if market_max is not None and (max_amount is None or market_max < max_amount):
            max_amount = market_max
        contract = bool(market.get("contract"))
        return cls(
            symbol=str(market["symbol"]),
            amount_step=_step(precision.get("amount"), precision_mode, market["symbol"]),
            min_amount=_dec((limits.get("amount") or {}).get("min")),
            max_amount=max_amount,
            min_cost=_dec((limits.get("cost") or {}).get("min")),
            contract_size=(_dec(market.get("contractSize")) or Decimal(1))
            if contract
            else Decimal(1),
            price_step=_step(precision.get("price"), precision_mode, market["symbol"]),
        )


@dataclass(frozen=True, slots=True)
class OrderCaps:
    """Per-strategy limits on opening orders, in the quote currency (None: no limit)."""

    max_order_value: Decimal | None = None
    remaining_daily_value: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SizedOrder:
    amount: Decimal
    """What goes to ccxt: contracts for contract markets, base units otherwise."""
    base_quantity: Decimal
    notional: Decimal
    """``base_quantity x price`` in the quote currency."""
    clamped_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: str


def size_order(
    base_quantity: Decimal,
    price: Decimal,
    rules: MarketRules,
    caps: OrderCaps = OrderCaps(),
    *,
    reduce_only: bool = False,
    exempt_min_cost_when_reducing: bool = False,
) -> SizedOrder | Dropped:
    """The amount to send for ``base_quantity`` at about ``price``, or why nothing is sent. Pure."""
    if not base_quantity.is_finite() or base_quantity <= 0:
        return Dropped(f"quantity {base_quantity} must be above zero")
    if not price.is_finite() or price <= 0:
        return Dropped(f"reference price {price} must be above zero")
    unit_value = _CTX.multiply(price, rules.contract_size)
    amount = _CTX.divide(base_quantity, rules.contract_size)
    limit, clamped = _limit(unit_value, rules, caps, reduce_only)
    if limit is not None and limit <= 0:
        return Dropped(f"nothing left under {clamped[0]}")
    if limit is not None and amount > limit:
        amount = limit
    else:
        clamped = ()
    amount = floor_to_step(amount, rules.amount_step or FALLBACK_STEP)
    reason = _too_small(amount, unit_value, rules, reduce_only and exempt_min_cost_when_reducing)
    if reason is not None:
        after = f" after clamping by {', '.join(clamped)}" if clamped else ""
        return Dropped(reason + after)
    base = _CTX.multiply(amount, rules.contract_size)
    return SizedOrder(
        amount=amount,
        base_quantity=base,
        notional=_CTX.multiply(base, price),
        clamped_by=clamped,
    )


def _limit(
    unit_value: Decimal, rules: MarketRules, caps: OrderCaps, reduce_only: bool
) -> tuple[Decimal | None, tuple[str, ...]]:
    """The largest amount allowed and the names of the limits that set it."""
    candidates: list[tuple[Decimal, str]] = []
    if rules.max_amount is not None:
        candidates.append((rules.max_amount, "the market's maximum amount"))
    if not reduce_only:
        for value, name in (
            (caps.max_order_value, "max_order_value"),
            (caps.remaining_daily_value, "max_daily_traded_value"),
        ):
            if value is not None:
                candidates.append((_CTX.divide(max(value, ZERO), unit_value), name))
    if not candidates:
        return None, ()
    lowest = min(value for value, _ in candidates)
    return lowest, tuple(name for value, name in candidates if value == lowest)


def _too_small(
    amount: Decimal, unit_value: Decimal, rules: MarketRules, exempt_min_cost: bool
) -> str | None:
    if amount <= 0:
        return f"quantity rounds to zero at the market's step {rules.amount_step or FALLBACK_STEP}"
    if rules.min_amount is not None and amount < rules.min_amount:
        return f"amount {amount} is below the market's minimum {rules.min_amount}"
    cost = _CTX.multiply(amount, unit_value)
    if rules.min_cost is not None and cost < rules.min_cost and not exempt_min_cost:
        return f"order value {cost:.8g} is below the market's minimum {rules.min_cost}"
    return None


def floor_to_step(value: Decimal, step: Decimal | None) -> Decimal:
    """The largest multiple of ``step`` not above ``value`` (``value`` itself without a step)."""
    if step is None or step <= 0:
        return value
    return _CTX.multiply(_CTX.divide_int(value, step), step)


def limit_price(
    reference: Decimal, slippage_bps: int, buying: bool, step: Decimal | None
) -> Decimal:
    """A marketable limit price at most ``slippage_bps`` away, rounded toward the reference."""
    factor = Decimal(1) + (Decimal(slippage_bps) / Decimal(10_000)) * (1 if buying else -1)
    raw = _CTX.multiply(reference, factor)
    if step is None or step <= 0:
        return raw
    rounding = ROUND_FLOOR if buying else ROUND_CEILING
    units = _CTX.divide(raw, step).to_integral_value(rounding=rounding)
    return _CTX.multiply(units, step)


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    result = to_decimal(value if isinstance(value, int | float | Decimal) else str(value))
    return result if result.is_finite() and result > 0 else None


def _step(value: Any, precision_mode: int, symbol: str) -> Decimal | None:
    if value is None:
        return None
    if precision_mode == TICK_SIZE:
        return _dec(value)
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    raise ConfigError(f"{symbol}: significant-digit precision is not supported for live orders")
