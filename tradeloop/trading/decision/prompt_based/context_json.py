"""The user message: one cycle's ``ComposeContext`` as one compact JSON document.

Numbers are rounded to ``SIGNIFICANT_DIGITS`` significant digits (every digit costs tokens and
prices or indicators need no more), except position quantities, which stay exact so that a close
can name the whole position. Non-finite numbers become null. Text that came from outside (symbol
names, rationales of earlier cycles, exchange messages) only ever appears as a JSON string value,
escaped and length-capped, so it cannot change the document's structure.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from tradeloop.trading.constants import QUANTITY_DUST
from tradeloop.trading.models import (
    ComposeContext,
    DecisionSummary,
    FeatureVector,
    PortfolioView,
    PositionSnapshot,
    TradeDigest,
    TradeDigestEntry,
)
from tradeloop.trading.utils import parse_interval_seconds

SIGNIFICANT_DIGITS = 6
RECENT_DECISIONS = 5
MAX_SERIES_POINTS = 20
MAX_TEXT_CHARS = 300
MAX_ACTIONS = 10
_MS_PER_HOUR = 3_600_000
_UNITS = (("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60))
CHANGE_LONG = 24
"""Candles behind ``change_pct_24`` (``features.indicators.CHANGE_LONG``; kept here so rendering a
prompt does not import the indicator stack)."""


def window_name(interval: str, candles: int) -> str:
    """``candles`` candles of ``interval`` as a duration: 24 x 1h = ``1d``, 24 x 4h = ``4d``."""
    seconds = parse_interval_seconds(interval) * candles
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def change_keys(interval: str) -> dict[str, str]:
    """The context's names for the change features on ``interval`` candles: they say the span
    (``change_pct_1h``, ``change_pct_1d`` on 1h candles; ``change_pct_4h``, ``change_pct_4d`` on 4h)."""
    return {
        "change_pct": f"change_pct_{window_name(interval, 1)}",
        "change_pct_24": f"change_pct_{window_name(interval, CHANGE_LONG)}",
    }


def render_context(context: ComposeContext) -> str:
    """Each position shows its ``entry``: what the decision that opened it said, so exits can be
    judged against the reason for the entry."""
    document = {
        "time": _time(context.ts),
        "market": _market(context.features),
        "portfolio": _portfolio(context.portfolio, context.ts),
        "performance": _performance(context.digest),
        "recent_decisions": [_decision(d) for d in context.recent_decisions[-RECENT_DECISIONS:]],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _time(ts: int) -> dict[str, Any]:
    return {"iso": _iso(ts), "ms": ts}


def _iso(ts: int) -> str:
    return (
        datetime.fromtimestamp(ts / 1000, tz=UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _market(features: list[FeatureVector]) -> dict[str, dict[str, Any]]:
    market: dict[str, dict[str, Any]] = {}
    for fv in sorted(features, key=lambda f: f.ts):  # a later vector of the same group wins
        group = market.setdefault(fv.instrument.symbol, {})
        group[_group_key(fv)] = _feature_values(fv)
    return {symbol: market[symbol] for symbol in sorted(market)}


def _group_key(fv: FeatureVector) -> str:
    meta = fv.meta or {}
    if meta.get("group_by_key"):
        return str(meta["group_by_key"])
    return f"candles_{meta['interval']}" if meta.get("interval") else "features"


def _feature_values(fv: FeatureVector) -> dict[str, Any]:
    interval = (fv.meta or {}).get("interval")
    names = change_keys(str(interval)) if interval else {}
    values: dict[str, Any] = {names.get(key, key): _num(value) for key, value in fv.values.items()}
    recent = (fv.meta or {}).get("recent")
    if recent is not None:
        values["recent"] = _data(recent)
    return values


def _portfolio(view: PortfolioView, now: int) -> dict[str, Any]:
    positions = [
        _position(symbol, p, now)
        for symbol, p in sorted(view.positions.items())
        if abs(p.quantity) >= QUANTITY_DUST
    ]
    constraints = view.constraints.model_dump(exclude_none=True) if view.constraints else {}
    return _compact(
        {
            "cash": _num(view.account_balance),
            "equity": _num(view.total_value),
            "buying_power": _num(view.buying_power),
            "unrealized_pnl": _num(view.total_unrealized_pnl),
            "constraints": _data(constraints) or None,
        }
    ) | {"positions": positions}


def _position(symbol: str, p: PositionSnapshot, now: int) -> dict[str, Any]:
    held_ms = now - p.entry_ts if p.entry_ts is not None else None
    side = "long" if p.quantity > 0 else "short"
    entry = None
    if p.entry is not None:
        # the cycle is named by its time: a compose id differs between runs of one backtest,
        # which would defeat the reply cache
        entry = {"rationale": _text(p.entry.rationale), "decided": _iso(p.entry.decided_ts)}
    return _compact(
        {
            "symbol": _text(symbol),
            "side": side,
            "quantity": _exact(abs(p.quantity)),
            "avg_price": _num(p.avg_price),
            "mark_price": _num(p.mark_price),
            "leverage": _num(p.leverage),
            "notional": _num(p.notional),
            "unrealized_pnl": _num(p.unrealized_pnl),
            "holding_hours": _num(round(held_ms / _MS_PER_HOUR, 2))
            if held_ms is not None
            else None,
            "opened": _iso(p.entry_ts) if p.entry_ts is not None else None,
            "stop_loss": _num(p.stop_loss),
            "take_profit": _num(p.take_profit),
            "entry": entry,
        }
    )


def _performance(digest: TradeDigest) -> dict[str, Any]:
    return _compact(
        {
            "sharpe": _num(digest.sharpe_ratio),
            "max_drawdown_pct": _num(digest.max_drawdown_pct),
            "total_return_pct": _num(digest.total_return_pct),
            "realized_pnl": _num(digest.realized_pnl),
            "fees_paid": _num(digest.fees_paid),
        }
    ) | {"by_symbol": {_text(s): _symbol_stats(e) for s, e in sorted(digest.by_instrument.items())}}


def _symbol_stats(entry: TradeDigestEntry) -> dict[str, Any]:
    win_rate = entry.win_rate * 100 if entry.win_rate is not None else None
    holding = entry.avg_holding_ms / _MS_PER_HOUR if entry.avg_holding_ms is not None else None
    return _compact(
        {
            "trades": entry.trade_count,
            "win_rate_pct": _num(win_rate),
            "realized_pnl": _num(entry.realized_pnl),
            "avg_holding_hours": _num(holding),
        }
    )


def _decision(decision: DecisionSummary) -> dict[str, Any]:
    return _compact(
        {
            "time": _iso(decision.ts),
            "actions": [_text(a) for a in decision.actions[:MAX_ACTIONS]],
            "rationale": _text(decision.rationale) if decision.rationale else None,
            "outcome": _text(decision.outcome) if decision.outcome else None,
        }
    )


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _num(value: float | int | None) -> float | int | None:
    """Round to SIGNIFICANT_DIGITS; whole numbers lose their ``.0``; NaN and inf become None."""
    if value is None or not math.isfinite(value):
        return None
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _exact(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT_CHARS else value[: MAX_TEXT_CHARS - 3] + "..."


def _data(value: Any) -> Any:
    """Any JSON-like value from a feature's meta, with numbers rounded and lists capped."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(key)): _data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_data(item) for item in list(value)[-MAX_SERIES_POINTS:]]
    return _text(str(value))
