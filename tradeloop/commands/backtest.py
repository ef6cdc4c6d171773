"""``tradeloop backtest``: a strategy config over historical candles, with a progress bar, a
summary table and an equity chart (PNG).

    tradeloop backtest --config strategy.json --data binance_spot_BTCUSDT_1h.csv \\
        [--data ...] [--from 2025-01-01] [--to 2025-04-01] [--chart equity.png] [--db tradeloop.db]

The config is a strategy request (``{"trading_config": {...}, "exchange_config": {...}}``) or just
its ``trading_config``. LLM strategies print their cost estimate first; ``--estimate`` stops there.
With ``--db`` the finished run is stored there as a stopped strategy under its run id, for the
history tools of ``tradeloop serve`` (``list_trades``, ``get_digest``, ...); it is never started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tradeloop.backtest.models import CostEstimate
from tradeloop.backtest.runner import (
    DEFAULT_WARMUP_CANDLES,
    BacktestRun,
    BacktestSpec,
    estimate_backtest,
    run_backtest,
)
from tradeloop.backtest.table import llm_rows, side_by_side
from tradeloop.backtest.times import format_ts, parse_time_ms
from tradeloop.commands import sweep
from tradeloop.services.backtests import backtest_chart_png
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError, TradeloopError
from tradeloop.trading.models import UserRequest

logger = logging.getLogger(__name__)
BAR_WIDTH = 30


HELP = """\
Run a strategy config over historical candles with the same pipeline that trades (features,
decision, guardrails, paper fills, accounting), then print return, Sharpe, Sortino, drawdown,
trades, win rate, fees and exposure, and draw an equity chart (PNG). The config is a strategy
request ({"trading_config": {...}, "exchange_config": {...}}) or just its trading_config. An LLM
strategy prints its cost estimate first; --estimate stops there."""
EXAMPLES = """\
examples:
  tradeloop backtest --config strategy.json --data btc_1h.csv
  tradeloop backtest --config strategy.json --data ../shared/data --from 2025-01-01 \\
      --to 2025-04-01 --chart equity.png
  tradeloop backtest --config llm.json --data ../shared/data --estimate
      the LLM cost estimate only
  tradeloop backtest --config strategy.json --data ../shared/data --db tradeloop.db
      also store the run, for the history tools of 'tradeloop serve'"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest", help="run a strategy over historical candles", description=HELP, epilog=EXAMPLES
    )
    parser.add_argument("--config", required=True, type=Path, help="strategy JSON file")
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        help="candle CSV or folder (repeatable); SYMBOL@INTERVAL=FILE labels a file",
    )
    parser.add_argument("--from", dest="start", help="first cycle time (UTC date or ISO time)")
    parser.add_argument("--to", dest="end", help="last cycle time (UTC date or ISO time)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_CANDLES, help="candles")
    parser.add_argument("--chart", type=Path, help="PNG path (default: <config>-equity.png)")
    parser.add_argument("--fee-bps", type=float, help="override exchange_config.fee_bps")
    parser.add_argument("--slippage-bps", type=int, help="override max_slippage_bps")
    parser.add_argument("--max-cost-usd", type=float, help="stop an LLM backtest at this spend")
    parser.add_argument("--llm-cache", help="folder of cached LLM replies")
    parser.add_argument("--estimate", action="store_true", help="print the LLM estimate only")
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="leave out bad candle rows (counted in a warning) instead of refusing the file",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--no-fast-forward",
        dest="fast_forward",
        action="store_false",
        help="run every cycle through the pipeline (default: quiet cycles of a rule strategy in bulk)",
    )
    parser.add_argument(
        "--db", type=Path, help="store the finished run in this tradeloop database (default: not)"
    )
    sweep.add_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        spec = _spec(args)
        if args.sweep or args.walk_forward:
            return sweep.handle(args, spec)
        if args.estimate:
            _print_estimate(asyncio.run(estimate_backtest(spec)))
            return 0
        run = asyncio.run(_run(spec, args.db))
    except TradeloopError as exc:
        sys.stderr.write(f"tradeloop backtest: {exc}\n")
        return 2
    chart = args.chart or args.config.with_name(f"{args.config.stem}-equity.png")
    _write_chart(run, chart)
    if args.json:
        sys.stdout.write(run.summary().model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(summary_table(run, chart, stored=args.db))
    return 0 if run.status == "completed" else 1


def _spec(args: argparse.Namespace) -> BacktestSpec:
    request = load_request(args.config)
    request = _with_costs(request, args.fee_bps, args.slippage_bps)
    return BacktestSpec(
        request=request,
        data=list(args.data),
        start_ms=parse_time_ms(args.start) if args.start else None,
        end_ms=parse_time_ms(args.end) if args.end else None,
        warmup_candles=args.warmup,
        max_cost_usd=args.max_cost_usd,
        llm_cache_dir=args.llm_cache,
        skip_bad_rows=args.skip_bad_rows,
        fast_forward=args.fast_forward,
    )


def load_request(path: Path) -> UserRequest:
    """A request file, or a bare trading_config file."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if isinstance(body, dict) and "trading_config" not in body:
        body = {"trading_config": body}
    try:
        return UserRequest.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a valid strategy config:\n{exc}") from exc


def _with_costs(
    request: UserRequest, fee_bps: float | None, slippage_bps: int | None
) -> UserRequest:
    changes: dict[str, Any] = {}
    if fee_bps is not None:
        changes["fee_bps"] = fee_bps
    if slippage_bps is not None:
        changes["max_slippage_bps"] = slippage_bps
    if not changes:
        return request
    body = request.model_dump()
    body["exchange_config"].update(changes)
    return UserRequest.model_validate(body)


async def _run(spec: BacktestSpec, db: Path | None = None) -> BacktestRun:
    estimate = await estimate_backtest(spec)
    if estimate is not None:
        _print_estimate(estimate, stream=sys.stderr)
    bar = ProgressBar(sys.stderr)
    try:
        run = await run_backtest(spec, progress=bar.update, storable=db is not None)
    finally:
        bar.close()
    if db is not None:
        await _import(run, db)
    return run


async def _import(run: BacktestRun, db: Path) -> None:
    async with StrategyService.open(Settings(db_path=db), resume=False) as service:
        info = await service.import_backtest(run)
    logger.info("stored backtest run_id=%s in %s as %r", run.run_id, db, info.name)


class ProgressBar:
    """``[#####.....]  45 %  7,900/17,421 cycles  equity ...`` on one redrawn line (a TTY) or a
    line per tenth (a file or pipe)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_tenth = -1

    async def update(self, done: int, total: int, message: str) -> None:
        share = done / total if total else 1.0
        filled = int(share * BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share * 100:5.1f} %  "
            f"{done:,}/{total:,} cycles  {message}"
        )
        if self._tty:
            self._stream.write("\r" + line)
        elif int(share * 10) > self._last_tenth:
            self._last_tenth = int(share * 10)
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


def _write_chart(run: BacktestRun, path: Path) -> None:
    path.write_bytes(backtest_chart_png(run))


def summary_table(run: BacktestRun, chart: Path | None = None, stored: Path | None = None) -> str:
    """The run's status, then its metrics side by side with buy-and-hold and the default rules."""
    s = run.summary()
    stats = s.stats
    head = (
        f"Backtest {s.run_id}  {', '.join(s.symbols)}  "
        f"{format_ts(s.start_ms)} -> {format_ts(s.end_ms)}  ({s.cycles_done:,} cycles)"
    )
    text = head + "\n" + f"  Status  {s.status}" + (f": {s.stop_reason}" if s.stop_reason else "")
    text += "\n"
    for warning in s.warnings:
        text += f"  WARNING  {warning}\n"
    if stats is not None:
        columns = [("strategy", stats)] + [(b.name.replace("_", " "), b.stats) for b in s.baselines]
        decisions = [s.llm_decisions] + [None] * len(s.baselines)
        text += "\n" + side_by_side(columns, llm_rows(decisions)) + "\n"
    rows: list[tuple[str, str]] = []
    if stats is not None:
        rows.append(("Max drawdown duration", _days(stats.max_drawdown_duration_ms)))
    if s.llm is not None:
        spend = (
            f"{s.llm.spent_usd:.4f} USD"
            if not s.llm.unpriced_calls
            else f"unknown ({s.llm.unpriced_calls} calls to a model without a price)"
        )
        rows.append(("LLM", f"{s.llm.calls} calls, {s.llm.cache_hits} cached, {spend}"))
    rows.append(("Speed", f"{s.candles_per_s:,.0f} candles/s  ({s.elapsed_s:.1f} s)"))
    if run.pipeline_cycles < s.cycles_done:
        rows.append(
            (
                "Fast-forward",
                f"{run.pipeline_cycles:,} of {s.cycles_done:,} cycles through the pipeline",
            )
        )
    if s.error_cycles:
        rows.append(("Error cycles", str(s.error_cycles)))
    if chart is not None:
        rows.append(("Chart", str(chart)))
    if stored is not None:
        rows.append(("Stored", f"{stored} (strategy id {s.run_id})"))
    width = max(len(label) for label, _ in rows)
    return text + "".join(f"  {label:<{width}}  {value}\n" for label, value in rows)


def _print_estimate(estimate: CostEstimate | None, stream: Any = None) -> None:
    stream = stream or sys.stdout
    if estimate is None:
        stream.write("rule composer: no LLM cost\n")
        return
    cached = "  (first cycle cached: likely a free re-run)" if estimate.first_cycle_cached else ""
    if estimate.cost_usd is None or estimate.max_cost_usd is None:
        cost = "cost unknown (no price for this model; set llm_model_config.price)"
    else:
        cost = f"~{estimate.cost_usd:.2f} USD (at most {estimate.max_cost_usd:.2f})"
    stream.write(
        f"LLM estimate: {estimate.cycles:,} cycles of {estimate.model}, "
        f"~{estimate.total_tokens:,} tokens, {cost}{cached}\n"
    )


def _days(ms: int) -> str:
    return f"{ms / 86_400_000:.1f} days"
