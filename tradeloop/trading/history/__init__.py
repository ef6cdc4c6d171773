from tradeloop.trading.history.digest import RollingDigestBuilder
from tradeloop.trading.history.interfaces import BaseDigestBuilder, BaseHistoryRecorder
from tradeloop.trading.history.recorder import InMemoryHistoryRecorder

__all__ = [
    "BaseDigestBuilder",
    "BaseHistoryRecorder",
    "InMemoryHistoryRecorder",
    "RollingDigestBuilder",
]
