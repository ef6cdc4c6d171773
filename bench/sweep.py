"""100 parameter sets of the RSI rule over one file: our sweep against backtesting.py's ``optimize``.

The grid: RSI buy threshold 20, 22, ..., 38 x sell threshold 60, 62, ..., 78, on
``binance_spot_BTCUSDT_1h.csv`` with the strategy, costs and sizing of ``bench/backtest.py``. Ours is
``tradeloop.backtest.sweep.run_sweep`` (one process per core, every set a full backtest with
fast-forward); theirs is ``FractionalBacktest.optimize`` over the same 100 sets (its own process
pool), maximizing the return. Both wall times include starting the worker processes; neither
includes reading the file before the first round. Both should pick the same best set with the
same return.

    .venv/bin/python bench/sweep.py [--data FILE] [--repeat 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars would garble the table

from bench.backtest import (  # noqa: E402
    CAPITAL,
    DATA,
    FEE_BPS,
    HEADROOM_BPS,
    WARMUP,
    candles_frame,
    request,
)

BUY = list(range(20, 40, 2))
SELL = list(range(60, 80, 2))
TARGET_S = 10.0


def ours(data: Path, workers: int) -> tuple[Any, float]:
    from tradeloop.backtest.runner import BacktestSpec
    from tradeloop.backtest.sweep import parse_grid, run_sweep

    spec = BacktestSpec(request=request(), data=[f"BTC-USDT@1h={data}"], warmup_candles=WARMUP)
    grid = parse_grid(
        {"rsi_buy_below": ",".join(map(str, BUY)), "rsi_sell_above": ",".join(map(str, SELL))}
    )
    started, cpu = time.perf_counter(), _cpu_s()
    result = run_sweep(spec, grid, sort_by="return", workers=workers)
    CPU["ours"].append(_cpu_s() - cpu)
    return result, time.perf_counter() - started


CPU: dict[str, list[float]] = {"ours": [], "theirs": []}
"""CPU seconds of each round, this process and its finished workers: unlike wall time, not
inflated by other work on a shared machine."""


def _cpu_s() -> float:
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_SIGNALS: dict[str, Any] = {}
"""The RSI column and bar count for ``RsiSweep``: module globals, which backtesting.py's forked
workers inherit (its optimizer pickles the strategy class by name)."""


def _strategy() -> Any:
    from backtesting import Strategy

    class RsiSweep(Strategy):
        rsi_buy = 30
        rsi_sell = 70

        def init(self) -> None:
            self.rsi = self.I(lambda: _SIGNALS["rsi"], name="RSI")

        def next(self) -> None:
            bar = len(self.data) - 1
            if bar < WARMUP - 1 or bar >= _SIGNALS["bars"]:
                return
            value = self.rsi[-1]
            if self.position and value > self.rsi_sell:
                self.position.close()
            elif not self.position and value < self.rsi_buy:
                self.buy(size=_SIGNALS["size"])

    RsiSweep.__qualname__ = RsiSweep.__name__ = "RsiSweep"
    globals()["RsiSweep"] = RsiSweep
    return RsiSweep


def theirs(data: Path) -> tuple[Any, float]:
    import numpy as np
    from backtesting.lib import FractionalBacktest

    from tradeloop.trading.features.indicators import indicator_frame

    frame = candles_frame(data)
    bars = len(frame) - 1
    rsi = indicator_frame(frame.rename(columns=str.lower).iloc[:bars])["rsi"].to_numpy()
    _SIGNALS.update(
        rsi=np.append(rsi, rsi[-1]),
        bars=bars,
        size=(1 + FEE_BPS / 1e4) / (1 + HEADROOM_BPS / 1e4),
    )
    bt = FractionalBacktest(
        frame,
        globals().get("RsiSweep") or _strategy(),
        cash=CAPITAL,
        commission=FEE_BPS / 1e4,
        trade_on_close=True,
        finalize_trades=False,
        fractional_unit=1e-10,
    )
    started, cpu = time.perf_counter(), _cpu_s()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = bt.optimize(rsi_buy=BUY, rsi_sell=SELL, maximize="Return [%]")
    CPU["theirs"].append(_cpu_s() - cpu)
    return best, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; best and median reported")
    parser.add_argument("--workers", type=int, default=2, help="our processes (default 2)")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"no candles at {args.data}")
    ours_s, theirs_s = [], []
    result = best = None
    for i in range(args.repeat):
        result, seconds = ours(args.data, args.workers)
        ours_s.append(seconds)
        best, seconds = theirs(args.data)
        theirs_s.append(seconds)
        print(f"round {i + 1}: ours {ours_s[-1]:.2f} s, backtesting.py {seconds:.2f} s", flush=True)
    assert result is not None and best is not None
    top = result.rows[0]
    their_params = (int(best._strategy.rsi_buy), int(best._strategy.rsi_sell))
    print(
        f"data: {args.data.name}; {result.parameter_sets} parameter sets; {result.workers} processes"
    )
    print(f"{'':26}{'tradeloop':>14}{'backtesting.py':>16}")
    print(f"{'wall s (best)':26}{min(ours_s):>14.2f}{min(theirs_s):>16.2f}")
    print(
        f"{'wall s (median)':26}{statistics.median(ours_s):>14.2f}{statistics.median(theirs_s):>16.2f}"
    )
    print(
        f"{'per round':26}{', '.join(f'{s:.2f}' for s in ours_s):>14}  {', '.join(f'{s:.2f}' for s in theirs_s)}"
    )
    ours_params = (int(top.params["rsi_buy_below"]), int(top.params["rsi_sell_above"]))
    print(f"{'best set (buy, sell)':26}{str(ours_params):>14}{str(their_params):>16}")
    print(
        f"{'best return %':26}{top.stats.total_return_pct:>14.2f}{float(best['Return [%]']):>16.2f}"
    )
    print(f"{'best set trades':26}{top.stats.trades:>14}{int(best['# Trades']):>16}")
    print(f"{'CPU s, all processes (min)':26}{min(CPU['ours']):>14.2f}{min(CPU['theirs']):>16.2f}")
    ratio = statistics.median(theirs_s) / statistics.median(ours_s)
    print(f"speed ratio backtesting.py time / ours (median): {ratio:.2f}")
    print(
        f"target under {TARGET_S:.0f} s (best round): "
        + ("met" if min(ours_s) < TARGET_S else "NOT met")
        + f"; same best set: {'yes' if ours_params == their_params else 'NO'}"
    )


if __name__ == "__main__":
    main()
