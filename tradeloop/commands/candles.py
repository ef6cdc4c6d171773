"""``tradeloop candles download``: historical candles from a ccxt venue into the replay CSV format.

    tradeloop candles download --exchange binance --symbol BTC/USDT --interval 1h \\
        --since 2025-01-01 [--until 2025-04-01] --out binance_spot_BTCUSDT_1h.csv

Paginated, throttled by ccxt's rate limiter, and resumable: run the same command again after an
interruption (or later, to extend the file) and it continues from the last candle written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from tradeloop.backtest.download import DEFAULT_PAGE_LIMIT, DownloadResult, download_candles
from tradeloop.backtest.times import format_ts, parse_time_ms
from tradeloop.trading.data.exchanges import ExchangeKey, close_all, get_exchange
from tradeloop.trading.errors import ConfigError, TradeloopError
from tradeloop.trading.models import MarketType
from tradeloop.trading.utils import normalize_symbol, to_ccxt_symbol

DOWNLOAD_HELP = """\
Download OHLCV candles from an exchange (through ccxt) into a CSV file that 'tradeloop serve
--replay', 'tradeloop run --replay' and 'tradeloop backtest' read. Paginated and resumable: run
the same command again after an interruption, or later to extend the file, and it continues from
the last candle written."""
EXAMPLES = """\
examples:
  tradeloop candles download --exchange binance --symbol BTC/USDT --interval 1h \\
      --since 2025-01-01 --out binance_spot_BTCUSDT_1h.csv
  tradeloop candles download --symbol ETH-USDT --interval 5m --since 2025-03-01 \\
      --until 2025-04-01 --out binance_spot_ETHUSDT_5m.csv"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "candles",
        help="historical candle files",
        description="Historical candle files, in the CSV format that --replay and backtest read.",
        epilog=EXAMPLES,
    )
    actions = parser.add_subparsers(dest="candles_action", required=True, metavar="ACTION")
    download = actions.add_parser(
        "download",
        help="download candles from an exchange into a CSV file",
        description=DOWNLOAD_HELP,
        epilog=EXAMPLES,
    )
    download.add_argument("--exchange", default="binance", help="ccxt exchange id")
    download.add_argument("--symbol", required=True, help="BTC/USDT, BTC-USDT or BTCUSDT")
    download.add_argument("--interval", required=True, help="1m, 5m, 1h, 4h, 1d, ...")
    download.add_argument("--since", required=True, help="first candle (UTC date or ISO time)")
    download.add_argument("--until", help="end, exclusive (default: the last closed candle)")
    download.add_argument("--out", required=True, type=Path, help="CSV file to write or extend")
    download.add_argument("--market-type", choices=[m.value for m in MarketType], default="spot")
    download.add_argument("--testnet", action="store_true")
    download.add_argument("--page-limit", type=int, default=DEFAULT_PAGE_LIMIT)
    download.set_defaults(handler=handle_download)


def handle_download(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_download(args))
    except TradeloopError as exc:
        sys.stderr.write(f"\ntradeloop candles download: {exc}\n")
        return 2
    sys.stdout.write(
        f"{result.path}: {result.total_rows:,} candles ({result.new_rows:,} new) "
        f"from {format_ts(result.first_ts)} to {format_ts(result.last_ts)}"
        + (f", {result.gaps} gaps at the venue" if result.gaps else "")
        + "\n"
    )
    return 0


async def _download(args: argparse.Namespace) -> DownloadResult:
    market_type = MarketType(args.market_type)
    try:
        symbol = to_ccxt_symbol(
            normalize_symbol(args.symbol), perpetual=market_type is MarketType.PERPETUAL
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    key = ExchangeKey(args.exchange, market_type, args.testnet)
    try:
        exchange = await get_exchange(key)
        return await download_candles(
            exchange,
            symbol,
            args.interval,
            args.out,
            since_ms=parse_time_ms(args.since),
            until_ms=parse_time_ms(args.until) if args.until else None,
            page_limit=args.page_limit,
            progress=_progress,
        )
    finally:
        await close_all()


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r{done:,}/{total:,} candles")
    sys.stderr.flush()
