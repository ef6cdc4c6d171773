"""Shared fixtures. Keep this file small: fakes belong in their own modules."""

import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
"""Real candle CSVs, kept outside the repository (``<repo>/../shared/data``)."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real candle data folder; skips the test when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real candle data not found at {SHARED_DATA.resolve()} (<repo>/../shared/data)"
        )
    return SHARED_DATA


if os.environ.get("TRADELOOP_MUTATION") == "1":
    # mutmut reruns tests per mutant: no shrinking, no example database, the same examples each run
    settings.register_profile(
        "mutation",
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        database=None,
        derandomize=True,
        deadline=None,
    )
    settings.load_profile("mutation")
