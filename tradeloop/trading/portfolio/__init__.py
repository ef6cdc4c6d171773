from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService
from tradeloop.trading.portfolio.interfaces import BasePortfolioService

__all__ = ["BasePortfolioService", "InMemoryPortfolioService"]
