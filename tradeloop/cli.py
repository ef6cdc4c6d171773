"""The ``tradeloop`` command. Each subcommand lives in ``tradeloop.commands.<name>`` and exposes
``register(subparsers)``; its handler returns the process exit code. Logs go to stderr only."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import Any, NoReturn

COMMANDS = (
    "serve",
    "run",
    "backtest",
    "compare",
    "candles",
    "db",
    "tokens",
    "limits",
    "strategies",
)
DESCRIPTION = """\
tradeloop runs trading strategies that decide with rules or an LLM, trade on paper (live trading
only when the operator turns it on), and keep every decision in a local database. Use it from a
chat assistant as an MCP server, or headless from the command line."""
EPILOG = """\
examples:
  tradeloop serve                                  MCP server over stdio (what Claude Desktop runs)
  tradeloop serve --http --port 8765               MCP over HTTP at http://127.0.0.1:8765/mcp
  tradeloop run --config strategy.json --replay ../shared/data
                                                   run a strategy headless on replayed candles
  tradeloop candles download --symbol BTC/USDT --interval 1h --since 2025-01-01 --out btc_1h.csv
  tradeloop backtest --config strategy.json --data btc_1h.csv --from 2025-02-01

'tradeloop COMMAND --help' shows a command's options and examples. Logs go to stderr."""


class HelpParser(argparse.ArgumentParser):
    """Keeps descriptions and examples as written (argparse's default reflows them into one
    paragraph, which breaks command examples); subcommand parsers inherit it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported (``tradeloop serve``
    must not pay for the imports of the other commands before answering its client)."""
    parser = HelpParser(prog="tradeloop", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    subparsers = parser.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND"
    )
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"tradeloop.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tradeloop.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def _requested_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line, if it is one of ours."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_requested_command(argv)).parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.handler(args) or 0)


def entry() -> NoReturn:
    """The console entry: run the command, then leave at once. The command has closed what it
    opened; the interpreter's own teardown of pandas, numba and the rest takes over a second,
    which would hold a ``tradeloop serve`` or ``run`` past the 2 s a service manager gives it
    after SIGTERM."""
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
