"""``tradeloop limits set / show / remove`` as the operator runs them: values land in the database
the servers read (SQLite and PostgreSQL), and a bad value is refused naming the option and why,
changing nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tests.store_backends import StoreTarget
from tradeloop.cli import main
from tradeloop.store.limits import PrincipalLimits


def limits(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["limits", *argv, "--db", db])
    except SystemExit as exited:  # argparse refuses a bad value before the handler runs
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "limits.db")


async def test_set_stores_every_limit_where_each_backend_reads_it(
    store_target: StoreTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--max-strategies", "3", "--max-live-capital", "2500.10", "--venues", "okx,binance"]
    # the command runs its own event loop, as from a shell
    code, out, _ = await asyncio.to_thread(limits, capsys, store_target.db, "set", "alice", *argv)
    assert code == 0
    assert out.splitlines() == [
        "alice",
        "  max_strategies    3",
        "  max_live_capital  2500.10",
        "  allowed_venues    okx, binance",
    ]
    async with store_target.open() as store:
        assert await store.limits.get("alice") == PrincipalLimits(
            "alice", 3, Decimal("2500.10"), ("okx", "binance")
        )


def test_set_changes_only_the_limits_given_and_clear_makes_one_unlimited(db, capsys) -> None:
    limits(capsys, db, "set", "alice", "--max-strategies", "3", "--venues", "bybit")
    limits(capsys, db, "set", "alice", "--max-live-capital", "1e3")
    code, out, _ = limits(capsys, db, "set", "alice", "--clear", "venues")
    assert code == 0
    assert out.splitlines()[1:] == [
        "  max_strategies    3",
        "  max_live_capital  1000",
        "  allowed_venues    all",
    ]


def test_a_principal_without_limits_of_its_own_starts_from_the_default(db, capsys) -> None:
    limits(capsys, db, "set", "*", "--max-strategies", "5", "--venues", "binance")
    code, out, _ = limits(capsys, db, "set", "bob", "--max-live-capital", "100")
    assert code == 0
    assert out.splitlines() == [
        "bob",
        "  max_strategies    5",
        "  max_live_capital  100",
        "  allowed_venues    binance",
    ]


def test_show_names_where_a_principals_limits_come_from(db, capsys) -> None:
    assert limits(capsys, db, "show")[1] == "no limits are set: every principal is unlimited\n"
    assert limits(capsys, db, "show", "carol")[1].splitlines() == [
        "carol: unlimited (no default ('*') is set)",
        "  holds             0 strategies, 0 of live capital",
    ]
    limits(capsys, db, "set", "*", "--max-strategies", "2")
    assert limits(capsys, db, "show", "carol")[1].splitlines()[:2] == [
        "carol (from the default '*')",
        "  max_strategies    2",
    ]
    assert limits(capsys, db, "show", "~owner")[1].splitlines()[0] == (
        "~owner: unlimited (the implicit owner)"
    )
    out = limits(capsys, db, "show")[1]
    assert out.splitlines()[0] == "* (the default)"


def test_remove_brings_back_the_default(db, capsys) -> None:
    limits(capsys, db, "set", "*", "--max-strategies", "2")
    limits(capsys, db, "set", "alice", "--max-strategies", "9")
    assert limits(capsys, db, "remove", "alice")[:2] == (0, "removed the limits of 'alice'\n")
    assert limits(capsys, db, "show", "alice")[1].splitlines()[1] == "  max_strategies    2"
    code, _, err = limits(capsys, db, "remove", "alice")
    assert (code, err) == (2, "tradeloop limits remove: 'alice' has no limits of its own\n")


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--max-strategies", "-1"], "argument --max-strategies: must be 0 or more (got -1)"),
        (["--max-strategies", "two"], "argument --max-strategies: must be a whole number"),
        (["--max-strategies", "1.5"], "argument --max-strategies: must be a whole number"),
        (["--max-live-capital", "-0.01"], "argument --max-live-capital: must be 0 or more"),
        (["--max-live-capital", "lots"], "argument --max-live-capital: must be a number"),
        (["--max-live-capital", "inf"], "argument --max-live-capital: must be a finite number"),
        (["--venues", "binance,kraken"], "argument --venues: unknown venue kraken; known: "),
        (["--venues", ","], "argument --venues: name at least one venue"),
        (["--clear", "leverage"], "argument --clear: invalid choice: 'leverage'"),
        (["--venues", "okx", "--clear", "venues"], "--clear venues: that limit is also being set"),
        ([], "nothing to change"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_and_why_and_changes_nothing(
    db, capsys, argv, reason
) -> None:
    limits(capsys, db, "set", "alice", "--max-strategies", "3")
    code, out, err = limits(capsys, db, "set", "alice", *argv)
    assert code == 2 and out == ""
    assert reason in err
    assert limits(capsys, db, "show", "alice")[1].splitlines()[1:4] == [
        "  max_strategies    3",
        "  max_live_capital  unlimited",
        "  allowed_venues    all",
    ]
