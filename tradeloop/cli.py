"""The ``tradeloop`` command. Each subcommand lives in ``tradeloop.commands.<name>`` and exposes
``register(subparsers)``; its handler returns the process exit code. Logs go to stderr only."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = ("serve", "run", "backtest", "candles")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradeloop", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"tradeloop.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tradeloop.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
