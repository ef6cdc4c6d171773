"""A paginating OHLCV venue in memory: serves ``limit`` candles from ``since``, like ccxt venues."""

from __future__ import annotations

from typing import Any

HOUR = 3_600_000


class FakeOhlcvExchange:
    id = "fakex"
    timeframes = {"1m": "1m", "1h": "1h", "1d": "1d"}

    def __init__(
        self,
        first_ts: int,
        count: int,
        *,
        interval_ms: int = HOUR,
        max_limit: int = 500,
        failures: list[Exception] | None = None,
    ) -> None:
        self.rows = [_row(first_ts + i * interval_ms, i) for i in range(count)]
        self.max_limit = max_limit
        self.failures = list(failures or [])
        self.calls: list[dict[str, Any]] = []
        self.enableRateLimit = True
        self.markets = {"BTC/USDT": {}}
        self.closed = False

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        self.calls.append(
            {"symbol": symbol, "timeframe": timeframe, "since": since, "limit": limit}
        )
        if self.failures:
            raise self.failures.pop(0)
        size = min(limit or self.max_limit, self.max_limit)
        after = [row for row in self.rows if since is None or row[0] >= since]
        return [list(row) for row in after[:size]]

    async def load_markets(self) -> dict[str, Any]:
        return self.markets

    async def close(self) -> None:
        self.closed = True


def _row(ts: int, i: int) -> list[float]:
    price = 100.0 + (i % 17) - (i % 5) * 0.5
    return [ts, price, price + 1.0, price - 1.0, price + 0.25, 10.0 + i % 3]
