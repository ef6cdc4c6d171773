"""The slots room: when each strategy runs, and what a slot's outcome means for it.

``runner.SlotRunner``     schedules slots (APScheduler through ``tradeloop.scheduler.jobs``), runs
                          each through the cycle boundary, records gaps as skipped cycles, applies
                          risk stops and cycle budgets, finishes replays, resumes at open
``ownership.SlotOwnership`` decides who runs which slot: the one place a lease check belongs
``boundary``              what a failed cycle means (error cycle, pause, error status)
``risk``                  the risk stops in code (drawdown, daily loss)
"""
