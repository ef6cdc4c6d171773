"""``tradeloop strategies``: the operator's view of a shared server, every principal's strategies.

The operator is whoever runs commands on the server's machine with access to its database; no
MCP tool and no token acts as the operator (``services.principals.OPERATOR``). Reading works
while a server runs (a SQLite file is opened read-only beside it); acting needs the database:
on PostgreSQL the command is stored and announced, and the replica running the strategy follows
at once; a SQLite file belongs to the one process running it, so acting is refused while a
server holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from tradeloop.services.owned import OwnedStrategies
from tradeloop.services.principals import OPERATOR, OWNER_NAME
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.store.backend import open_store
from tradeloop.store.cycles import CycleStore
from tradeloop.store.db import ReadOnlyRows, StoreInUse
from tradeloop.store.strategies import StrategyRow, StrategyStore
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.models import StrategyStatus

HELP = f"""\
The operator's view of every principal's strategies (a shared server: each principal sees only
its own through MCP; this command sees them all). 'list' shows them with their owner: a
principal's name from the tokens file or the OAuth subject, '{OWNER_NAME}' for the single owner
of stdio, loopback HTTP and TRADELOOP_HTTP_TOKEN. 'pause' and 'stop' act on any strategy (stop
keeps open positions; the owner can close them later).
Reading works while a server runs. Acting on a SQLite database is refused while a server holds
it (only that process may change its strategies): pause through the server, or stop it first. On
PostgreSQL the replica running the strategy follows the command at once."""
EXAMPLES = """\
examples:
  tradeloop strategies list                        every strategy of every principal
  tradeloop strategies list --principal alice      alice's only
  tradeloop strategies list --status running --db postgresql://tradeloop@127.0.0.1/tradeloop
  tradeloop strategies pause s_0123456789abcdef --reason "over the desk's risk budget"
  tradeloop strategies stop s_0123456789abcdef"""
PAUSED_BY = "paused by the operator"
COLUMNS = (
    f"{'id':<20} {'owner':<20} {'name':<24} {'status':<8} {'mode':<7} {'cycles':>6} {'equity':>14}"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "strategies", help="the operator's view: every principal's strategies", description=HELP,
        epilog=EXAMPLES,
    )  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="every strategy with its owner and status",
        description="Every strategy of every principal: id, owner, name, status, mode, cycles "
        "and equity. Works while a server runs.",
    )
    listing.add_argument("--principal", metavar="NAME", help="only this principal's strategies")
    listing.add_argument(
        "--status", choices=[s.value for s in StrategyStatus], help="only this status"
    )
    pause = actions.add_parser(
        "pause",
        help="pause a running strategy (positions are kept)",
        description="Pause any principal's running strategy; its owner sees the reason and may "
        "resume it.",
    )
    pause.add_argument("strategy_id", metavar="ID")
    pause.add_argument("--reason", default=PAUSED_BY, help=f"shown to its owner ('{PAUSED_BY}')")
    stop = actions.add_parser(
        "stop",
        help="stop a strategy for good (positions are kept)",
        description="Stop any principal's strategy; open positions are kept as they are.",
    )
    stop.add_argument("strategy_id", metavar="ID")
    for action in (listing, pause, stop):
        action.add_argument("--db", help="file path, sqlite:///abs/path or postgresql://... URL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = Settings.from_env(db_path=args.db)
    try:
        if args.action == "list":
            status = None if args.status is None else StrategyStatus(args.status)
            return asyncio.run(_list(settings, args.principal, status))
        return asyncio.run(_act(settings, args.action, args.strategy_id, args))
    except (ConfigError, OperationalError) as exc:
        sys.stderr.write(f"tradeloop strategies {args.action}: {exc}\n")
        return 2


async def _list(settings: Settings, principal: str | None, status: StrategyStatus | None) -> int:
    lines = [COLUMNS]
    async with _reading(settings) as (strategies, cycles):
        for row in await strategies.all(status, owner=principal):
            lines.append(await _line(row, cycles))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


async def _line(row: StrategyRow, cycles: CycleStore) -> str:
    count, _last, summary = await cycles.stats(row.id)
    equity = summary.equity if summary else row.request.trading_config.initial_capital
    mode = row.request.exchange_config.trading_mode.value
    return (
        f"{row.id:<20} {row.owner[:20]:<20} {row.name[:24]:<24} {row.status.value:<8} "
        f"{mode:<7} {count:>6} {equity:>14.2f}"
    )


@asynccontextmanager
async def _reading(settings: Settings) -> AsyncIterator[tuple[StrategyStore, CycleStore]]:
    """The strategy and cycle stores to read: read-only beside a server holding a SQLite file."""
    url = None if settings.db_url is None else settings.db_url.get_secret_value()
    async with AsyncExitStack() as stack:
        try:
            store = await stack.enter_async_context(open_store(settings.db_path, url))
        except StoreInUse:
            rows = await stack.enter_async_context(ReadOnlyRows.open(settings.db_path))
            yield StrategyStore(rows), CycleStore(rows)
        else:
            yield store.strategies, store.cycles


async def _act(settings: Settings, action: str, strategy_id: str, args: argparse.Namespace) -> int:
    try:
        async with StrategyService.open(settings, resume=False) as service:
            operator = OwnedStrategies(service, OPERATOR)
            if action == "pause":
                info = await operator.pause(strategy_id, reason=args.reason)
            else:
                info = (await operator.stop_closing(strategy_id)).info
    except StoreInUse as exc:
        raise ConfigError(_in_use(exc, action)) from None
    sys.stdout.write(f"{info.strategy_id} ({info.owner}, {info.name}): {info.status.value}\n")
    return 0


def _in_use(exc: StoreInUse, action: str) -> str:
    return (
        f"{exc}. A SQLite database belongs to the one process running its strategies, so only "
        f"that server may {action} one: use its {action}_strategy tool (or the dashboard), or "
        f"stop it (pid {exc.pid}) and run this again. 'tradeloop strategies list' works "
        "meanwhile; on PostgreSQL this command reaches the replica running the strategy."
    )
