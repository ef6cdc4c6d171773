"""``tradeloop tokens``: the bearer tokens of the tokens file, one principal each.

``add`` prints the new token on stdout and nothing else (``TOKEN=$(tradeloop tokens add bob)``
works); everything else goes to stderr. No command ever shows a token again, nor its hash.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from tradeloop.trading.errors import ConfigError

if TYPE_CHECKING:
    from tradeloop.services.tokens_file import TokensFile

HELP = """\
Bearer tokens for 'tradeloop serve --http --tokens': each token has a name, the principal it
stands for (who owns the strategies it creates), and read or trade access. The file holds only a
hash of each token: a token is shown once, when it is added; a lost token is revoked and added
again. A revoked token stops working at the server's next request, without a restart. The file
is the one beside the database unless --file or TRADELOOP_TOKENS_FILE names another."""
EXAMPLES = """\
examples:
  tradeloop tokens add alice                 a token that may read and trade, printed once
  tradeloop tokens add auditor --read-only   a token for the read tools only
  tradeloop tokens list                      names, access and creation times
  tradeloop tokens revoke alice              alice's token stops working
  tradeloop tokens add bob --file /etc/tradeloop/tokens.json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokens", help="add, list or revoke the bearer tokens of a shared server",
        description=HELP, epilog=EXAMPLES,
    )  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="make a token for NAME and print it once")
    add.add_argument("name", metavar="NAME", help="the principal: letters, digits, _ . @ -")
    add.add_argument("--read-only", action="store_true", help="read tools only, no trading")
    revoke = actions.add_parser("revoke", help="remove NAME's token")
    revoke.add_argument("name", metavar="NAME")
    listing = actions.add_parser("list", help="names, access and creation times")
    for action in (add, revoke, listing):
        action.add_argument(
            "--file", type=Path, metavar="PATH", help="the tokens file (also TRADELOOP_TOKENS_FILE)"
        )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tradeloop.services import tokens_file as tokens  # lazy: pydantic, for --help's speed
    from tradeloop.settings import Settings

    try:
        path = tokens.tokens_path(Settings.from_env(tokens_file=args.file))
        if args.action == "add":
            access: tokens.Access = "read" if args.read_only else "trade"
            token = tokens.add_token(path, args.name, access)
            sys.stdout.write(token + "\n")
            sys.stderr.write(
                f"added {args.name!r} ({access} access) to {path}; the token above is shown only "
                "this once: hand it to its holder, who sends it as 'Authorization: Bearer <token>'\n"
            )
        elif args.action == "revoke":
            tokens.revoke_token(path, args.name)
            sys.stderr.write(f"revoked {args.name!r} in {path}\n")
        else:
            sys.stdout.write(_listing(tokens.read_tokens(path)))
    except ConfigError as exc:
        sys.stderr.write(f"tradeloop tokens {args.action}: {exc}\n")
        return 2
    return 0


def _listing(file: TokensFile) -> str:
    rows = [f"{'name':<24} {'access':<7} created (UTC)"]
    rows += [
        f"{t.name:<24} {t.access:<7} {t.created.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        for t in file.tokens
    ]
    return "\n".join(rows) + "\n"
