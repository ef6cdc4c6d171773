"""Binance USDT-M futures (``/fapi``) and spot (``/api/v3``) as their REST API answers."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

from tests.execution.fake_exchange.dialect import Dialect, FakeRequest, Route, dec, num
from tests.execution.fake_exchange.engine import (
    FakeAccount,
    FakeMarket,
    FakeOrder,
    FakeReject,
    Reject,
)

_ERRORS: dict[Reject, tuple[int, int, str]] = {
    Reject.INSUFFICIENT_FUNDS: (400, -2019, "Margin is insufficient."),
    Reject.MIN_NOTIONAL: (
        400,
        -4164,
        "Order's notional must be no smaller than 5 (unless you choose reduce only).",
    ),
    Reject.MIN_AMOUNT: (400, -4003, "Quantity less than or equal to zero."),
    Reject.BAD_PRECISION: (400, -1111, "Precision is over the maximum defined for this asset."),
    Reject.REDUCE_ONLY: (400, -2022, "ReduceOnly Order is rejected."),
    Reject.DUPLICATE_CLIENT_ID: (400, -4116, "ClientOrderId is duplicated."),
    Reject.NOT_FOUND: (400, -2013, "Order does not exist."),
    Reject.BAD_KEY: (401, -2015, "Invalid API-key, IP, or permissions for action."),
    Reject.BAD_SIGNATURE: (400, -1022, "Signature for this request is not valid."),
    Reject.RATE_LIMITED: (
        429,
        -1003,
        "Too many requests; current limit is 2400 requests per minute.",
    ),
    Reject.BAD_SYMBOL: (400, -1121, "Invalid symbol."),
    Reject.INVALID_ORDER: (
        400,
        -4131,
        "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
    ),
    Reject.NO_CHANGE: (400, -4046, "No need to change margin type."),
}
_SPOT_ERRORS: dict[Reject, tuple[int, int, str]] = {
    **_ERRORS,
    Reject.INSUFFICIENT_FUNDS: (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    ),
    Reject.MIN_NOTIONAL: (400, -1013, "Filter failure: NOTIONAL"),
    Reject.MIN_AMOUNT: (400, -1013, "Filter failure: LOT_SIZE"),
    Reject.DUPLICATE_CLIENT_ID: (400, -2010, "Duplicate order sent."),
}
_STATUS = {"open": "NEW", "closed": "FILLED", "canceled": "EXPIRED"}


class BinanceDialect(Dialect):
    """Both Binance surfaces over one account; the path says which one is asked."""

    def __init__(self, account: FakeAccount) -> None:
        super().__init__(account)
        fapi, api = "/fapi", "/api/v3"
        self.routes = {
            ("GET", f"{fapi}/v1/exchangeInfo"): Route(_futures_info, private=False),
            ("GET", f"{fapi}/v1/ticker/24hr"): Route(_ticker, private=False),
            ("GET", f"{fapi}/v1/klines"): Route(_klines, private=False),
            ("POST", f"{fapi}/v1/order"): Route(self._create_futures),
            ("GET", f"{fapi}/v1/order"): Route(_get_futures_order),
            ("GET", f"{fapi}/v1/userTrades"): Route(_futures_trades),
            ("GET", f"{fapi}/v3/positionRisk"): Route(_position_risk),
            ("GET", f"{fapi}/v2/positionRisk"): Route(_position_risk),
            ("GET", f"{fapi}/v3/account"): Route(_futures_account),
            ("GET", f"{fapi}/v2/account"): Route(_futures_account),
            ("GET", f"{fapi}/v2/balance"): Route(_futures_balance),
            ("POST", f"{fapi}/v1/leverage"): Route(_set_leverage),
            ("GET", f"{fapi}/v1/leverageBracket"): Route(_leverage_brackets),
            ("POST", f"{fapi}/v1/marginType"): Route(_set_margin_type),
            ("GET", f"{api}/exchangeInfo"): Route(_spot_info, private=False),
            ("GET", f"{api}/ticker/24hr"): Route(_ticker, private=False),
            ("POST", f"{api}/order"): Route(self._create_spot),
            ("GET", f"{api}/order"): Route(_get_spot_order),
            ("GET", f"{api}/account"): Route(_spot_account),
            ("GET", f"{api}/myTrades"): Route(_spot_trades),
        }
        self._spot_request = False

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: str | None
    ) -> tuple[int, str]:
        self._spot_request = "/api/v3/" in url
        return super().handle(method, url, headers, body)

    def authenticate(self, request: FakeRequest) -> None:
        if request.header("X-MBX-APIKEY") != self.account.api_key:
            raise FakeReject(Reject.BAD_KEY)
        signed = request.raw_body if request.method == "POST" else request.raw_query
        payload, sep, signature = signed.rpartition("&signature=")
        expected = hmac.new(
            self.account.secret.encode(), payload.encode(), hashlib.sha256
        ).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            raise FakeReject(Reject.BAD_SIGNATURE)

    def error_status(self, kind: Reject) -> int:
        return self._errors()[kind][0]

    def error_body(self, kind: Reject, detail: str) -> Any:
        _, code, msg = self._errors()[kind]
        return {"code": code, "msg": msg}

    def _errors(self) -> dict[Reject, tuple[int, int, str]]:
        return _SPOT_ERRORS if self._spot_request else _ERRORS

    def _create_futures(self, account: FakeAccount, req: FakeRequest) -> Any:
        p = req.params
        order = self.create(
            symbol_id=p["symbol"],
            side=p["side"].lower(),
            type_=p["type"].lower(),
            amount=dec(p["quantity"]),
            price=dec(p["price"]) if "price" in p else None,
            client_id=p.get("newClientOrderId"),
            reduce_only=p.get("reduceOnly") == "true",
        )
        return _futures_order(account, order, ack=True)

    def _create_spot(self, account: FakeAccount, req: FakeRequest) -> Any:
        p = req.params
        order = self.create(
            symbol_id=p["symbol"],
            side=p["side"].lower(),
            type_=p["type"].lower(),
            amount=dec(p["quantity"]),
            price=dec(p["price"]) if "price" in p else None,
            client_id=p.get("newClientOrderId"),
            reduce_only=False,
        )
        return _spot_order(account, order)


# ---------------------------------------------------------------------- markets


def _filters(m: FakeMarket, notional_key: str, notional_type: str) -> list[dict[str, Any]]:
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": num(m.price_step),
            "maxPrice": "1000000",
            "tickSize": num(m.price_step),
        },
        {
            "filterType": "LOT_SIZE",
            "stepSize": num(m.amount_step),
            "minQty": num(m.min_amount),
            "maxQty": num(m.max_amount),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "stepSize": num(m.amount_step),
            "minQty": num(m.min_amount),
            "maxQty": num(m.max_amount),
        },
        {"filterType": notional_type, notional_key: num(m.min_cost)},
    ]


def _decimals(step: Any) -> int:
    return max(0, -dec(step).normalize().as_tuple().exponent)  # type: ignore[operator]


def _futures_info(account: FakeAccount, req: FakeRequest) -> Any:
    symbols = [
        {
            "symbol": m.symbol_id,
            "pair": m.symbol_id,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "baseAsset": m.base,
            "quoteAsset": m.quote,
            "marginAsset": m.quote,
            "pricePrecision": _decimals(m.price_step),
            "quantityPrecision": _decimals(m.amount_step),
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": _filters(m, "notional", "MIN_NOTIONAL"),
            "orderTypes": ["LIMIT", "MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK"],
        }
        for m in account.markets.values()
        if m.contract
    ]
    return {
        "timezone": "UTC",
        "serverTime": account.now_ms,
        "rateLimits": [],
        "assets": [],
        "symbols": symbols,
    }


def _spot_info(account: FakeAccount, req: FakeRequest) -> Any:
    symbols = [
        {
            "symbol": m.symbol_id,
            "status": "TRADING",
            "baseAsset": m.base,
            "baseAssetPrecision": 8,
            "quoteAsset": m.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": _filters(m, "minNotional", "NOTIONAL"),
            "permissions": [],
            "permissionSets": [["SPOT"]],
        }
        for m in account.markets.values()
        if not m.contract
    ]
    return {"timezone": "UTC", "serverTime": account.now_ms, "rateLimits": [], "symbols": symbols}


def _ticker(account: FakeAccount, req: FakeRequest) -> Any:
    m = account.markets[req.params["symbol"]]
    price = num(m.price)
    return {
        "symbol": m.symbol_id,
        "lastPrice": price,
        "bidPrice": price,
        "askPrice": price,
        "openPrice": price,
        "highPrice": price,
        "lowPrice": price,
        "volume": "1000",
        "quoteVolume": "1000000",
        "closeTime": account.now_ms,
        "openTime": account.now_ms - 86_400_000,
    }


_INTERVAL_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _klines(account: FakeAccount, req: FakeRequest) -> Any:
    """Candles closed before the wall clock (the server process trades on real time), zigzagging
    0.1 % around the market price: RSI stays near 50."""
    import time

    m = account.markets[req.params["symbol"]]
    interval = req.params["interval"]
    step = int(interval[:-1]) * _INTERVAL_MS[interval[-1]]
    limit = min(int(req.params.get("limit", 500)), 1500)
    last_open = (int(time.time() * 1000) // step - 1) * step
    rows = []
    for i in range(limit):
        opened = last_open - (limit - 1 - i) * step
        close = m.price * (1 + (Decimal("0.001") if i % 2 else Decimal("-0.001")))
        rows.append(
            [opened, num(m.price), num(max(m.price, close)), num(min(m.price, close)), num(close),
             "10", opened + step - 1, "100000", 10, "5", "50000", "0"]
        )  # fmt: skip
    return rows


# ---------------------------------------------------------------------- orders


def _find(account: FakeAccount, req: FakeRequest) -> FakeOrder:
    p = req.params
    order = (
        account.lookup_order_id(p["orderId"])
        if "orderId" in p
        else account.lookup_client_id(p.get("origClientOrderId", ""))
    )
    if order is None or order.symbol_id != p.get("symbol"):
        raise FakeReject(Reject.NOT_FOUND)
    return account.view(order)


def _futures_order(account: FakeAccount, o: FakeOrder, ack: bool = False) -> Any:
    status = "NEW" if ack and o.status == "closed" else _STATUS[o.status]
    filled = o.filled if status != "NEW" else 0
    return {
        "orderId": int(o.order_id),
        "symbol": o.symbol_id,
        "status": status,
        "clientOrderId": o.client_id or "",
        "price": num(o.price),
        "avgPrice": num(o.avg_price if filled else None),
        "origQty": num(o.amount),
        "executedQty": num(filled if filled else None),
        "cumQuote": num((o.avg_price or 0) * filled if filled else None),
        "timeInForce": "GTC" if o.type == "market" else "IOC",
        "type": o.type.upper(),
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side.upper(),
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type.upper(),
        "time": o.ts,
        "updateTime": o.ts,
    }


def _get_futures_order(account: FakeAccount, req: FakeRequest) -> Any:
    return _futures_order(account, _find(account, req))


def _trades(account: FakeAccount, req: FakeRequest) -> list[FakeOrder]:
    p = req.params
    order = account.lookup_order_id(p.get("orderId", ""))
    return [order] if order and order.filled else []


def _futures_trades(account: FakeAccount, req: FakeRequest) -> Any:
    return [
        {
            "symbol": o.symbol_id,
            "id": int(o.order_id) * 10,
            "orderId": int(o.order_id),
            "side": o.side.upper(),
            "price": num(o.avg_price),
            "qty": num(o.filled),
            "realizedPnl": "0",
            "quoteQty": num((o.avg_price or 0) * o.filled),
            "commission": num(o.fee),
            "commissionAsset": o.fee_asset,
            "time": o.ts,
            "positionSide": "BOTH",
            "buyer": o.side == "buy",
            "maker": False,
        }
        for o in _trades(account, req)
    ]


def _spot_order(account: FakeAccount, o: FakeOrder) -> Any:
    return {
        "symbol": o.symbol_id,
        "orderId": int(o.order_id),
        "clientOrderId": o.client_id or "",
        "price": num(o.price),
        "origQty": num(o.amount),
        "executedQty": num(o.filled),
        "cummulativeQuoteQty": num((o.avg_price or 0) * o.filled),
        "status": _STATUS[o.status],
        "timeInForce": "GTC",
        "type": o.type.upper(),
        "side": o.side.upper(),
        "time": o.ts,
        "updateTime": o.ts,
        "transactTime": o.ts,
        "workingTime": o.ts,
        "fills": [
            {
                "price": num(o.avg_price),
                "qty": num(o.filled),
                "commission": num(o.fee),
                "commissionAsset": o.fee_asset,
                "tradeId": int(o.order_id) * 10,
            }
        ]
        if o.filled
        else [],
    }


def _get_spot_order(account: FakeAccount, req: FakeRequest) -> Any:
    return _spot_order(account, _find(account, req))


def _spot_trades(account: FakeAccount, req: FakeRequest) -> Any:
    return [
        {
            "symbol": o.symbol_id,
            "id": int(o.order_id) * 10,
            "orderId": int(o.order_id),
            "price": num(o.avg_price),
            "qty": num(o.filled),
            "quoteQty": num((o.avg_price or 0) * o.filled),
            "commission": num(o.fee),
            "commissionAsset": o.fee_asset,
            "time": o.ts,
            "isBuyer": o.side == "buy",
            "isMaker": False,
            "isBestMatch": True,
        }
        for o in _trades(account, req)
    ]


# ---------------------------------------------------------------------- account


def _position_rows(account: FakeAccount, req: FakeRequest) -> list[dict[str, Any]]:
    wanted = req.params.get("symbol")
    rows = []
    for symbol_id, qty in account.positions.items():
        if qty == 0 or (wanted and wanted != symbol_id):
            continue
        m = account.markets[symbol_id]
        rows.append(
            {
                "symbol": symbol_id,
                "positionSide": "BOTH",
                "positionAmt": num(qty),
                "entryPrice": num(m.price),
                "breakEvenPrice": num(m.price),
                "markPrice": num(m.price),
                "unRealizedProfit": "0",
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": num(qty * m.price),
                "marginAsset": m.quote,
                "isolatedWallet": "0",
                "initialMargin": "0",
                "maintMargin": "0",
                "positionInitialMargin": "0",
                "openOrderInitialMargin": "0",
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": account.now_ms,
                "leverage": str(account.leverage.get(symbol_id, 1)),
                "marginType": "cross"
                if account.margin_mode.get(symbol_id, "cross") == "cross"
                else "isolated",
            }
        )
    return rows


def _position_risk(account: FakeAccount, req: FakeRequest) -> Any:
    return _position_rows(account, req)


def _futures_account(account: FakeAccount, req: FakeRequest) -> Any:
    assets = [
        {
            "asset": asset,
            "walletBalance": num(bal),
            "unrealizedProfit": "0",
            "marginBalance": num(bal),
            "maintMargin": "0",
            "initialMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "crossWalletBalance": num(bal),
            "crossUnPnl": "0",
            "availableBalance": num(bal),
            "maxWithdrawAmount": num(bal),
            "updateTime": account.now_ms,
        }
        for asset, bal in account.balances.items()
    ]
    total = sum((b for b in account.balances.values()), dec(0))
    return {
        "totalWalletBalance": num(total),
        "availableBalance": num(total),
        "totalUnrealizedProfit": "0",
        "assets": assets,
        "positions": _position_rows(account, req),
    }


def _futures_balance(account: FakeAccount, req: FakeRequest) -> Any:
    return [
        {
            "accountAlias": "fake",
            "asset": asset,
            "balance": num(bal),
            "crossWalletBalance": num(bal),
            "crossUnPnl": "0",
            "availableBalance": num(bal),
            "maxWithdrawAmount": num(bal),
            "marginAvailable": True,
            "updateTime": account.now_ms,
        }
        for asset, bal in account.balances.items()
    ]


def _leverage_brackets(account: FakeAccount, req: FakeRequest) -> Any:
    bracket = {
        "bracket": 1,
        "initialLeverage": 125,
        "notionalCap": 10_000_000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.004,
        "cum": 0,
    }
    return [
        {"symbol": m.symbol_id, "brackets": [bracket]}
        for m in account.markets.values()
        if m.contract
    ]


def _set_leverage(account: FakeAccount, req: FakeRequest) -> Any:
    p = req.params
    account.leverage[p["symbol"]] = int(p["leverage"])
    return {"leverage": int(p["leverage"]), "maxNotionalValue": "1000000", "symbol": p["symbol"]}


def _set_margin_type(account: FakeAccount, req: FakeRequest) -> Any:
    p = req.params
    mode = "isolated" if p["marginType"] == "ISOLATED" else "cross"
    if account.margin_mode.get(p["symbol"], "cross") == mode:
        raise FakeReject(Reject.NO_CHANGE)
    account.margin_mode[p["symbol"]] = mode
    return {"code": 200, "msg": "success"}


def _spot_account(account: FakeAccount, req: FakeRequest) -> Any:
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "updateTime": account.now_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": a, "free": num(b), "locked": "0"} for a, b in account.balances.items()
        ],
        "permissions": ["SPOT"],
    }
