"""Shared fixtures. Keep this file small: fakes belong in their own modules."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from tests.pg_cluster import Cluster, throwaway_cluster
from tests.shared_data import require_data
from tests.store_backends import BACKENDS, StoreTarget
from tradeloop.store.backend import Store

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
"""Real candle CSVs, kept outside the repository (``<repo>/../shared/data``)."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real candle data folder (see ``require_data``)."""
    return require_data(SHARED_DATA)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (skipped without the server binaries,
    failing in CI; see ``tests.pg_cluster``); ``create_database()`` gives each test its own."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(params=BACKENDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh store on each backend: a SQLite file, or a new schema in the session's
    PostgreSQL cluster (started only when a PostgreSQL test runs)."""
    if request.param == "sqlite":
        return StoreTarget("sqlite", tmp_path / "store.db", None)
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return StoreTarget("postgresql", tmp_path / "unused.db", cluster.create_schema())


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    """The store of ``store_target``, open for the test."""
    async with store_target.open() as opened:
        yield opened


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
