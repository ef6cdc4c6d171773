"""OKX v5 (swap with contract sizes, and spot) as its REST API answers, demo-trading header included."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from tests.execution.fake_exchange.dialect import Dialect, FakeRequest, Route, dec, num
from tests.execution.fake_exchange.engine import FakeAccount, FakeOrder, FakeReject, Reject

_ERRORS: dict[Reject, tuple[int, str, str]] = {
    Reject.INSUFFICIENT_FUNDS: (200, "51008", "Order failed. Insufficient USDT margin in account"),
    Reject.MIN_NOTIONAL: (
        200,
        "51020",
        "Your order should meet or exceed the minimum order amount.",
    ),
    Reject.MIN_AMOUNT: (200, "51020", "Your order should meet or exceed the minimum order amount."),
    Reject.BAD_PRECISION: (200, "51121", "Order quantity must be a multiple of the lot size."),
    Reject.REDUCE_ONLY: (
        200,
        "51169",
        "Order failed because you don't have any positions to reduce.",
    ),
    Reject.DUPLICATE_CLIENT_ID: (200, "51016", "Duplicated clOrdId"),
    Reject.NOT_FOUND: (200, "51603", "Order does not exist"),
    Reject.BAD_KEY: (401, "50111", "Invalid OK-ACCESS-KEY"),
    Reject.BAD_SIGNATURE: (401, "50113", "Invalid Sign"),
    Reject.RATE_LIMITED: (429, "50011", "Too Many Requests"),
    Reject.BAD_SYMBOL: (200, "51001", "Instrument ID does not exist"),
    Reject.INVALID_ORDER: (200, "51000", "Parameter error"),
    Reject.NO_CHANGE: (200, "59000", "Your settings failed as you have positions or open orders"),
}
_ORDER_ERRORS = {
    Reject.INSUFFICIENT_FUNDS,
    Reject.MIN_NOTIONAL,
    Reject.MIN_AMOUNT,
    Reject.BAD_PRECISION,
    Reject.REDUCE_ONLY,
    Reject.DUPLICATE_CLIENT_ID,
}
_STATE = {"open": "live", "closed": "filled", "canceled": "canceled"}


class OkxDialect(Dialect):
    def __init__(self, account: FakeAccount) -> None:
        super().__init__(account)
        v5 = "/api/v5"
        self.routes = {
            ("GET", f"{v5}/public/instruments"): Route(_instruments, private=False),
            ("GET", f"{v5}/market/ticker"): Route(_ticker, private=False),
            ("POST", f"{v5}/trade/order"): Route(self._create),
            ("POST", f"{v5}/trade/batch-orders"): Route(self._create_batch),
            ("GET", f"{v5}/trade/order"): Route(_get_order),
            ("GET", f"{v5}/account/positions"): Route(_positions),
            ("GET", f"{v5}/account/balance"): Route(_balance),
            ("POST", f"{v5}/account/set-leverage"): Route(_set_leverage),
        }
        self.simulated_headers: list[str | None] = []

    def authenticate(self, request: FakeRequest) -> None:
        self.simulated_headers.append(request.header("x-simulated-trading"))
        if request.header("OK-ACCESS-KEY") != self.account.api_key:
            raise FakeReject(Reject.BAD_KEY)
        if request.header("OK-ACCESS-PASSPHRASE") != self.account.passphrase:
            raise FakeReject(Reject.BAD_KEY)
        timestamp = request.header("OK-ACCESS-TIMESTAMP") or ""
        path = request.path + (f"?{request.raw_query}" if request.raw_query else "")
        auth = timestamp + request.method + path + request.raw_body
        digest = hmac.new(self.account.secret.encode(), auth.encode(), hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        if not hmac.compare_digest(request.header("OK-ACCESS-SIGN") or "", expected):
            raise FakeReject(Reject.BAD_SIGNATURE)

    def wrap(self, payload: Any) -> Any:
        return {"code": "0", "msg": "", "data": payload}

    def error_status(self, kind: Reject) -> int:
        return _ERRORS[kind][0]

    def error_body(self, kind: Reject, detail: str) -> Any:
        _, code, msg = _ERRORS[kind]
        if kind in _ORDER_ERRORS:
            return {
                "code": "1",
                "msg": "All operations failed",
                "data": [{"clOrdId": "", "ordId": "", "sCode": code, "sMsg": msg, "tag": ""}],
            }
        return {"code": code, "msg": msg, "data": []}

    def _create_batch(self, account: FakeAccount, req: FakeRequest) -> Any:
        assert isinstance(req.json_body, list) and len(req.json_body) == 1, "one order per batch"
        return self._place(req.json_body[0])

    def _create(self, account: FakeAccount, req: FakeRequest) -> Any:
        return self._place(req.params)

    def _place(self, p: dict[str, Any]) -> Any:
        order = self.create(
            symbol_id=p["instId"],
            side=p["side"],
            type_="market" if p["ordType"] == "market" else "limit",
            amount=dec(p["sz"]),
            price=dec(p["px"]) if p.get("px") else None,
            client_id=p.get("clOrdId"),
            reduce_only=str(p.get("reduceOnly")).lower() == "true",
        )
        order.fee_asset = order.fee_asset or "USDT"
        return [
            {
                "clOrdId": order.client_id or "",
                "ordId": order.order_id,
                "tag": "",
                "sCode": "0",
                "sMsg": "Order placed",
                "ts": str(order.ts),
            }
        ]


def _instruments(account: FakeAccount, req: FakeRequest) -> Any:
    kind = req.params.get("instType")
    rows = []
    for m in account.markets.values():
        if (kind == "SWAP") != m.contract or kind not in ("SWAP", "SPOT"):
            continue
        row = {
            "instType": kind,
            "instId": m.symbol_id,
            "tickSz": num(m.price_step),
            "lotSz": num(m.amount_step),
            "minSz": num(m.min_amount),
            "maxMktSz": num(m.max_amount),
            "maxLmtSz": num(m.max_amount),
            "state": "live",
            "listTime": "1606468572000",
            "expTime": "",
            "lever": "100" if m.contract else "10",
            "ruleType": "normal",
        }
        if m.contract:
            row |= {
                "uly": f"{m.base}-{m.quote}",
                "instFamily": f"{m.base}-{m.quote}",
                "baseCcy": "",
                "quoteCcy": "",
                "settleCcy": m.quote,
                "ctValCcy": m.base,
                "ctVal": num(m.contract_size),
                "ctMult": "1",
                "ctType": "linear",
            }
        else:
            row |= {
                "baseCcy": m.base,
                "quoteCcy": m.quote,
                "uly": "",
                "instFamily": "",
                "settleCcy": "",
                "ctValCcy": "",
                "ctVal": "",
                "ctMult": "",
                "ctType": "",
            }
        rows.append(row)
    return rows


def _ticker(account: FakeAccount, req: FakeRequest) -> Any:
    m = account.markets[req.params["instId"]]
    px = num(m.price)
    return [
        {
            "instType": "SWAP" if m.contract else "SPOT",
            "instId": m.symbol_id,
            "last": px,
            "lastSz": "1",
            "askPx": px,
            "askSz": "1",
            "bidPx": px,
            "bidSz": "1",
            "open24h": px,
            "high24h": px,
            "low24h": px,
            "volCcy24h": "1000",
            "vol24h": "1000",
            "ts": str(account.now_ms),
            "sodUtc0": px,
            "sodUtc8": px,
        }
    ]


def _order_row(account: FakeAccount, o: FakeOrder) -> dict[str, Any]:
    m = account.markets[o.symbol_id]
    return {
        "instType": "SWAP" if m.contract else "SPOT",
        "instId": o.symbol_id,
        "ccy": "",
        "ordId": o.order_id,
        "clOrdId": o.client_id or "",
        "tag": "",
        "px": num(o.price) if o.price else "",
        "sz": num(o.amount),
        "pnl": "0",
        "ordType": o.type,
        "side": o.side,
        "posSide": "net",
        "tdMode": account.margin_mode.get(o.symbol_id, "cross") if m.contract else "cash",
        "accFillSz": num(o.filled),
        "fillPx": num(o.avg_price) if o.filled else "",
        "fillSz": num(o.filled),
        "fillTime": str(o.ts),
        "state": _STATE[o.status],
        "avgPx": num(o.avg_price) if o.filled else "",
        "lever": str(account.leverage.get(o.symbol_id, 1)),
        "feeCcy": o.fee_asset or m.quote,
        "fee": num(-o.fee) if o.fee else "0",
        "rebateCcy": m.quote,
        "rebate": "0",
        "category": "normal",
        "reduceOnly": "true" if o.reduce_only else "false",
        "uTime": str(o.ts),
        "cTime": str(o.ts),
    }


def _get_order(account: FakeAccount, req: FakeRequest) -> Any:
    p = req.params
    if p.get("ordId"):
        order = account.lookup_order_id(p["ordId"])
    else:
        order = account.lookup_client_id(p.get("clOrdId", ""))
    if order is None or order.symbol_id != p.get("instId"):
        raise FakeReject(Reject.NOT_FOUND)
    return [_order_row(account, account.view(order))]


def _positions(account: FakeAccount, req: FakeRequest) -> Any:
    wanted = set(filter(None, req.params.get("instId", "").split(",")))
    rows = []
    for symbol_id, qty in account.positions.items():
        if qty == 0 or (wanted and symbol_id not in wanted):
            continue
        m = account.markets[symbol_id]
        rows.append(
            {
                "instType": "SWAP",
                "instId": symbol_id,
                "mgnMode": account.margin_mode.get(symbol_id, "cross"),
                "posId": f"p{symbol_id}",
                "posSide": "net",
                "pos": num(qty),
                "posCcy": "",
                "ccy": m.quote,
                "availPos": "",
                "avgPx": num(m.price),
                "markPx": num(m.price),
                "upl": "0",
                "uplRatio": "0",
                "lever": str(account.leverage.get(symbol_id, 1)),
                "liqPx": "",
                "imr": "",
                "margin": "",
                "mgnRatio": "",
                "mmr": "0",
                "notionalUsd": num(abs(qty) * m.contract_size * m.price),
                "last": num(m.price),
                "cTime": str(account.now_ms),
                "uTime": str(account.now_ms),
            }
        )
    return rows


def _balance(account: FakeAccount, req: FakeRequest) -> Any:
    details = [
        {
            "ccy": c,
            "eq": num(b),
            "cashBal": num(b),
            "availBal": num(b),
            "availEq": num(b),
            "frozenBal": "0",
            "ordFrozen": "0",
            "uTime": str(account.now_ms),
        }
        for c, b in account.balances.items()
    ]
    return [
        {
            "totalEq": num(sum(account.balances.values(), dec(0))),
            "details": details,
            "uTime": str(account.now_ms),
        }
    ]


def _set_leverage(account: FakeAccount, req: FakeRequest) -> Any:
    p = req.params
    account.leverage[p["instId"]] = int(p["lever"])
    account.margin_mode[p["instId"]] = p["mgnMode"]
    return [{"lever": p["lever"], "mgnMode": p["mgnMode"], "instId": p["instId"], "posSide": ""}]
