"""Feature queries without a strategy: the default pipeline over live or replayed candles.

With a replay directory every query reads the CSV files there, as of the end of the data (the
latest moment every file covers), so answers are reproducible and need no network. Without one,
the pipeline reads public market data from the requested venue through ccxt.

pandas, pandas-ta and ccxt are imported on the first query, never when the server starts.
Tools call this module (``FeatureQueries`` lives in the app state; ``check_listed`` before a
create); it is service code, below the tools.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tradeloop.trading.clock import SimulatedClock
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import (
    ExchangeConfig,
    FeatureVector,
    MarketType,
    TradingConfig,
    UserRequest,
)
from tradeloop.trading.utils import to_ccxt_symbol

if TYPE_CHECKING:
    from tradeloop.trading.data.replay import ReplayMarketDataSource

logger = logging.getLogger(__name__)


class FeatureQueries:
    """One per server; holds the replay source (loaded once) when the server replays."""

    def __init__(self, replay_dir: Path | None) -> None:
        self._replay_dir = replay_dir
        self._replay: dict[str, ReplayMarketDataSource] = {}

    @property
    def replay(self) -> bool:
        return self._replay_dir is not None

    async def query(
        self,
        symbols: list[str],
        interval: str,
        lookback: int,
        exchange: str,
        market_type: MarketType,
    ) -> list[FeatureVector]:
        """The latest candle and snapshot features of ``symbols`` at ``interval``."""
        # here: the pipeline imports pandas and pandas-ta, seconds the server must not wait at start
        from tradeloop.trading.features.pipeline import DefaultFeaturesPipeline

        request = UserRequest(
            exchange_config=ExchangeConfig(exchange_id=exchange, market_type=market_type),
            trading_config=TradingConfig(
                initial_capital=1.0,
                symbols=symbols,
                feature_intervals=[interval],
                candle_lookback=lookback,
            ),
        )
        source = self._replay_source(exchange, market_type)
        pipeline = DefaultFeaturesPipeline(request, market_data=source)
        try:
            return (await pipeline.build()).features
        finally:
            await pipeline.close()

    def _replay_source(
        self, exchange: str, market_type: MarketType
    ) -> ReplayMarketDataSource | None:
        """The venue's files (``binance_spot_*``, ``bybit_linear_*``), else every file in the dir."""
        if self._replay_dir is None:
            return None
        venue = f"{exchange}_{_VENUE_MARKET[market_type]}"
        source = self._replay.get(venue)
        if source is None:
            source = self._replay[venue] = _open_replay(self._replay_dir, venue)
        return source

    async def close(self) -> None:
        for source in self._replay.values():
            await source.close()
        self._replay.clear()


_VENUE_MARKET = {MarketType.SPOT: "spot", MarketType.PERPETUAL: "linear"}


def _open_replay(directory: Path, venue: str) -> ReplayMarketDataSource:
    from tradeloop.trading.data.replay import ReplayMarketDataSource  # here: pandas, at first use

    clock = SimulatedClock(0)
    try:
        source = ReplayMarketDataSource.from_dir(directory, clock, venue=venue)
    except ConfigError:
        source = ReplayMarketDataSource.from_dir(directory, clock)
    clock.set(source.last_ts())
    return source


async def check_listed(
    symbols: list[str], exchange_id: str, market_type: MarketType, testnet: bool = False
) -> None:
    """Raise a ConfigError naming the symbols the venue does not list (loads its markets once per
    process; an unreachable venue raises MarketDataUnavailable naming it)."""

    # here: the tradeloop.trading.data package imports pandas, kept out of start-up
    from tradeloop.trading.data.exchanges import ExchangeKey, get_exchange

    key = ExchangeKey(exchange_id, market_type, testnet)
    exchange = await get_exchange(key)
    perpetual = market_type is MarketType.PERPETUAL
    missing = [s for s in symbols if to_ccxt_symbol(s, perpetual=perpetual) not in exchange.markets]
    if missing:
        raise ConfigError(
            f"symbols: {key.venue} does not list {', '.join(missing)}; "
            "use symbols it trades, like BTC-USDT"
        )


async def close_exchanges() -> None:
    """Close the process-wide exchange connections (at server shutdown)."""
    from tradeloop.trading.data.exchanges import close_all  # here: see check_listed

    await close_all()


def check_replay_dir(path: Path) -> Path:
    """A replay directory must exist and hold candle files; the message shows the path as the
    operator gave it (a bare folder name would not say which one was meant)."""
    if not path.is_dir():
        raise ConfigError(f"replay directory {str(path)!r} does not exist")
    if not any(path.glob("*.csv")):
        raise ConfigError(f"replay directory {str(path)!r} holds no candle CSV files")
    return path
