"""``tradeloop serve``: the MCP server over stdio (default) or streamable HTTP.

Importing this module must stay cheap (``tradeloop --help`` imports every command): the server,
mcp and everything behind them are imported in the handler.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tradeloop.trading.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 8765
DEFAULT_TOKENS = ""
"""``--tokens`` without a path: the tokens file beside the database."""


HELP = """\
Run the tradeloop MCP server, for Claude Desktop or any MCP client. Strategies are stored in the
database and those that were running resume when the server starts. Over stdio, stdout carries
only protocol messages; logs go to stderr. SIGTERM or Ctrl-C stops it within 2 seconds."""
EXAMPLES = """\
examples:
  tradeloop serve
      stdio, what a desktop host launches
  tradeloop serve --replay ../shared/data
      market data replayed from candle CSVs on simulated time
  tradeloop serve --http --port 8765
      streamable HTTP at http://127.0.0.1:8765/mcp (loopback only)
  TRADELOOP_HTTP_TOKEN=secret tradeloop serve --http --host 0.0.0.0 \\
      --allowed-host myhost:8765 --allowed-origin https://myhost:8765
      reachable from other machines; clients send 'Authorization: Bearer secret'
  tradeloop serve --http --host 0.0.0.0 --tokens
      one server for several people: each sends a token from 'tradeloop tokens add NAME'
      and sees only their own strategies
  tradeloop serve --http --oauth-issuer https://tenant.eu.auth0.com/ \\
      --oauth-resource https://trade.example.com/mcp
      OAuth 2.1: JWT access tokens of that issuer for that resource (behind a TLS proxy);
      remote connectors (Claude, ChatGPT) find the issuer in the served metadata

environment: TRADELOOP_DB, TRADELOOP_REPLAY_DIR, TRADELOOP_HTTP_TOKEN, TRADELOOP_TOKENS_FILE,
ANTHROPIC_API_KEY, TRADELOOP_LIVE_TRADING, TRADELOOP_OAUTH_ISSUER, TRADELOOP_OAUTH_RESOURCE,
TRADELOOP_OAUTH_AUDIENCE, TRADELOOP_OAUTH_JWKS_URL, TRADELOOP_OAUTH_READ_SCOPE,
TRADELOOP_OAUTH_TRADE_SCOPE (see the README)."""
OAUTH_FLAGS = {
    "issuer": "the authorization server whose JWT access tokens are accepted, exactly as the "
    "tokens' iss claim (also TRADELOOP_OAUTH_ISSUER)",
    "resource": "this server's public MCP URL, e.g. https://trade.example.com/mcp "
    "(also TRADELOOP_OAUTH_RESOURCE)",
    "audience": "the aud tokens must carry (default: the resource URL; "
    "also TRADELOOP_OAUTH_AUDIENCE)",
    "jwks-url": "the issuer's signing keys (default: from its discovery document; "
    "also TRADELOOP_OAUTH_JWKS_URL)",
    "read-scope": "the scope that lets a token read (default tradeloop:read; "
    "also TRADELOOP_OAUTH_READ_SCOPE)",
    "trade-scope": "the scope that lets a token change things (default tradeloop:trade; "
    "also TRADELOOP_OAUTH_TRADE_SCOPE)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the MCP server (stdio by default; --http for streamable HTTP)",
        description=HELP,
        epilog=EXAMPLES,
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_HTTP_PORT, help="HTTP port")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="extra Host header value to accept over HTTP (repeatable; e.g. myhost:8765)",
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="extra Origin to accept over HTTP (repeatable; e.g. https://myhost:8765)",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="DIR",
        help="serve market data from the candle CSVs in DIR on simulated time "
        "(also TRADELOOP_REPLAY_DIR)",
    )
    parser.add_argument("--db", help="SQLite file path or postgresql://... URL (also TRADELOOP_DB)")
    parser.add_argument(
        "--tokens",
        nargs="?",
        const=DEFAULT_TOKENS,
        metavar="PATH",
        help="accept the bearer tokens of this tokens file (made by 'tradeloop tokens add'); "
        "without PATH the one beside the database (also TRADELOOP_TOKENS_FILE)",
    )
    oauth = parser.add_argument_group("OAuth 2.1 resource server (HTTP)")
    for flag, text in OAUTH_FLAGS.items():
        oauth.add_argument(f"--oauth-{flag}", metavar=flag.split("-")[-1].upper(), help=text)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # lazy: `tradeloop --help` imports every command; the server and mcp cost it seconds
    from tradeloop.commands._loop import run_then_leave
    from tradeloop.server import transports
    from tradeloop.server.app import build_server
    from tradeloop.server.oauth_config import OAuthConfig
    from tradeloop.services.market import check_replay_dir
    from tradeloop.services.tokens_file import default_tokens_path
    from tradeloop.settings import Settings

    try:
        overrides = {
            "db_path": args.db or None,
            "replay_dir": args.replay,
            "tokens_file": Path(args.tokens).expanduser() if args.tokens else None,
            **{f"oauth_{flag.replace('-', '_')}": _flag(args, flag) for flag in OAUTH_FLAGS},
        }
        settings = Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
        if settings.replay_dir is not None:
            given = check_replay_dir(settings.replay_dir.expanduser())  # named as given
            settings = settings.model_copy(update={"replay_dir": given.resolve()})
        if args.tokens == DEFAULT_TOKENS:
            settings = settings.model_copy(update={"tokens_file": default_tokens_path(settings)})
        oauth = OAuthConfig.of(settings)
        if args.http:
            authenticated = (settings.http_token, settings.tokens_file, oauth)
            transports.check_bind(args.host, any(a is not None for a in authenticated))
        server = build_server(settings, warm_up_join_s=0)  # the process leaves with os._exit
    except ConfigError as exc:
        sys.stderr.write(f"tradeloop serve: {exc}\n")  # stderr: stdout is the MCP channel
        return 2
    if args.http:
        run_then_leave(
            transports.serve_http(
                server, args.host, args.port, args.allowed_host, args.allowed_origin
            )
        )
    else:
        run_then_leave(transports.serve_stdio(server))
    return 0


def _flag(args: argparse.Namespace, flag: str) -> str | None:
    value = getattr(args, f"oauth_{flag.replace('-', '_')}")
    return value or None
