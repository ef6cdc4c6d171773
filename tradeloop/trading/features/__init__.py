"""Feature computation: market data in, ``FeatureVector``s out (keys documented in ``keys``)."""

from tradeloop.trading.features.interfaces import BaseFeaturesPipeline, CandleBasedFeatureComputer
from tradeloop.trading.features.keys import FEATURE_KEYS, SNAPSHOT_KEYS
from tradeloop.trading.features.pipeline import DefaultFeaturesPipeline

__all__ = [
    "FEATURE_KEYS",
    "SNAPSHOT_KEYS",
    "BaseFeaturesPipeline",
    "CandleBasedFeatureComputer",
    "DefaultFeaturesPipeline",
]
