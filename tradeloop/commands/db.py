"""``tradeloop db``: migrate a database, or copy a SQLite installation into PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tradeloop.settings import Settings, db_setting
from tradeloop.store.backend import TABLES, open_store, schema_version
from tradeloop.trading.errors import ConfigError, OperationalError

HELP = """\
Database operations. 'migrate' brings a database (SQLite file or PostgreSQL URL) to the schema
this tradeloop knows and prints its version. 'copy' moves a SQLite installation into an empty
PostgreSQL database in one transaction, then checks it: rows per table and, per strategy, the
latest ledger and its equity must be equal on both sides (exit 1 otherwise). Stop every tradeloop
process using either database first: both are opened exclusively."""
EXAMPLES = """\
examples:
  tradeloop db migrate --db postgresql://tradeloop@127.0.0.1:5432/tradeloop
  tradeloop db migrate                     the database of TRADELOOP_DB (or the default file)
  tradeloop db copy --from sqlite:///home/me/.local/share/tradeloop/tradeloop.db \\
                    --to postgresql://tradeloop@127.0.0.1:5432/tradeloop"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db", help="migrate a database or copy SQLite into PostgreSQL", description=HELP,
        epilog=EXAMPLES,
    )  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser("migrate", help="migrate a database to the latest schema")
    migrate.add_argument("--db", help="file path, sqlite:///abs/path or postgresql://... URL")
    copy = actions.add_parser("copy", help="copy a SQLite database into an empty PostgreSQL one")
    copy.add_argument("--from", dest="source", required=True, help="sqlite:///abs/path or path")
    copy.add_argument("--to", dest="target", required=True, help="postgresql://... URL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        if args.action == "migrate":
            return asyncio.run(_migrate(args.db))
        return asyncio.run(_copy(args.source, args.target))
    except (ConfigError, OperationalError) as exc:
        sys.stderr.write(f"tradeloop db {args.action}: {exc}\n")
        return 2


async def _migrate(db: str | None) -> int:
    settings = Settings.from_env(db_path=db)
    url = None if settings.db_url is None else settings.db_url.get_secret_value()
    async with open_store(settings.db_path, url, exclusive=False) as store:
        version = await schema_version(store)
    sys.stdout.write(f"{store.label}: schema version {version} ({store.backend})\n")
    return 0


async def _copy(source: str, target: str) -> int:
    from tradeloop.store.postgres.copy import copy_into, verify  # lazy: asyncpg only here

    given_from, given_to = db_setting(source), db_setting(target)
    if "db_url" in given_from:
        raise ConfigError("--from must be a SQLite database (a path or sqlite:///abs/path)")
    if "db_url" not in given_to:
        raise ConfigError("--to must be a postgresql://... URL")
    if not given_from["db_path"].is_file():
        raise ConfigError(f"--from: no database file at {given_from['db_path']}")
    url = given_to["db_url"].get_secret_value()
    async with (
        open_store(given_from["db_path"]) as src,
        open_store(given_to["db_path"], url) as dst,
    ):
        legacy = await copy_into(src, dst)
        report = await verify(src, dst, legacy)
    out = [f"copied {src.label} -> {dst.label}", f"{'table':<14}{'from':>10}{'to':>10}"]
    out += [f"{t:<14}{report.counts_from[t]:>10}{report.counts_to[t]:>10}" for t in TABLES]
    if legacy:
        out.append(f"({legacy} cycles from before migration 0003: features became payloads)")
    out.append(f"{'strategy':<32}{'cycles':>8}  {'equity from':>22}  {'equity to':>22}  same")
    for s in report.strategies:
        out.append(
            f"{s.name[:31]:<32}{s.cycles:>8}  {str(s.equity_from):>22}  {str(s.equity_to):>22}"
            f"  {'yes' if s.same_ledger else 'NO'}"
        )
    out.append("verified: rows and equity match" if report.ok else "MISMATCH: see above")
    sys.stdout.write("\n".join(out) + "\n")
    return 0 if report.ok else 1
