"""What differs between venues, as data: one row per (exchange, market type), no ``if venue ==``.

ccxt already unifies most parameter names (``clientOrderId`` is sent as ``newClientOrderId`` on
Binance, ``clOrdId`` on OKX, ``orderLinkId`` on Bybit); what it cannot unify lives here: the client
id alphabet and length, how leverage and margin mode are set, how an order is found again by its
client id, which error codes mean "that client id already exists" or "nothing to change", and how
the venue's test environment is selected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import MarketType

TestnetSwitch = Literal["sandbox", "demo"]
"""``sandbox``: ``exchange.set_sandbox_mode(True)``; ``demo``: ``exchange.enable_demo_trading(True)``."""

MarginModeCall = Literal["set_margin_mode", "order_param", "none"]
"""How the margin mode reaches the venue: a call before opening, a parameter on each order, or
not at all (spot)."""


@dataclass(frozen=True, slots=True)
class LookupCall:
    """One way to find an order by its client id: ``await exchange.<method>(..., params)``.

    ``returns_list`` methods (``fetch_open_orders``) answer ``[]`` when nothing matches; the others
    raise ``ccxt.OrderNotFound``.
    """

    method: str
    param: str
    returns_list: bool = False
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class VenueProfile:
    exchange_id: str
    market_type: MarketType
    client_id_max_len: int
    client_id_pattern: str
    """Regular expression a client order id must match in full."""
    client_id_param: str = "clientOrderId"
    """The ccxt-unified name; ``client_id_wire`` is what ccxt sends (for log lines and fakes)."""
    client_id_wire: str = "clientOrderId"
    reduce_only_param: str | None = "reduceOnly"
    reduce_only_exempt_from_min_cost: bool = False
    """The venue accepts reduce-only orders below its minimum order value (Binance futures)."""
    margin_mode_call: MarginModeCall = "none"
    margin_mode_param: str = "marginMode"
    leverage_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Extra ``set_leverage`` params; ``{margin_mode}`` in a value is replaced."""
    sets_leverage: bool = False
    lookup: tuple[LookupCall, ...] = ()
    fetch_order_params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """Extra params of ``fetch_order(id, symbol)`` (Bybit asks to acknowledge its 500-order window)."""
    duplicate_client_id_markers: tuple[str, ...] = ()
    """Error codes/texts meaning "an order with this client id exists": look it up, never resend."""
    no_change_markers: tuple[str, ...] = ()
    """Error codes/texts of a leverage/margin call that mean "already set": not an error."""
    testnet: TestnetSwitch | None = "sandbox"
    amount_in_contracts: bool = False
    """ccxt amounts are contracts (``base = amount * contractSize``) rather than base units."""
    positions_one_symbol_per_call: bool = False
    """``fetch_positions`` takes at most one symbol (Bybit)."""
    fetch_fills_from_trades: bool = False
    """The order structure carries no fee: read it from ``fetch_my_trades`` for the order."""

    @property
    def name(self) -> str:
        return f"{self.exchange_id} {self.market_type.value}"

    @property
    def perpetual(self) -> bool:
        return self.market_type is MarketType.PERPETUAL

    def client_id_ok(self, client_id: str) -> bool:
        return len(client_id) <= self.client_id_max_len and bool(
            re.fullmatch(self.client_id_pattern, client_id)
        )


_BINANCE_ID = r"[.A-Z:/a-z0-9_-]{1,36}"
_OKX_ID = r"[A-Za-z0-9]{1,32}"
_BYBIT_ID = r"[A-Za-z0-9_-]{1,36}"

_BINANCE_LOOKUP = (LookupCall("fetch_order", "clientOrderId"),)
_OKX_LOOKUP = (LookupCall("fetch_order", "clientOrderId"),)
_BYBIT_LOOKUP = (
    LookupCall("fetch_open_orders", "orderLinkId", returns_list=True),
    LookupCall("fetch_closed_orders", "orderLinkId", returns_list=True),
)

