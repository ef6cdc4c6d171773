"""The foreign-id sweep on a PostgreSQL store (the owner filter is a query on each backend): two
principals, each against the other, over every tool, resource template and prompt; and each
lists only its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_cluster import Cluster
from tests.tenancy import surface, sweep
from tests.tenancy.served import served_with_oauth
from tests.tenancy.world import World, world_of

TWO = ("alice", "bob")


@pytest.fixture(scope="module")
def pg_world(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, postgres_cluster: Cluster
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("tenancy-pg")
    database = postgres_cluster.create_database()
    with served_with_oauth(shared_data, folder, database) as served, world_of(served, TWO) as world:
        yield world


@pytest.mark.parametrize(("viewer", "owner"), [TWO, TWO[::-1]])
def test_on_postgresql_another_principals_ids_answer_like_ids_that_never_existed(
    pg_world: World, viewer: str, owner: str
) -> None:
    before = pg_world.snapshot(owner)
    problems = sweep.tool_problems(pg_world, viewer, owner)
    problems += sweep.resource_problems(pg_world, viewer, owner)
    problems += sweep.prompt_problems(pg_world, viewer, owner)
    assert problems == [], "\n".join(problems)
    assert pg_world.snapshot(owner) == before


@pytest.mark.parametrize("viewer", TWO)
def test_on_postgresql_each_principal_lists_only_its_own(pg_world: World, viewer: str) -> None:
    listed = pg_world.call(viewer, "list_strategies", {})
    resources = pg_world.listed(viewer, "list_resources")
    foreign = pg_world.foreign_identifiers(viewer)
    assert surface.leaked(listed, foreign) + surface.leaked(resources, foreign) == []
    ids = {s["strategy_id"] for s in pg_world.ok(viewer, "list_strategies")["strategies"]}
    assert ids == set(pg_world.holdings[viewer].strategy_ids())
