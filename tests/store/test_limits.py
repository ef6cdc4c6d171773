"""Per-principal limits as stored, on SQLite and PostgreSQL alike: rows the operator puts, reads
back exactly (money as an exact decimal), replaces whole and removes."""

from __future__ import annotations

from decimal import Decimal

from tests.store_backends import StoreTarget, fetch
from tradeloop.store.backend import Store
from tradeloop.store.limits import DEFAULT_PRINCIPAL, PrincipalLimits

ALICE = PrincipalLimits(
    principal="alice",
    max_strategies=3,
    max_live_capital=Decimal("2500.10"),
    allowed_venues=("binance", "okx"),
)


async def test_a_principal_without_a_row_reads_as_none(store: Store) -> None:
    assert await store.limits.get("alice") is None
    assert await store.limits.all() == []


async def test_limits_read_back_exactly_as_put(store: Store) -> None:
    await store.limits.put(ALICE)
    assert await store.limits.get("alice") == ALICE


async def test_live_capital_is_stored_as_exact_decimal_text(
    store: Store, store_target: StoreTarget
) -> None:
    await store.limits.put(PrincipalLimits("alice", max_live_capital=Decimal("0.1")))
    rows = await fetch(store_target.settings(), "SELECT max_live_capital FROM principal_limits")
    assert rows == [{"max_live_capital": "0.1"}]


async def test_put_replaces_the_whole_row_and_none_means_unlimited(store: Store) -> None:
    await store.limits.put(ALICE)
    await store.limits.put(PrincipalLimits("alice", max_strategies=0))
    assert await store.limits.get("alice") == PrincipalLimits(
        "alice", max_strategies=0, max_live_capital=None, allowed_venues=None
    )


async def test_all_lists_the_default_row_first(store: Store) -> None:
    default = PrincipalLimits(DEFAULT_PRINCIPAL, max_strategies=5)
    await store.limits.put(ALICE)
    await store.limits.put(PrincipalLimits("~owner", max_strategies=1))
    await store.limits.put(default)
    assert [row.principal for row in await store.limits.all()] == ["*", "alice", "~owner"]
    assert (await store.limits.all())[0] == default


async def test_remove_deletes_only_that_principals_row(store: Store) -> None:
    await store.limits.put(ALICE)
    await store.limits.put(PrincipalLimits("bob", max_strategies=1))
    assert await store.limits.remove("alice") is True
    assert await store.limits.remove("alice") is False
    assert [row.principal for row in await store.limits.all()] == ["bob"]
