"""Every feature key of ``keys.FEATURE_KEYS``, computed with pandas-ta over a whole candle series.

All indicators are causal and computed left to right, so row ``i`` of ``indicator_frame(df)`` is
bit-for-bit the last row of ``indicator_frame(df[: i + 1])``. That is what lets a replay compute a
series once and serve each cycle one row. To keep it true:

- a value is NaN on rows where pandas-ta would refuse the prefix as too short (it returns None);
- the true range is computed here, because pandas-ta's adds an epsilon to *every* range when any
  candle of the frame is flat (high == low), which would make a row depend on later candles;
- Bollinger bands start one candle late (21 candles): pandas-ta's numba SMA sums in another order
  when the series is exactly as long as the window, which changes the last bit.

pandas-ta is imported on first use, so importing tradeloop stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from tradeloop.trading.features.keys import FEATURE_KEYS

RSI_LENGTH = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_LENGTH, BB_STD = 20, 2.0
ATR_LENGTH = 14
VOLUME_MEAN_LENGTH = 20
CHANGE_LONG = 24
NEUTRAL_RSI = 50.0
"""RSI of a perfectly flat market (no gains, no losses), where Wilder's ratio is 0/0."""


@cache
def _ta() -> ModuleType:
    import pandas_ta  # lazy: pandas-ta costs seconds (numba); only computing features needs it

    return pandas_ta


def indicator_frame(candles: pd.DataFrame) -> pd.DataFrame:
    """One column per feature key, one row per candle (NaN where there is too little history)."""
    close = candles["close"].astype("float64")
    high = candles["high"].astype("float64")
    low = candles["low"].astype("float64")
    volume = candles["volume"].to_numpy(dtype=np.float64)
    columns = {
        **_price_features(close.to_numpy(), volume),
        "rsi": _rsi(close),
        **_macd(close),
        "ema_20": _ema(close, 20),
        "ema_50": _ema(close, 50),
        **_bollinger(close),
        "atr": _atr(high, low, close),
    }
    return pd.DataFrame({key: columns[key] for key in FEATURE_KEYS}, index=candles.index)


def latest_values(frame: pd.DataFrame, i: int = -1) -> dict[str, float]:
    """Row ``i`` as a dict, without NaN or infinite values."""
    row = frame.iloc[i]
    return {str(key): float(value) for key, value in row.items() if math.isfinite(value)}


@dataclass(frozen=True, slots=True)
class FrameArrays:
    """An indicator frame as one C-contiguous matrix, so serving a row costs no pandas call."""

    keys: tuple[str, ...]
    matrix: np.ndarray
    finite_rows: list[bool]
    """Per row: every value finite (most rows after the warm-up), so the row needs no filtering."""
    _columns: dict[str, list[float | None]] = field(default_factory=dict, compare=False, repr=False)
    """Columns already read by ``recent``, as Python lists with None for undefined values."""

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> FrameArrays:
        matrix = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
        matrix.flags.writeable = False
        return cls(
            keys=tuple(str(c) for c in frame.columns),
            matrix=matrix,
            finite_rows=np.isfinite(matrix).all(axis=1).tolist(),
        )

    def __len__(self) -> int:
        return len(self.matrix)

    def values_at(self, i: int) -> dict[str, float]:
        """Row ``i`` without NaN or infinite values; equal to ``latest_values(frame, i)``."""
        row = self.matrix[i].tolist()
        if self.finite_rows[i]:
            return dict(zip(self.keys, row, strict=True))
        return {k: v for k, v in zip(self.keys, row, strict=True) if math.isfinite(v)}

    def recent(self, key: str, i: int, count: int) -> list[float | None]:
        """The ``count`` values of ``key`` up to row ``i``, oldest first; None where undefined."""
        column = self._columns.get(key)
        if column is None:
            values = self.matrix[:, self.keys.index(key)].tolist()
            column = self._columns[key] = [v if math.isfinite(v) else None for v in values]
        return column[max(0, i + 1 - count) : i + 1]


# --------------------------------------------------------------------------- price features


