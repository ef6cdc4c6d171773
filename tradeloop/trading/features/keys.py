"""The feature keys composers can rely on, with what each one means.

Candle features (one ``FeatureVector`` per symbol and interval, ``meta.group_by_key = candles_<iv>``),
all computed on closed candles only, the latest closed candle being "the candle":

    close          close price of the candle
    change_pct     % change of close over the last candle (the LLM context: change_pct_<interval>)
    change_pct_24  % change of close over the last 24 candles, i.e. 24 x the interval (the LLM
                   context names the span: change_pct_1d on 1h candles, change_pct_4d on 4h)
    volume         base-currency volume of the candle
    volume_ratio   volume / mean volume of the last 20 candles (this one included)
    rsi            RSI 14, Wilder (RMA) smoothing, 0..100; 100 when there were no losses
    macd           MACD line: EMA 12 - EMA 26 of close
    macd_signal    EMA 9 of the MACD line
    macd_hist      macd - macd_signal
    ema_20         EMA 20 of close (seeded with the SMA of its first 20 closes, as TA-Lib)
    ema_50         EMA 50 of close
    bb_upper       Bollinger upper band: SMA 20 + 2 population standard deviations
    bb_middle      Bollinger middle band: SMA 20 of close
    bb_lower       Bollinger lower band: SMA 20 - 2 population standard deviations
    atr            ATR 14, Wilder (RMA) smoothing of the true range, in price units

Snapshot features (one vector per symbol, ``meta.group_by_key = market_snapshot``):

    price          last traded price (replay: close of the latest closed finest candle)
    high, low      replay only: high and low of that candle (stop-loss / take-profit checks)
    funding_rate   perpetuals: current funding rate per funding period, as a fraction
    open_interest  perpetuals: open interest in contracts (base units for linear USDT perpetuals)

A key is absent, never NaN, when there is too little history to compute it.
"""

from __future__ import annotations

FEATURE_KEYS: dict[str, str] = {
    "close": "close price of the latest closed candle",
    "change_pct": "% change of close over the last candle of the group's interval (1 hour on "
    "1h candles, 1 day on 1d); the LLM context names it by that span: change_pct_1h, change_pct_4h",
    "change_pct_24": "% change of close over the last 24 candles of the group's interval: 24 "
    "hours on 1h candles, 4 days on 4h, 24 days on 1d; the LLM context names it by that span: "
    "change_pct_1d (1h candles), change_pct_4d (4h), change_pct_24d (1d)",
    "volume": "base-currency volume of the latest closed candle",
    "volume_ratio": "volume / mean volume of the last 20 candles (this one included)",
    "rsi": "RSI 14, Wilder smoothing, 0..100 (100 when there were no losses)",
    "macd": "MACD line: EMA 12 - EMA 26 of close",
    "macd_signal": "EMA 9 of the MACD line",
    "macd_hist": "macd - macd_signal",
    "ema_20": "EMA 20 of close",
    "ema_50": "EMA 50 of close",
    "bb_upper": "Bollinger upper band: SMA 20 + 2 population standard deviations",
    "bb_middle": "Bollinger middle band: SMA 20 of close",
    "bb_lower": "Bollinger lower band: SMA 20 - 2 population standard deviations",
    "atr": "ATR 14, Wilder smoothing of the true range, in price units",
}

SNAPSHOT_KEYS: dict[str, str] = {
    "price": "last traded price (replay: close of the latest closed finest candle)",
    "high": "replay: high of that candle",
    "low": "replay: low of that candle",
    "funding_rate": "perpetuals: current funding rate per funding period, as a fraction",
    "open_interest": "perpetuals: open interest in contracts",
}

CANDLE_GROUP_PREFIX = "candles_"
SNAPSHOT_GROUP = "market_snapshot"
RECENT_COUNT = 8
"""How many recent closes and RSI values a candle vector carries in ``meta.recent``."""
