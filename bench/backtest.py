"""Our backtest runner against backtesting.py on the same candles, rule and costs.

The rule: RSI 14 (Wilder) below 30 buys with all cash, above 70 closes; long only; 10 bps fee per
fill; no slippage; first decision once 100 candles have closed. Both engines fill at the close of
the candle the decision saw (backtesting.py: ``trade_on_close=True``) and are sized alike: our
guardrails keep ``fee + slippage + 20`` bps of headroom, so we spend cash / 1.003 per entry, and
backtesting.py gets ``size = 1.001 / 1.003`` of its margin (its sizing divides by price x (1 + fee)).
It trades in 1e-10 BTC units (``FractionalBacktest``), we round down at 1e-12.

backtesting.py processes an order on the bar after the one that placed it, so an order from the
last bar would never fill; a copy of the last bar is appended to its data, on which it does not
trade, so that both act on every real close and mark their final equity at the same last close.

Ours runs twice per round: with fast-forward (the default: quiet cycles applied in bulk) and cycle by
cycle (``fast_forward=False``); the three engines take turns in each round, so a busy machine slows
them alike and the ratios of one round stay comparable.

    .venv/bin/python bench/backtest.py [--data FILE] [--repeat 5] [--profile [--per-cycle]] [--stages]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars would garble the table

DATA = ROOT.parent / "shared" / "data" / "binance_spot_BTCUSDT_1h.csv"
CAPITAL = 10_000.0
FEE_BPS = 10.0
WARMUP = 100
RSI_BUY, RSI_SELL = 30.0, 70.0
HEADROOM_BPS = FEE_BPS + 0 + 20  # fee + slippage + BUYING_POWER_SLIPPAGE_BUFFER_BPS

TARGET_CANDLES_PER_S = 10_000
"""One symbol, rule composer, every cycle through the pipeline (issue 7)."""
TARGET_RATIO = 1.0
"""Fast-forward against backtesting.py on the same strategy (issue 18)."""


def request() -> Any:
    from tradeloop.trading.models import UserRequest

    return UserRequest.model_validate(
        {
            "exchange_config": {"fee_bps": FEE_BPS, "max_slippage_bps": 0},
            "trading_config": {
                "strategy_name": "bench rsi 30/70",
                "initial_capital": CAPITAL,
                "symbols": ["BTC-USDT"],
                "decide_interval": 3600,
                "feature_intervals": ["1h"],
                "rules": {
                    "rsi_buy_below": RSI_BUY,
                    "rsi_sell_above": RSI_SELL,
                    "position_size_pct": 1.0,
                },
            },
        }
    )


# --------------------------------------------------------------------------- ours


async def run_ours(data: Path, fast_forward: bool = True) -> Any:
    from tradeloop.backtest.runner import BacktestSpec, run_backtest

    return await run_backtest(
        BacktestSpec(
            request=request(),
            data=[f"BTC-USDT@1h={data}"],
            warmup_candles=WARMUP,
            fast_forward=fast_forward,
            baselines=False,  # backtesting.py computes none either
        )
    )


CPU: dict[str, list[float]] = {"fast": [], "slow": [], "theirs": []}
"""Candles per CPU second (``time.process_time``) of each run: on a shared machine wall time counts
the time other processes held the core; CPU time does so far less."""


def ours(data: Path, fast_forward: bool) -> tuple[Any, float]:
    cpu = time.process_time()
    run = asyncio.run(run_ours(data, fast_forward))
    CPU["fast" if fast_forward else "slow"].append(
        run.cycles_done / max(time.process_time() - cpu, 1e-9)
    )
    return run, run.summary().candles_per_s


# --------------------------------------------------------------------------- backtesting.py


def candles_frame(data: Path) -> Any:
    import pandas as pd

    frame = pd.read_csv(data)
    frame.index = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    last = frame.iloc[[-1]].copy()
    last.index = last.index + pd.Timedelta(hours=1)
    return pd.concat([frame, last])


def theirs(data: Path) -> Any:
    """A ``run()`` of backtesting.py on our candles and RSI, ready to time."""
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    from tradeloop.trading.features.indicators import indicator_frame

    frame = candles_frame(data)
    real_bars = len(frame) - 1
    rsi = indicator_frame(frame.rename(columns=str.lower).iloc[:real_bars])["rsi"].to_numpy()
    size = (1 + FEE_BPS / 1e4) / (1 + HEADROOM_BPS / 1e4)

    class RsiRule(Strategy):
        def init(self) -> None:
            self.rsi = self.I(lambda: _extend(rsi), name="RSI")

        def next(self) -> None:
            bar = len(self.data) - 1
            if bar < WARMUP - 1 or bar >= real_bars:
                return
            value = self.rsi[-1]
            if self.position and value > RSI_SELL:
                self.position.close()
            elif not self.position and value < RSI_BUY:
                self.buy(size=size)

    def run() -> tuple[Any, float]:
        bt = FractionalBacktest(
            frame,
            RsiRule,
            cash=CAPITAL,
            commission=FEE_BPS / 1e4,
            trade_on_close=True,
            finalize_trades=False,
            fractional_unit=1e-10,
        )
        started, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = bt.run()
        CPU["theirs"].append(real_bars / max(time.process_time() - cpu, 1e-9))
        return results, real_bars / (time.perf_counter() - started)

    run.bars = real_bars  # type: ignore[attr-defined]
    return run


def _extend(values: Any) -> Any:
    import numpy as np

    return np.append(values, values[-1])


# --------------------------------------------------------------------------- where the time goes


def profile(data: Path, fast_forward: bool, sort: str = "tottime") -> None:
    from tradeloop.trading.features.warmup import warm_up

    warm_up()
    asyncio.run(run_ours(data, fast_forward))  # reads the file and computes the indicators once
    profiler = cProfile.Profile()
    profiler.enable()
    run = asyncio.run(run_ours(data, fast_forward))
    profiler.disable()
    print(
        f"{'fast-forward' if fast_forward else 'per-cycle'} run: {run.elapsed_s * 1000:.0f} ms "
        f"under the profiler, {run.pipeline_cycles:,} of {run.cycles_done:,} cycles through the "
        "pipeline (candle file and indicator frame already cached by a first run)"
    )
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort)
    stats.print_stats(25)
    print(out.getvalue())


def stages(data: Path) -> None:
    """Wall time per cycle of each pipeline stage (wrapping the coordinator's components)."""
    from tradeloop.backtest import runner
    from tradeloop.trading._internal import coordinator as module
    from tradeloop.trading.base_agent import DefaultStrategyAgent
    from tradeloop.trading.features.warmup import warm_up

    warm_up()
    spent: Counter[str] = Counter()
    original = DefaultStrategyAgent.create_runtime

    async def create_runtime(self: Any, *args: Any, **kwargs: Any) -> Any:
        runtime = await original(self, *args, **kwargs)
        c = runtime.coordinator
        for obj, name, label in (
            (c.pipeline, "build", "features (pipeline.build)"),
            (c.portfolio, "mark", "portfolio.mark"),
            (c.digest, "build", "digest.build"),
            (c.composer, "compose", "composer.compose"),
            (c, "guard", "guardrails"),
            (c.gateway, "execute", "paper gateway"),
            (c.portfolio, "apply_trades", "portfolio.apply_trades"),
            (c, "_result", "CycleResult + summary"),
            (c.recorder, "record", "recorder.record"),
            (c.digest, "update", "digest.update"),
            (c, "remember", "recent decisions"),
        ):
            _time(obj, name, label, spent)
        return runtime

    DefaultStrategyAgent.create_runtime = create_runtime  # type: ignore[method-assign]
    _time(module, "_log_cycle", "log line", spent)
    started = time.perf_counter()
    run = asyncio.run(run_ours(data, fast_forward=False))
    total = time.perf_counter() - started
    cycles = run.cycles_done
    print(
        f"stage times per cycle over {cycles:,} cycles ({total / cycles * 1e6:.0f} us/cycle total):"
    )
    for label, seconds in spent.most_common():
        print(f"  {label:<28} {seconds / cycles * 1e6:7.1f} us")
    rest = total - sum(spent.values())
    print(f"  {'the rest (coordinator, runner)':<28} {rest / cycles * 1e6:7.1f} us")
    del runner


def _time(obj: Any, name: str, label: str, spent: Counter[str]) -> None:
    inner = getattr(obj, name)
    if asyncio.iscoroutinefunction(inner):

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started
    else:

        def timed(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

    setattr(obj, name, timed)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; best and median reported")
    parser.add_argument("--profile", action="store_true", help="cProfile one fast-forward run")
    parser.add_argument("--per-cycle", action="store_true", help="with --profile: the slow path")
    parser.add_argument("--sort", default="tottime", help="with --profile: pstats sort key")
    parser.add_argument("--stages", action="store_true", help="time each pipeline stage")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"no candles at {args.data}")
    if args.profile:
        profile(args.data, fast_forward=not args.per_cycle, sort=args.sort)
        return
    if args.stages:
        stages(args.data)
        return
    compare(args.data, args.repeat)


def compare(data: Path, repeat: int) -> None:
    from tradeloop.trading.features.warmup import warm_up

    warm_up()  # pandas-ta's import and numba compilation: once per process, not per backtest
    run_theirs = theirs(data)
    _, cold = ours(data, fast_forward=True)  # reads the file and computes the indicator frame
    CPU["fast"].clear()
    speeds: dict[str, list[float]] = {"fast": [], "slow": [], "theirs": [], "cold": [cold]}
    fast = slow = results = None
    for _ in range(repeat):
        fast, speed = ours(data, fast_forward=True)
        speeds["fast"].append(speed)
        slow, speed = ours(data, fast_forward=False)
        speeds["slow"].append(speed)
        results, speed = run_theirs()
        speeds["theirs"].append(speed)
    assert fast is not None and slow is not None and results is not None
    report(data, fast, slow, results, speeds, run_theirs.bars)


def report(data: Path, fast: Any, slow: Any, results: Any, speeds: dict, bars: int) -> None:
    their_trades, their_equity = int(results["# Trades"]), float(results["Equity Final [$]"])
    print(
        f"data: {data.name}, {bars:,} candles; {fast.cycles_done:,} decisions from candle {WARMUP}"
    )
    print(f"{'':22}{'fast-forward':>16}{'per-cycle':>16}{'backtesting.py':>16}")
    print(f"{'trades':22}{fast.stats.trades:>16,}{slow.stats.trades:>16,}{their_trades:>16,}")
    print(
        f"{'final equity':22}{fast.stats.final_equity:>16,.2f}{slow.stats.final_equity:>16,.2f}"
        f"{their_equity:>16,.2f}"
    )
    print(f"{'pipeline cycles':22}{fast.pipeline_cycles:>16,}{slow.pipeline_cycles:>16,}{'-':>16}")
    for label, pick in (("best", max), ("median", statistics.median)):
        row = "".join(f"{pick(speeds[k]):>16,.0f}" for k in ("fast", "slow", "theirs"))
        print(f"{'candles/s (' + label + ')':22}{row}")
    print(
        f"{'first run (cold)':22}{speeds['cold'][0]:>16,.0f}"
        "   (reads the CSV and computes the indicator frame; later runs reuse both)"
    )
    for label, pick in (("best", max), ("median", statistics.median)):
        row = "".join(f"{pick(CPU[k]):>16,.0f}" for k in ("fast", "slow", "theirs"))
        print(f"{'per CPU s (' + label + ')':22}{row}")
    print(
        "CPU-time ratio fast-forward / backtesting.py: "
        f"best {max(CPU['fast']) / max(CPU['theirs']):.2f}, "
        f"median {statistics.median(CPU['fast']) / statistics.median(CPU['theirs']):.2f}"
    )
    rounds = [f / t for f, t in zip(speeds["fast"], speeds["theirs"], strict=True)]
    print(
        "speed ratio fast-forward / backtesting.py: "
        f"best {max(speeds['fast']) / max(speeds['theirs']):.2f}, "
        f"median {statistics.median(speeds['fast']) / statistics.median(speeds['theirs']):.2f}, "
        f"per round {', '.join(f'{r:.2f}' for r in rounds)}"
    )
    print(
        "speed ratio per-cycle / backtesting.py (best): "
        f"{max(speeds['slow']) / max(speeds['theirs']):.3f}"
    )
    same = fast.stats == slow.stats and fast.equity_curve == slow.equity_curve
    print("fast-forward identical to per-cycle (stats, equity curve): " + ("yes" if same else "NO"))
    gap = (fast.stats.final_equity / their_equity - 1) * 100
    ok = fast.stats.trades == their_trades and abs(gap) < 0.5
    print(
        f"trade counts equal and equity within 0.5 % of backtesting.py ({gap:+.6f} %): "
        + ("yes" if ok else "NO")
    )
    best_ratio = max(speeds["fast"]) / max(speeds["theirs"])
    print(
        f"target ratio {TARGET_RATIO:.1f} (best): "
        + ("met" if best_ratio >= TARGET_RATIO else "NOT met")
    )
    slow_best = max(speeds["slow"])
    print(
        f"per-cycle target {TARGET_CANDLES_PER_S:,} candles/s (best): "
        + ("met" if slow_best >= TARGET_CANDLES_PER_S else "NOT met")
    )


if __name__ == "__main__":
    main()