def _price_features(close: np.ndarray, volume: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_volume = pd.Series(volume).rolling(VOLUME_MEAN_LENGTH).mean().to_numpy()
        return {
            "close": close.copy(),
            "change_pct": (close / _shift(close, 1) - 1.0) * 100.0,
            "change_pct_24": (close / _shift(close, CHANGE_LONG) - 1.0) * 100.0,
            "volume": volume.copy(),
            "volume_ratio": volume / mean_volume,
        }


def _shift(values: np.ndarray, by: int) -> np.ndarray:
    shifted = np.full(len(values), np.nan)
    if len(values) > by:
        shifted[by:] = values[:-by]
    return shifted


# --------------------------------------------------------------------------- pandas-ta indicators


def _rsi(close: pd.Series) -> np.ndarray:
    """pandas-ta RSI is Wilder's: RMA of gains over RMA of gains + losses, scaled to 100.

    No losses gives exactly 100 (gains / gains); a flat market gives 0/0, which we call neutral.
    """
    rsi = _values(_ta().rsi(close, length=RSI_LENGTH), len(close))
    undefined = np.isnan(rsi) & np.isfinite(close.to_numpy())
    rsi[undefined] = NEUTRAL_RSI
    return _defined_from(rsi, RSI_LENGTH)


def _macd(close: pd.Series) -> dict[str, np.ndarray]:
    frame = _ta().macd(close, fast=MACD_FAST, slow=MACD_SLOW, signal=MACD_SIGNAL)
    first = MACD_SLOW + MACD_SIGNAL - 2
    return {
        "macd": _defined_from(_column(frame, "MACD_", len(close)), first),
        "macd_signal": _defined_from(_column(frame, "MACDs_", len(close)), first),
        "macd_hist": _defined_from(_column(frame, "MACDh_", len(close)), first),
    }


def _ema(close: pd.Series, length: int) -> np.ndarray:
    return _defined_from(_values(_ta().ema(close, length=length), len(close)), length - 1)


def _bollinger(close: pd.Series) -> dict[str, np.ndarray]:
    frame = _ta().bbands(close, length=BB_LENGTH, lower_std=BB_STD, upper_std=BB_STD, ddof=0)
    first = BB_LENGTH  # not BB_LENGTH - 1: see the module docstring
    return {
        "bb_upper": _defined_from(_column(frame, "BBU_", len(close)), first),
        "bb_middle": _defined_from(_column(frame, "BBM_", len(close)), first),
        "bb_lower": _defined_from(_column(frame, "BBL_", len(close)), first),
    }


def _atr(high: pd.Series, low: pd.Series, close: pd.Series) -> np.ndarray:
    """pandas-ta's ``atr`` (SMA-seeded RMA of the true range) with a causal true range."""
    n = len(close)
    if n < ATR_LENGTH + 1:
        return np.full(n, np.nan)
    h, lo, c = high.to_numpy(), low.to_numpy(), close.to_numpy()
    previous = _shift(c, 1)
    with np.errstate(invalid="ignore"):
        true_range = np.fmax(h - lo, np.fmax(np.abs(h - previous), np.abs(previous - lo)))
    seeded = pd.Series(true_range, index=close.index)
    seeded.iloc[ATR_LENGTH - 1] = seeded.iloc[:ATR_LENGTH].mean()
    seeded.iloc[: ATR_LENGTH - 1] = np.nan
    return _defined_from(_values(_ta().rma(seeded, length=ATR_LENGTH), n), ATR_LENGTH)


# --------------------------------------------------------------------------- helpers


def _values(result: pd.Series | None, n: int) -> np.ndarray:
    """pandas-ta returns None when the series is too short for an indicator."""
    if result is None:
        return np.full(n, np.nan)
    return result.to_numpy(dtype=np.float64, copy=True)


def _column(frame: pd.DataFrame | None, prefix: str, n: int) -> np.ndarray:
    if frame is None:
        return np.full(n, np.nan)
    names = [c for c in frame.columns if str(c).startswith(prefix)]
    return _values(frame[names[0]], n)


def _defined_from(values: np.ndarray, first_row: int) -> np.ndarray:
    """NaN before ``first_row``: pandas-ta would return None for a prefix that short."""
    values[: min(first_row, len(values))] = np.nan
    return values


def synthetic_candles(n: int, seed: int = 7) -> pd.DataFrame:
    """A reproducible random walk, for warm-up and tests that need no real data."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    spread = np.abs(rng.normal(0.0, 0.005, n)) * close
    frame: dict[str, Any] = {
        "ts": np.arange(n, dtype=np.int64) * 60_000,
        "open": np.r_[close[0], close[:-1]],
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.uniform(1.0, 10.0, n),
    }
    return pd.DataFrame(frame)
