"""Shared fixtures. Keep this file small: fakes belong in their own modules."""

import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from tests.shared_data import require_data

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
"""Real candle CSVs, kept outside the repository (``<repo>/../shared/data``)."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real candle data folder (see ``require_data``)."""
    return require_data(SHARED_DATA)


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
