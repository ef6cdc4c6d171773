"""The default composer when no LLM is configured: RSI thresholds with an optional EMA trend filter."""

from __future__ import annotations

import numpy as np

from tradeloop.trading.decision.interfaces import BaseComposer
from tradeloop.trading.decision.vectorized import CycleFeatures, SideSignals, defined
from tradeloop.trading.features.keys import CANDLE_GROUP_PREFIX
from tradeloop.trading.models import (
    ComposeContext,
    ComposeResult,
    FeatureVector,
    MarketType,
    PositionSnapshot,
    TradeAction,
    TradeInstruction,
    TradeSide,
    UserRequest,
    constructor,
)
from tradeloop.trading.portfolio.views import SNAPSHOT_GROUP

_result = constructor(ComposeResult)
_ACTION_TEXT = {action: action.value for action in TradeAction}


class RuleBasedComposer(BaseComposer):
    def __init__(self, request: UserRequest) -> None:
        self.request = request
        self.rules = request.trading_config.rules
        self.interval = self.rules.interval or request.trading_config.feature_intervals[0]
        self.allow_short = (
            self.rules.allow_short and request.exchange_config.market_type is MarketType.PERPETUAL
        )
        self._candle_group = f"{CANDLE_GROUP_PREFIX}{self.interval}"

    async def compose(self, context: ComposeContext) -> ComposeResult:
        signals, prices = _signals_and_prices(context.features, self._candle_group)
        positions = context.portfolio.positions
        instructions: list[TradeInstruction] = []
        notes: dict[str, str] = {}
        for symbol in self.request.trading_config.symbols:
            values, snapshot = signals.get(symbol), prices.get(symbol)
            rsi = values.get("rsi") if values is not None else None
            if rsi is None or values is None or snapshot is None:
                notes[symbol] = "no signal (not enough history)"
                continue
            action = self._decide(values, rsi, positions.get(symbol))
            notes[symbol] = f"rsi={rsi:.1f} -> {_ACTION_TEXT[action]}"
            if action is not TradeAction.HOLD:
                inst = self._instruction(
                    context, symbol, action, snapshot["price"], len(instructions)
                )
                if inst is not None:
                    instructions.append(inst)
        rationale = "; ".join([f"{s}: {n}" for s, n in notes.items()])
        return _result(instructions=instructions, rationale=rationale, raw={"signals": notes})

    def _decide(
        self, values: dict[str, float], rsi: float, position: PositionSnapshot | None
    ) -> TradeAction:
        rules = self.rules
        qty = position.quantity if position is not None else 0.0
        if qty > 0:
            return TradeAction.CLOSE_LONG if rsi > rules.rsi_sell_above else TradeAction.HOLD
        if qty < 0:
            return TradeAction.CLOSE_SHORT if rsi < rules.rsi_buy_below else TradeAction.HOLD
        up = not rules.trend_filter or values.get("ema_20", 0.0) > values.get("ema_50", 0.0)
        down = not rules.trend_filter or not values.get("ema_20", 0.0) > values.get("ema_50", 0.0)
        if rsi < rules.rsi_buy_below and up:
            return TradeAction.OPEN_LONG
        if rsi > rules.rsi_sell_above and down and self.allow_short:
            return TradeAction.OPEN_SHORT
        return TradeAction.HOLD

    def _instruction(
        self, context: ComposeContext, symbol: str, action: TradeAction, price: float, index: int
    ) -> TradeInstruction | None:
        position = context.portfolio.positions.get(symbol)
        if action in (TradeAction.CLOSE_LONG, TradeAction.CLOSE_SHORT):
            quantity = abs(position.quantity) if position else 0.0
        else:
            equity = context.portfolio.total_value or context.portfolio.account_balance
            leverage = self.request.trading_config.max_leverage
            quantity = equity * self.rules.position_size_pct * leverage / price
        if quantity <= 0 or price <= 0:
            return None
        buy = action in (TradeAction.OPEN_LONG, TradeAction.CLOSE_SHORT)
        opens = action in (TradeAction.OPEN_LONG, TradeAction.OPEN_SHORT)
        stop, target = self._levels(price, buy) if opens else (None, None)
        return TradeInstruction(
            instruction_id=f"{context.compose_id}:{index}",
            compose_id=context.compose_id,
            instrument=next(
                fv.instrument for fv in context.features if fv.instrument.symbol == symbol
            ),
            side=TradeSide.BUY if buy else TradeSide.SELL,
            quantity=quantity,
            leverage=self.request.trading_config.max_leverage,
            action=action,
            stop_loss=stop,
            take_profit=target,
        )

    def _levels(self, price: float, long: bool) -> tuple[float | None, float | None]:
        """Stop-loss and take-profit of a new position opened at about ``price``."""
        rules, sign = self.rules, 1.0 if long else -1.0
        stop = price * (1 - sign * rules.stop_loss_pct / 100) if rules.stop_loss_pct else None
        target = price * (1 + sign * rules.take_profit_pct / 100) if rules.take_profit_pct else None
        return stop, target

    def cycle_signals(self, features: CycleFeatures) -> dict[str, SideSignals]:
        """The rules as array comparisons: ``_decide`` for every cycle and position side at once.

        NaN compares False, as a missing RSI holds; a missing EMA reads as 0.0, as in ``_decide``."""
        rules, signals = self.rules, {}
        for symbol in self.request.trading_config.symbols:
            rsi = features.column(symbol, self.interval, "rsi")
            buy, sell = rsi < rules.rsi_buy_below, rsi > rules.rsi_sell_above
            if rules.trend_filter:
                up = defined(features.column(symbol, self.interval, "ema_20")) > defined(
                    features.column(symbol, self.interval, "ema_50")
                )
                down = ~up
            else:
                up = down = np.ones(len(rsi), dtype=bool)
            short_entry = sell & down if self.allow_short else np.zeros(len(rsi), dtype=bool)
            signals[symbol] = SideSignals(flat=(buy & up) | short_entry, long=sell, short=buy)
        return signals


def _signals_and_prices(
    features: list[FeatureVector], candle_group: str
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Values per symbol of the candle vectors of ``candle_group``, and of the market snapshot."""
    signals: dict[str, dict[str, float]] = {}
    prices: dict[str, dict[str, float]] = {}
    for fv in features:
        group = fv.meta.get("group_by_key") if fv.meta else None
        if group == candle_group:
            signals[fv.instrument.symbol] = fv.values
        elif group == SNAPSHOT_GROUP:
            prices[fv.instrument.symbol] = fv.values
    return signals, prices
