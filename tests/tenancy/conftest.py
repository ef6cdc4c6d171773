"""One server and one world of three principals for the whole package (starting the server and
making every kind of id takes seconds; each test reads, or adds only what it names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tenancy.served import Served, served_with_oauth
from tests.tenancy.world import World, world_of


@pytest.fixture(scope="package")
def served(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_with_oauth(shared_data, tmp_path_factory.mktemp("tenancy")) as running:
        yield running


@pytest.fixture(scope="package")
def world(served: Served) -> Iterator[World]:
    with world_of(served) as made:
        yield made
