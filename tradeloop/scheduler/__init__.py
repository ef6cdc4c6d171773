"""APScheduler wiring only (``jobs``): when a strategy's job fires. What a slot means (gaps, the
cycle boundary, risk stops, budgets) is the slots room's, ``tradeloop.services.slots``."""
