"""Named crash points that production code marks: ``crash_point("mid_commit")`` kills the process
with SIGKILL when ``TRADELOOP_CRASH_AT`` names that point (comma-separated names allowed), on its
N-th hit in this process when ``TRADELOOP_CRASH_AFTER=N`` (default 1). Disarmed, a crash point is
a dict lookup.

This module imports nothing of tradeloop, so any layer can mark a point without depending on the
fault-injection code; wrapping a coordinator's stages with points lives in
``tradeloop.testing.crashpoints``.

Points: ``after_compose`` (the composer replied), ``after_execute`` (the gateway returned its
fills), ``mid_commit`` (the cycle's rows are written, the transaction is not committed); live
orders: ``after_intent_commit`` (before sending), ``after_exchange_accept``, ``after_fill_commit``
(the fill is in the intent log, not yet in a cycle); ``before_stopped`` (a stop's close cycle is
committed, the status not yet stopped).

With ``TRADELOOP_CRASH_ARMED_FILE`` set, points count and fire only while that file exists, so a
test can arm a running server right before the call it wants to interrupt.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

CRASH_AT_ENV = "TRADELOOP_CRASH_AT"
CRASH_AFTER_ENV = "TRADELOOP_CRASH_AFTER"
CRASH_ARMED_FILE_ENV = "TRADELOOP_CRASH_ARMED_FILE"
POINTS = ("after_compose", "after_execute", "mid_commit")

_hits: Counter[str] = Counter()


def armed() -> bool:
    return bool(os.environ.get(CRASH_AT_ENV))


def crash_point(name: str) -> None:
    targets = os.environ.get(CRASH_AT_ENV)
    if not targets or name not in targets.split(","):
        return
    armed_file = os.environ.get(CRASH_ARMED_FILE_ENV)
    if armed_file and not os.path.exists(armed_file):
        return
    _hits[name] += 1
    if _hits[name] >= int(os.environ.get(CRASH_AFTER_ENV, "1")):
        os.kill(os.getpid(), signal.SIGKILL)