_VENUES: tuple[VenueProfile, ...] = (
    VenueProfile(
        exchange_id="binance",
        market_type=MarketType.SPOT,
        client_id_max_len=36,
        client_id_pattern=_BINANCE_ID,
        client_id_wire="newClientOrderId",
        reduce_only_param=None,
        lookup=_BINANCE_LOOKUP,
        duplicate_client_id_markers=("-2010 Duplicate order sent", "Duplicate order sent"),
        testnet="sandbox",
    ),
    VenueProfile(
        exchange_id="binance",
        market_type=MarketType.PERPETUAL,
        client_id_max_len=36,
        client_id_pattern=_BINANCE_ID,
        client_id_wire="newClientOrderId",
        reduce_only_exempt_from_min_cost=True,
        margin_mode_call="set_margin_mode",
        sets_leverage=True,
        lookup=_BINANCE_LOOKUP,
        duplicate_client_id_markers=('"code":-4116', "-4116"),
        no_change_markers=("-4046", "No need to change margin type"),
        testnet="demo",  # ccxt refuses the retired futures sandbox; demo trading replaces it
        amount_in_contracts=True,
        fetch_fills_from_trades=True,
    ),
    VenueProfile(
        exchange_id="okx",
        market_type=MarketType.SPOT,
        client_id_max_len=32,
        client_id_pattern=_OKX_ID,
        client_id_wire="clOrdId",
        reduce_only_param=None,
        lookup=_OKX_LOOKUP,
        duplicate_client_id_markers=("51016",),
        testnet="sandbox",
    ),
    VenueProfile(
        exchange_id="okx",
        market_type=MarketType.PERPETUAL,
        client_id_max_len=32,
        client_id_pattern=_OKX_ID,
        client_id_wire="clOrdId",
        margin_mode_call="order_param",  # sent as tdMode on every order
        sets_leverage=True,
        leverage_params=MappingProxyType({"marginMode": "{margin_mode}"}),
        lookup=_OKX_LOOKUP,
        duplicate_client_id_markers=("51016",),
        no_change_markers=(),
        testnet="sandbox",  # OKX demo trading: ccxt adds the x-simulated-trading header
        amount_in_contracts=True,
    ),
    VenueProfile(
        exchange_id="bybit",
        market_type=MarketType.SPOT,
        client_id_max_len=36,
        client_id_pattern=_BYBIT_ID,
        client_id_wire="orderLinkId",
        reduce_only_param=None,
        lookup=_BYBIT_LOOKUP,
        fetch_order_params=MappingProxyType({"acknowledged": True}),
        duplicate_client_id_markers=("110072", "170141"),
        testnet="sandbox",
    ),
    VenueProfile(
        exchange_id="bybit",
        market_type=MarketType.PERPETUAL,
        client_id_max_len=36,
        client_id_pattern=_BYBIT_ID,
        client_id_wire="orderLinkId",
        margin_mode_call="none",  # unified accounts set it account-wide, outside a strategy
        sets_leverage=True,
        lookup=_BYBIT_LOOKUP,
        fetch_order_params=MappingProxyType({"acknowledged": True}),
        duplicate_client_id_markers=("110072",),
        no_change_markers=("110043", "leverage not modified"),
        testnet="sandbox",
        amount_in_contracts=True,
        positions_one_symbol_per_call=True,
    ),
)

VENUES: Mapping[tuple[str, MarketType], VenueProfile] = MappingProxyType(
    {(v.exchange_id, v.market_type): v for v in _VENUES}
)


def venue_profile(exchange_id: str, market_type: MarketType) -> VenueProfile:
    """The row for ``exchange_id``/``market_type``; ``ConfigError`` names the supported ones."""
    profile = VENUES.get((exchange_id, MarketType(market_type)))
    if profile is None:
        supported = ", ".join(sorted(v.name for v in VENUES.values()))
        raise ConfigError(
            f"live trading on {exchange_id} {MarketType(market_type).value} is not supported; "
            f"supported: {supported}"
        )
    return profile


def select_testnet(exchange: Any, exchange_id: str, market_type: MarketType) -> None:
    """Point a fresh ccxt instance at the venue's test environment, as this table says.

    Venues without a row use ccxt's sandbox switch; a row without a test environment refuses.
    """
    profile = VENUES.get((exchange_id, MarketType(market_type)))
    switch = profile.testnet if profile is not None else "sandbox"
    if switch is None:
        raise ConfigError(f"{exchange_id} {MarketType(market_type).value} has no test environment")
    if switch == "demo":
        exchange.enable_demo_trading(True)
    else:
        exchange.set_sandbox_mode(True)
