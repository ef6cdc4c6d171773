"""``tradeloop limits``: the operator's per-principal limits (``services.limits`` says what they
mean). Only here, never through a tool: a principal cannot raise its own limits."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from decimal import Decimal, InvalidOperation

from tradeloop.services.limits import KNOWN_VENUES, Usage, effective_limits, held_to
from tradeloop.services.principals import OWNER_NAME
from tradeloop.settings import Settings
from tradeloop.store.backend import Store, open_store
from tradeloop.store.limits import DEFAULT_PRINCIPAL, PrincipalLimits
from tradeloop.trading.errors import ConfigError, OperationalError

HELP = f"""\
Limits per principal on a shared server: how many strategies it may keep (stopped ones count,
stored backtests do not), how much initial capital its live strategies may hold together, and
which venues its strategies may use ({", ".join(KNOWN_VENUES)}). They live in the database, so
every server on it applies them at once, to the next create, start or resume.

NAME is a principal (a tokens-file name or a token's subject), or '*': the default for every
principal without limits of its own. The implicit owner of stdio and tokenless loopback HTTP
({OWNER_NAME}) has no limits unless they are set for that name. A principal's own limits replace
the default whole; 'set' on a principal without any starts from the default's values. A limit
not set is unlimited; --clear makes it unlimited again, 'remove' brings back the default."""
EXAMPLES = """\
examples:
  tradeloop limits set '*' --max-strategies 5 --max-live-capital 0
  tradeloop limits set alice --max-strategies 10 --max-live-capital 25000 --venues binance,okx
  tradeloop limits set alice --clear venues
  tradeloop limits show                    every principal with limits, the default first
  tradeloop limits show alice              the limits alice is held to, and where they come from
  tradeloop limits remove alice            alice is held to the default again"""

FIELDS = {
    "max-strategies": "max_strategies",
    "max-live-capital": "max_live_capital",
    "venues": "allowed_venues",
}
"""What --clear takes, and the limit each names."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "limits", help="per-principal limits: strategies, live capital, venues",
        description=HELP, epilog=EXAMPLES,
    )  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    change = actions.add_parser("set", help="set or clear NAME's limits")
    change.add_argument("name", metavar="NAME", type=_name, help="a principal, or '*'")
    change.add_argument("--max-strategies", type=_count, metavar="N", help="0 or more")
    change.add_argument(
        "--max-live-capital", type=_amount, metavar="AMOUNT", help="0 or more, in quote currency"
    )
    change.add_argument("--venues", type=_venues, metavar="A,B", help=", ".join(KNOWN_VENUES))
    change.add_argument(
        "--clear", action="append", default=[], choices=sorted(FIELDS), metavar="FIELD",
        help=f"make a limit unlimited: {', '.join(FIELDS)} (repeatable)",
    )  # fmt: skip
    show = actions.add_parser("show", help="the limits of NAME, or of every principal")
    show.add_argument("name", metavar="NAME", nargs="?", type=_name)
    remove = actions.add_parser("remove", help="delete NAME's own limits (the default applies)")
    remove.add_argument("name", metavar="NAME", type=_name)
    for action in (change, show, remove):
        action.add_argument("--db", help="file path, sqlite:///abs/path or postgresql://... URL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(asyncio.run(_run(args)))
    except (ConfigError, OperationalError) as exc:
        sys.stderr.write(f"tradeloop limits {args.action}: {exc}\n")
        return 2
    return 0


async def _run(args: argparse.Namespace) -> str:
    settings = Settings.from_env(db_path=args.db)
    url = None if settings.db_url is None else settings.db_url.get_secret_value()
    async with open_store(settings.db_path, url, exclusive=False) as store:
        if args.action == "set":
            return describe(await set_limits(store, args.name, _changes(args)))
        if args.action == "remove":
            if not await store.limits.remove(args.name):
                raise ConfigError(f"{args.name!r} has no limits of its own")
            return f"removed the limits of {args.name!r}\n"
        if args.name is None:
            return "".join(describe(limits) for limits in await store.limits.all()) or (
                "no limits are set: every principal is unlimited\n"
            )
        return await show_one(store, args.name)


async def set_limits(store: Store, name: str, changes: dict[str, object]) -> PrincipalLimits:
    """``name``'s limits with ``changes``, stored; a principal without a row of its own starts
    from the limits it was held to."""
    default = None if name == DEFAULT_PRINCIPAL else await store.limits.get(DEFAULT_PRINCIPAL)
    held = effective_limits(name, await store.limits.get(name), default)
    start = PrincipalLimits(name) if held is None else dataclasses.replace(held, principal=name)
    limits = dataclasses.replace(start, **changes)  # type: ignore[arg-type]
    await store.limits.put(limits)
    return limits


async def show_one(store: Store, name: str) -> str:
    """The limits ``name`` is held to, where they come from, and what it holds."""
    if name == DEFAULT_PRINCIPAL:
        return describe(await store.limits.get(name) or PrincipalLimits(name))
    holdings = await store.limits.holdings(name)
    usage = Usage.of(holdings.strategies)
    holds = (
        f"  {'holds':<17} {usage.strategies} strateg{'y' if usage.strategies == 1 else 'ies'}, "
        f"{usage.live_capital} of live capital\n"
    )
    held = held_to(holdings)
    if held is None:
        why = "the implicit owner" if name == OWNER_NAME else "no default ('*') is set"
        return f"{name}: unlimited ({why})\n{holds}"
    source = "" if holdings.own is not None else "the default '*'"
    return describe(dataclasses.replace(held, principal=name), source=source) + holds


def describe(limits: PrincipalLimits, source: str = "") -> str:
    capital, venues = limits.max_live_capital, limits.allowed_venues
    values = {
        "max_strategies": "unlimited" if limits.max_strategies is None else limits.max_strategies,
        "max_live_capital": "unlimited" if capital is None else capital,
        "allowed_venues": "all" if venues is None else ", ".join(venues) or "none",
    }
    title = "* (the default)" if limits.principal == DEFAULT_PRINCIPAL else limits.principal
    lines = [title + (f" (from {source})" if source else "")]
    lines += [f"  {field:<17} {value}" for field, value in values.items()]
    return "\n".join(lines) + "\n"


def _changes(args: argparse.Namespace) -> dict[str, object]:
    given = {
        "max_strategies": args.max_strategies,
        "max_live_capital": args.max_live_capital,
        "allowed_venues": args.venues,
    }
    changes = {field: value for field, value in given.items() if value is not None}
    for option in args.clear:
        if FIELDS[option] in changes:
            raise ConfigError(
                f"--clear {option}: that limit is also being set; give one or the other"
            )
        changes[FIELDS[option]] = None
    if not changes:
        raise ConfigError("nothing to change: give --max-strategies, --max-live-capital, "
                          "--venues or --clear")  # fmt: skip
    return changes


def _name(text: str) -> str:
    if not text or text != text.strip() or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"a principal's name, without spaces around it (got {text!r})"
        )
    return text


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text!r})")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {text})")
    return Decimal(format(value.copy_abs(), "f"))  # 1e3 is 1000, -0 is 0


def _venues(text: str) -> tuple[str, ...]:
    venues = tuple(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    if not venues:
        raise argparse.ArgumentTypeError("name at least one venue (or --clear venues for all)")
    unknown = [v for v in venues if v not in KNOWN_VENUES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown venue {', '.join(unknown)}; known: {', '.join(KNOWN_VENUES)}"
        )
    return venues
