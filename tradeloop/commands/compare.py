"""``tradeloop compare``: several strategy configs over the same candles and window, side by side
with buy-and-hold and the default rules strategy, one chart with every equity curve.

    tradeloop compare --config rules.json --config llm-default.json --config llm-aggressive.json \\
        --data ../shared/data [--from 2025-01-01] [--to 2025-07-01] [--repeats 5] [--chart cmp.png]

Each config is a strategy request or a bare ``trading_config``; its label is its
``strategy_name`` or its file name. With ``--repeats K`` every LLM strategy runs K times with the
reply cache off, and each metric is shown as ``mean [95 % CI]`` with how many runs beat
buy-and-hold.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from tradeloop.backtest.chart import comparison_chart_png
from tradeloop.backtest.compare import compare, metric_cell
from tradeloop.backtest.table import METRICS, llm_rows, render
from tradeloop.backtest.times import format_ts, parse_time_ms
from tradeloop.commands.backtest import load_request
from tradeloop.trading.errors import TradeloopError
from tradeloop.trading.models import UserRequest

HELP = """\
Run several strategy configs over the same candles and window, side by side with buy-and-hold
and the default rules strategy, and draw one chart with every equity curve. Each config is a
strategy request or a bare trading_config, labelled by its strategy_name or file name. With
--repeats K every LLM strategy runs K times with the reply cache off, and each metric shows as
mean [95 % CI] with how many runs beat buy-and-hold."""
EXAMPLES = """\
examples:
  tradeloop compare --config rules.json --config llm.json --data ../shared/data
  tradeloop compare --config llm-default.json --config llm-aggressive.json \\
      --data ../shared/data --from 2025-01-01 --to 2025-07-01 --repeats 5 --chart cmp.png"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare strategy configs against buy-and-hold",
        description=HELP,
        epilog=EXAMPLES,
    )
    parser.add_argument("--config", action="append", required=True, type=Path, help="repeatable")
    parser.add_argument("--data", action="append", required=True, help="candle CSV or folder")
    parser.add_argument("--from", dest="start", help="first cycle time (UTC date or ISO time)")
    parser.add_argument("--to", dest="end", help="last cycle time (UTC date or ISO time)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per LLM strategy (cache off)")
    parser.add_argument("--chart", type=Path, default=Path("comparison.png"), help="PNG path")
    parser.add_argument("--llm-cache", help="folder of cached LLM replies (single runs)")
    parser.add_argument("--max-cost-usd", type=float, help="stop each LLM run at this spend")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        entries = labelled(args.config)

        async def progress(label: str, index: int, runs: int) -> None:
            sys.stderr.write(f"running {label} ({index + 1}/{runs})\n")
            sys.stderr.flush()

        done = asyncio.run(
            compare(
                entries,
                list(args.data),
                start_ms=parse_time_ms(args.start) if args.start else None,
                end_ms=parse_time_ms(args.end) if args.end else None,
                repeats=args.repeats,
                llm_cache_dir=args.llm_cache,
                max_cost_usd=args.max_cost_usd,
                progress=progress,
            )
        )
    except TradeloopError as exc:
        sys.stderr.write(f"tradeloop compare: {exc}\n")
        return 2
    capital = entries[0][1].trading_config.initial_capital
    title = f"{len(entries)} strategies vs buy and hold"
    args.chart.write_bytes(comparison_chart_png(done.curves, title=title, initial_capital=capital))
    if args.json:
        sys.stdout.write(done.result.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(comparison_report(done.result, args.chart))
    return 0


def labelled(paths: list[Path]) -> list[tuple[str, UserRequest]]:
    """Each config with its label: its strategy_name, else its file name (made unique)."""
    out: list[tuple[str, UserRequest]] = []
    for path in paths:
        request = load_request(path)
        label = request.trading_config.strategy_name or path.stem
        taken = {existing for existing, _ in out}
        unique, n = label, 2
        while unique in taken:
            unique, n = f"{label} ({n})", n + 1
        out.append((unique, request))
    return out


def comparison_report(result: Any, chart: Path | None = None) -> str:
    """The comparison as text: the side-by-side table, repeats, regimes, warnings."""
    head = f"Comparison  {format_ts(result.start_ms)} -> {format_ts(result.end_ms)}" + (
        f"  ({result.repeats} runs per LLM strategy, cache off)" if result.repeats > 1 else ""
    )
    names = [s.label for s in result.strategies] + ["buy and hold", "default rules"]
    rows: list[tuple[str, list[str]]] = []
    for label, show in METRICS:
        cells = [show(s.stats) for s in result.strategies]
        rows.append((label, cells + [show(result.buy_and_hold), show(result.default_rules)]))
    rows.append(
        (
            "Beat buy and hold",
            [f"{s.beat_buy_and_hold}/{s.runs}" for s in result.strategies] + ["-", "-"],
        )
    )
    first = [s.llm_decisions[0] if s.llm_decisions else None for s in result.strategies]
    rows += llm_rows(first + [None, None])
    text = head + "\n\n" + render(names, rows)
    repeated = [s for s in result.strategies if s.intervals]
    if repeated:
        text += "\nMean [95 % confidence interval] over the runs (Student t):\n"
        ci_rows = [
            (label, [metric_cell(s, metric, _fmt) for s in repeated]) for label, metric in _CI_ROWS
        ]
        text += render([s.label for s in repeated], ci_rows)
    text += "\nReturns by market regime (trailing 30-day buy-and-hold: up > +10 %, down < -10 %):\n"
    regime_rows = [
        (
            f"{r.regime} ({r.share_pct:.0f} % of time)",
            [_signed(r.returns_pct.get(name)) for name in names[:-1]],
        )
        for r in result.regimes
    ]
    text += render(names[:-1], regime_rows)
    for warning in result.warnings:
        text += f"WARNING  {warning}\n"
    if chart is not None:
        text += f"Chart  {chart}\n"
    return text


_CI_ROWS = (
    ("Total return %", "total_return_pct"),
    ("Sharpe", "sharpe_ratio"),
    ("Max drawdown %", "max_drawdown_pct"),
    ("Trades", "trades"),
    ("Win rate %", "win_rate_pct"),
    ("Fees", "fees_paid"),
)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} %"
