"""``tradeloop backtest --sweep``: a parameter sweep of a rule strategy, printed as a table.

    tradeloop backtest --config c.json --data btc_1h.csv --sweep rsi_buy=20:40:5 \\
        --sweep rsi_sell=60:80:5 [--sort-by sharpe] [--walk-forward 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tradeloop.backtest.sweep import METRICS, parse_grid, run_sweep
from tradeloop.backtest.sweep_models import ParamValue, SweepResult
from tradeloop.backtest.times import format_ts
from tradeloop.trading.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sweep",
        action="append",
        metavar="NAME=START:STOP:STEP",
        help="vary a rules parameter (repeatable; also NAME=V1,V2); runs every combination",
    )
    parser.add_argument(
        "--sort-by", default="sharpe", choices=list(METRICS), help="sweep: rank by this (sharpe)"
    )
    parser.add_argument(
        "--walk-forward",
        type=int,
        metavar="FOLDS",
        help="sweep: pick the best set on each part, report it on the next part only",
    )
    parser.add_argument("--workers", type=int, help="sweep: processes (default: one per core)")


def handle(args: argparse.Namespace, spec: Any) -> int:
    """Run the sweep of ``args`` over ``spec`` and print its table; TradeloopError propagates."""
    if not args.sweep:
        raise ConfigError("--walk-forward: needs --sweep (the parameters to choose between)")
    grid = parse_grid(args.sweep)
    result = run_sweep(
        spec, grid, sort_by=args.sort_by, walk_forward=args.walk_forward, workers=args.workers
    )
    if args.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(sweep_table(result))
    return 0


def sweep_table(result: SweepResult) -> str:
    names = list(result.grid)
    head = (
        f"Sweep of {', '.join(names)}: {result.parameter_sets:,} parameter sets on "
        f"{result.workers} processes in {result.elapsed_s:.1f} s, sorted by {result.sort_by}\n"
    )
    if result.skipped:
        head += f"  skipped {len(result.skipped)} refused sets, e.g. {result.skipped[0]}\n"
    columns = ["return %", "sharpe", "sortino", "max dd %", "trades", "win %"]
    if result.walk_forward is not None:
        lines = [
            _row(
                ["fold", "out of sample", *names, "in-sample " + result.sort_by, *columns],
                [4, 33, *(_width(n) for n in names), 18, *(9 for _ in columns)],
            )
        ]
        for fold in result.walk_forward:
            span = f"{format_ts(fold.out_of_sample_start_ms)} -> {format_ts(fold.out_of_sample_end_ms)}"
            lines.append(
                _row(
                    [
                        str(fold.fold),
                        span,
                        *(_value(fold.params[n]) for n in names),
                        _num(fold.in_sample_metric),
                        *_stats(fold.out_of_sample),
                    ],
                    [4, 33, *(_width(n) for n in names), 18, *(9 for _ in columns)],
                )
            )
        oos = result.out_of_sample_return_pct
        tail = f"out-of-sample return, folds compounded: {_num(oos)} %\n"
        return head + "\n".join(lines) + "\n" + tail
    widths = [*(_width(n) for n in names), *(9 for _ in columns)]
    lines = [_row([*names, *columns], widths)]
    for row in result.rows:
        lines.append(_row([*(_value(row.params[n]) for n in names), *_stats(row.stats)], widths))
    return head + "\n".join(lines) + "\n"


def _stats(stats: Any) -> list[str]:
    return [
        f"{stats.total_return_pct:+.2f}",
        _num(stats.sharpe_ratio),
        _num(stats.sortino_ratio),
        f"{stats.max_drawdown_pct:.2f}",
        str(stats.trades),
        _num(stats.win_rate_pct, 1),
    ]


def _row(cells: list[str], widths: list[int]) -> str:
    return "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))


def _width(name: str) -> int:
    return max(len(name), 7)


def _value(value: ParamValue) -> str:
    return str(value).lower() if isinstance(value, bool) else f"{value:g}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
