"""Pay pandas-ta's import and numba compilation once per process, before the first real cycle.

pandas-ta jit-compiles some indicators (its SMA) with numba on first call, which takes seconds the
first time a machine runs it (numba caches to disk afterwards). Without a warm-up that cost lands
inside the first decision cycle of the first strategy.
"""

from __future__ import annotations

import logging
import threading
import time

from tradeloop.trading.features.indicators import indicator_frame, synthetic_candles

logger = logging.getLogger(__name__)

_WARMUP_CANDLES = 120
_lock = threading.Lock()
_warm = False


def is_warm() -> bool:
    return _warm


def warm_up() -> float:
    """Run every indicator once on synthetic data; returns the seconds it took (0.0 when warm).

    Idempotent and thread-safe: concurrent callers wait for the first one, later calls return at once.
    """
    global _warm
    if _warm:
        return 0.0
    with _lock:
        if _warm:
            return 0.0
        started = time.perf_counter()
        indicator_frame(synthetic_candles(_WARMUP_CANDLES))
        elapsed = time.perf_counter() - started
        _warm = True
    logger.info("feature indicators warmed up in %.2f s", elapsed)
    return elapsed
