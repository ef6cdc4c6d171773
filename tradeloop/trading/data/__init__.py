"""Market data sources: live (ccxt, imported lazily) and replayed from CSV files."""

from tradeloop.trading.data.ccxt_source import CcxtMarketDataSource
from tradeloop.trading.data.interfaces import BaseMarketDataSource
from tradeloop.trading.data.replay import ReplayMarketDataSource

__all__ = ["BaseMarketDataSource", "CcxtMarketDataSource", "ReplayMarketDataSource"]
