"""Bybit v5 (unified account; linear perpetuals and spot) as its REST API answers."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from tests.execution.fake_exchange.dialect import Dialect, FakeRequest, Route, dec, num
from tests.execution.fake_exchange.engine import FakeAccount, FakeOrder, FakeReject, Reject

_ERRORS: dict[Reject, tuple[int, int, str]] = {
    Reject.INSUFFICIENT_FUNDS: (200, 110007, "ab not enough for new order"),
    Reject.MIN_NOTIONAL: (200, 110094, "Order does not meet minimum order value 5USDT"),
    Reject.MIN_AMOUNT: (200, 10001, "The number of contracts exceeds minimum limit allowed"),
    Reject.BAD_PRECISION: (200, 10001, "Qty invalid"),
    Reject.REDUCE_ONLY: (200, 110017, "Reduce-only rule not satisfied"),
    Reject.DUPLICATE_CLIENT_ID: (200, 110072, "OrderLinkedID is duplicate"),
    Reject.NOT_FOUND: (200, 110001, "Order does not exist"),
    Reject.BAD_KEY: (401, 10003, "API key is invalid."),
    Reject.BAD_SIGNATURE: (
        401,
        10004,
        "Error sign, please check your signature generation algorithm.",
    ),
    Reject.RATE_LIMITED: (200, 10006, "Too many visits!"),
    Reject.BAD_SYMBOL: (200, 10001, "params error: symbol invalid"),
    Reject.INVALID_ORDER: (200, 10001, "params error"),
    Reject.NO_CHANGE: (200, 110043, "Set leverage not modified"),
}
_STATUS = {"open": "New", "closed": "Filled", "canceled": "Cancelled"}


class BybitDialect(Dialect):
    def __init__(self, account: FakeAccount) -> None:
        super().__init__(account)
        self.routes = {
            ("GET", "/v5/market/instruments-info"): Route(_instruments, private=False),
            ("GET", "/v5/market/tickers"): Route(_tickers, private=False),
            ("GET", "/v5/asset/coin/query-info"): Route(_coins),
            ("GET", "/v5/user/query-api"): Route(_query_api),
            ("GET", "/v5/account/info"): Route(_account_info),
            ("POST", "/v5/order/create"): Route(self._create),
            ("GET", "/v5/order/realtime"): Route(_realtime),
            ("GET", "/v5/order/history"): Route(_history),
            ("GET", "/v5/position/list"): Route(_positions),
            ("GET", "/v5/account/wallet-balance"): Route(_wallet),
            ("POST", "/v5/position/set-leverage"): Route(_set_leverage),
            ("GET", "/v5/execution/list"): Route(_executions),
        }

    def authenticate(self, request: FakeRequest) -> None:
        key = request.header("X-BAPI-API-KEY")
        if key != self.account.api_key:
            raise FakeReject(Reject.BAD_KEY)
        timestamp = request.header("X-BAPI-TIMESTAMP") or ""
        window = request.header("X-BAPI-RECV-WINDOW") or ""
        payload = request.raw_body if request.method == "POST" else request.raw_query
        auth = timestamp + key + window + payload
        expected = hmac.new(self.account.secret.encode(), auth.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.header("X-BAPI-SIGN") or "", expected):
            raise FakeReject(Reject.BAD_SIGNATURE)

    def wrap(self, payload: Any) -> Any:
        return {
            "retCode": 0,
            "retMsg": "OK",
            "result": payload,
            "retExtInfo": {},
            "time": self.account.now_ms,
        }

    def error_status(self, kind: Reject) -> int:
        return _ERRORS[kind][0]

    def error_body(self, kind: Reject, detail: str) -> Any:
        _, code, msg = _ERRORS[kind]
        return {
            "retCode": code,
            "retMsg": msg,
            "result": {},
            "retExtInfo": {},
            "time": self.account.now_ms,
        }

    def _create(self, account: FakeAccount, req: FakeRequest) -> Any:
        p = req.params
        amount = dec(p["qty"])
        if p.get("marketUnit") == "quoteCoin":
            amount = amount / account.markets[p["symbol"]].price
        order = self.create(
            symbol_id=p["symbol"],
            side=p["side"].lower(),
            type_=p["orderType"].lower(),
            amount=amount,
            price=dec(p["price"]) if p.get("price") else None,
            client_id=p.get("orderLinkId"),
            reduce_only=bool(p.get("reduceOnly")),
        )
        return {"orderId": order.order_id, "orderLinkId": order.client_id or ""}


def _instruments(account: FakeAccount, req: FakeRequest) -> Any:
    category = req.params.get("category")
    rows = []
    for m in account.markets.values():
        if (category == "linear") != m.contract or category not in ("linear", "spot"):
            continue
        if m.contract:
            rows.append(
                {
                    "symbol": m.symbol_id,
                    "contractType": "LinearPerpetual",
                    "status": "Trading",
                    "baseCoin": m.base,
                    "quoteCoin": m.quote,
                    "settleCoin": m.quote,
                    "launchTime": "1585526400000",
                    "deliveryTime": "0",
                    "deliveryFeeRate": "",
                    "priceScale": "2",
                    "unifiedMarginTrade": True,
                    "fundingInterval": 480,
                    "leverageFilter": {
                        "minLeverage": "1",
                        "maxLeverage": "100.00",
                        "leverageStep": "0.01",
                    },
                    "priceFilter": {
                        "minPrice": num(m.price_step),
                        "maxPrice": "1999999",
                        "tickSize": num(m.price_step),
                    },
                    "lotSizeFilter": {
                        "maxOrderQty": num(m.max_amount),
                        "minOrderQty": num(m.min_amount),
                        "qtyStep": num(m.amount_step),
                        "postOnlyMaxOrderQty": num(m.max_amount),
                        "maxMktOrderQty": num(m.max_amount),
                        "minNotionalValue": num(m.min_cost),
                    },
                }
            )
        else:
            rows.append(
                {
                    "symbol": m.symbol_id,
                    "baseCoin": m.base,
                    "quoteCoin": m.quote,
                    "innovation": "0",
                    "status": "Trading",
                    "marginTrading": "none",
                    "lotSizeFilter": {
                        "basePrecision": num(m.amount_step),
                        "quotePrecision": "0.0000001",
                        "minOrderQty": num(m.min_amount),
                        "maxOrderQty": num(m.max_amount),
                        "minOrderAmt": num(m.min_cost),
                        "maxOrderAmt": "2000000",
                    },
                    "priceFilter": {"tickSize": num(m.price_step)},
                }
            )
    return {"category": category, "list": rows, "nextPageCursor": ""}


def _tickers(account: FakeAccount, req: FakeRequest) -> Any:
    m = account.markets[req.params["symbol"]]
    px = num(m.price)
    row = {
        "symbol": m.symbol_id,
        "lastPrice": px,
        "bid1Price": px,
        "ask1Price": px,
        "prevPrice24h": px,
        "highPrice24h": px,
        "lowPrice24h": px,
        "volume24h": "1000",
        "turnover24h": "1000000",
        "markPrice": px,
        "indexPrice": px,
    }
    return {"category": req.params.get("category"), "list": [row]}


def _coins(account: FakeAccount, req: FakeRequest) -> Any:
    return {"rows": []}


def _query_api(account: FakeAccount, req: FakeRequest) -> Any:
    return {
        "id": "1",
        "note": "fake",
        "apiKey": "",
        "readOnly": 0,
        "permissions": {},
        "unified": 1,
        "uta": 1,
        "isMaster": True,
    }


def _account_info(account: FakeAccount, req: FakeRequest) -> Any:
    return {
        "unifiedMarginStatus": 5,
        "marginMode": "REGULAR_MARGIN",
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
        "updatedTime": str(account.now_ms),
    }


def _order_row(account: FakeAccount, o: FakeOrder, category: str) -> dict[str, Any]:
    return {
        "orderId": o.order_id,
        "orderLinkId": o.client_id or "",
        "symbol": o.symbol_id,
        "price": num(o.price) if o.price else "0",
        "qty": num(o.amount),
        "side": o.side.capitalize(),
        "positionIdx": 0,
        "orderStatus": _STATUS[o.status],
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": num(o.avg_price) if o.filled else "",
        "leavesQty": num(o.amount - o.filled),
        "leavesValue": "0",
        "cumExecQty": num(o.filled),
        "cumExecValue": num((o.avg_price or 0) * o.filled),
        "cumExecFee": num(o.fee),
        "timeInForce": "IOC",
        "orderType": o.type.capitalize(),
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "createdTime": str(o.ts),
        "marketUnit": "baseCoin" if category == "spot" and o.type == "market" else "",
        "cumFeeDetail": {o.fee_asset: num(o.fee)} if o.fee else {},
        "updatedTime": str(o.ts),
        "category": category,
    }


def _matching(account: FakeAccount, req: FakeRequest, open_only: bool) -> list[FakeOrder]:
    p = req.params
    if p.get("orderLinkId"):
        found = account.lookup_client_id(p["orderLinkId"])
        orders = [found] if found else []
    elif p.get("orderId"):
        found = account.lookup_order_id(p["orderId"])
        orders = [found] if found else []
    else:
        orders = list(account.orders)
    views = [account.view(o) for o in orders if o.symbol_id == p.get("symbol", o.symbol_id)]
    return [o for o in views if (o.status == "open") == open_only]


def _realtime(account: FakeAccount, req: FakeRequest) -> Any:
    """Open orders; asked by id, also the recent closed ones (Bybit's 500-order window)."""
    category = req.params.get("category", "linear")
    by_id = bool(req.params.get("orderId") or req.params.get("orderLinkId"))
    orders = _matching(account, req, open_only=True)
    if by_id:
        orders += _matching(account, req, open_only=False)
    rows = [_order_row(account, o, category) for o in orders]
    return {"category": category, "list": rows, "nextPageCursor": ""}


def _history(account: FakeAccount, req: FakeRequest) -> Any:
    category = req.params.get("category", "linear")
    rows = [_order_row(account, o, category) for o in _matching(account, req, open_only=False)]
    return {"category": category, "list": rows, "nextPageCursor": ""}


def _executions(account: FakeAccount, req: FakeRequest) -> Any:
    order = account.lookup_order_id(req.params.get("orderId", ""))
    rows = []
    if order and order.filled:
        rows.append(
            {
                "symbol": order.symbol_id,
                "orderId": order.order_id,
                "orderLinkId": order.client_id,
                "side": order.side.capitalize(),
                "execPrice": num(order.avg_price),
                "execQty": num(order.filled),
                "execFee": num(order.fee),
                "feeCurrency": order.fee_asset,
                "execId": f"e{order.order_id}",
                "execTime": str(order.ts),
                "isMaker": False,
            }
        )
    return {"category": req.params.get("category"), "list": rows, "nextPageCursor": ""}


def _positions(account: FakeAccount, req: FakeRequest) -> Any:
    wanted = req.params.get("symbol")
    rows = []
    for symbol_id, qty in account.positions.items():
        if qty == 0 or (wanted and wanted != symbol_id):
            continue
        m = account.markets[symbol_id]
        rows.append(
            {
                "positionIdx": 0,
                "riskId": 1,
                "riskLimitValue": "2000000",
                "symbol": symbol_id,
                "side": "Buy" if qty > 0 else "Sell",
                "size": num(abs(qty)),
                "avgPrice": num(m.price),
                "positionValue": num(abs(qty) * m.price),
                "tradeMode": 0,
                "autoAddMargin": 0,
                "positionStatus": "Normal",
                "leverage": str(account.leverage.get(symbol_id, 1)),
                "markPrice": num(m.price),
                "liqPrice": "",
                "bustPrice": "",
                "positionIM": "0",
                "positionMM": "0",
                "takeProfit": "",
                "stopLoss": "",
                "trailingStop": "0",
                "unrealisedPnl": "0",
                "cumRealisedPnl": "0",
                "createdTime": str(account.now_ms),
                "updatedTime": str(account.now_ms),
                "tpslMode": "Full",
                "isReduceOnly": False,
            }
        )
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def _wallet(account: FakeAccount, req: FakeRequest) -> Any:
    coins = [
        {
            "coin": c,
            "equity": num(b),
            "walletBalance": num(b),
            "free": "",
            "locked": "0",
            "availableToWithdraw": num(b),
            "usdValue": num(b),
            "unrealisedPnl": "0",
            "cumRealisedPnl": "0",
            "totalOrderIM": "0",
            "totalPositionIM": "0",
            "borrowAmount": "0",
            "spotBorrow": "0",
        }
        for c, b in account.balances.items()
    ]
    total = num(sum(account.balances.values(), dec(0)))
    return {
        "list": [
            {
                "accountType": "UNIFIED",
                "totalEquity": total,
                "totalWalletBalance": total,
                "totalAvailableBalance": total,
                "totalMarginBalance": total,
                "totalInitialMargin": "0",
                "totalMaintenanceMargin": "0",
                "coin": coins,
            }
        ]
    }


def _set_leverage(account: FakeAccount, req: FakeRequest) -> Any:
    p = req.params
    lever = int(dec(p["buyLeverage"]))
    if account.leverage.get(p["symbol"]) == lever:
        raise FakeReject(Reject.NO_CHANGE)
    account.leverage[p["symbol"]] = lever
    return {}
