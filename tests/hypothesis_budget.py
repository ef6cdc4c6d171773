"""How many examples a hypothesis test runs: its full budget, or a small one under mutation testing.

``scripts/mutation`` sets ``TRADELOOP_MUTATION=1``; mutmut then reruns the covering tests once per
mutant, so each property test runs a bounded, deterministic sample there (see tests/conftest.py)."""

from __future__ import annotations

import os

MUTATION = os.environ.get("TRADELOOP_MUTATION") == "1"
MUTATION_EXAMPLES = 60


def examples(full: int) -> int:
    return min(full, MUTATION_EXAMPLES) if MUTATION else full
