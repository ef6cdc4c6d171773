"""Production code marks crash points through a module that depends on nothing of tradeloop, so
marking one never drags the fault-injection code (or the coordinator) into the store or the
gateway."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_crash_point_marker_loads_no_other_tradeloop_module():
    code = (
        "import sys, tradeloop.trading.crashpoints\n"
        "print(sorted(m for m in sys.modules if m.startswith('tradeloop')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(
        ["tradeloop", "tradeloop.trading", "tradeloop.trading.crashpoints"]
    )
