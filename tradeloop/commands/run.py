"""``tradeloop run``: run strategies headless under the scheduler until Ctrl-C / SIGTERM.

Each ``--config`` file is a strategy (a UserRequest as JSON); its name is
``trading_config.strategy_name`` or the file's stem. A strategy of that name already in the
database is resumed, otherwise it is created. With ``--replay DIR`` the strategies replay the CSV
candles in DIR on simulated time, as fast as cycles compute. One progress line per cycle goes to
stderr. The first Ctrl-C / SIGTERM lets the cycles in flight finish, pauses the strategies
(reason "interrupted by SIGTERM") and closes the database; a second one abandons what is in flight
(each cycle's transaction commits whole or not at all).

A live config (``exchange_config.trading_mode = "live"``) trades real orders: it needs
``TRADELOOP_LIVE_TRADING=1`` in the environment AND ``--confirm-live`` on the command line, which is
the operator's confirmation of exactly the configs given. Its initial capital is the account's
available cash; a rerun compares the rest of the config.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from tradeloop.backtest.stats import EquityPoint, compute_stats, equity_point
from tradeloop.backtest.table import side_by_side
from tradeloop.commands._loop import run_then_leave
from tradeloop.services.live_gate import live_params
from tradeloop.services.market import check_replay_dir
from tradeloop.services.models import ReplaySpec, ServiceEvent, StrategyInfo
from tradeloop.services.replay import ReplayLibrary
from tradeloop.services.scrub import validation_clauses
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.models import (
    CycleResult,
    StrategyStatus,
    TradeHistoryEntry,
    TradingMode,
    UserRequest,
)

logger = logging.getLogger(__name__)
QUIETED = ("apscheduler", "tradeloop.trading._internal.coordinator")
"""Loggers whose per-cycle INFO lines the progress line replaces."""


HELP = """\
Run strategies without a chat assistant, until they finish or you press Ctrl-C. Each --config
file is one strategy (JSON: {"trading_config": {...}, "exchange_config": {...}}), named by
trading_config.strategy_name or the file name. A strategy of that name already in the database
is resumed; otherwise it is created. One line per cycle goes to stderr, and a summary table
(return, Sharpe, drawdown, trades, fees) when the run ends.

Ctrl-C or SIGTERM lets the cycle in flight finish (at most about a second), pauses the strategies
and closes the database; a second Ctrl-C leaves at once. No cycle is ever half stored.

A live config (exchange_config.trading_mode "live") sends real orders: it needs
TRADELOOP_LIVE_TRADING=1 in the environment and --confirm-live on the command line."""
EXAMPLES = """\
examples:
  tradeloop run --config strategy.json
      live market data, paper fills, until Ctrl-C
  tradeloop run --config btc.json --config eth.json --replay ../shared/data
      replay the candle CSVs of a folder, as fast as cycles compute
  tradeloop run --config strategy.json --replay ../shared/data --speed 3600 --max-cycles 48
      one simulated hour per second, pausing after 48 cycles"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run strategies headless until they finish or Ctrl-C / SIGTERM",
        description=HELP,
        epilog=EXAMPLES,
    )
    parser.add_argument(
        "--config", action="append", required=True, type=Path, help="strategy JSON (repeatable)"
    )
    parser.add_argument(
        "--db",
        help="database file, sqlite:///abs/path or postgresql://... URL"
        " (default: TRADELOOP_DB or user data)",
    )
    parser.add_argument("--replay", type=Path, help="replay the candle CSVs of this folder")
    parser.add_argument(
        "--speed",
        type=float,
        help="with --replay: simulated time runs this many times wall time (default: flat out)",
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="with --replay: leave out bad candle rows (counted in a warning) instead of refusing",
    )
    parser.add_argument(
        "--max-cycles", type=int, help="pause each strategy after this many cycles in this run"
    )
    parser.add_argument(
        "--confirm-live",
        action="store_true",
        help="confirm that the live configs given trade real orders (needs TRADELOOP_LIVE_TRADING=1)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in QUIETED:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return run_then_leave(_run(args))
    except (ConfigError, OperationalError) as exc:
        _line(f"tradeloop run: {exc}")
        return 2


async def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(db_path=args.db, replay_dir=args.replay)
    if args.speed is not None and settings.replay_dir is None:
        raise ConfigError("--speed paces a replay: it needs --replay DIR (or TRADELOOP_REPLAY_DIR)")
    strategies = [_load_config(path) for path in args.config]
    _check_live(strategies, confirmed=args.confirm_live, enabled=settings.live_trading_enabled)
    spec = None
    if settings.replay_dir is not None:
        check_replay_dir(settings.replay_dir)  # the path as given: nothing is created before
        spec = ReplaySpec(
            data_dir=str(settings.replay_dir.resolve()),
            speed=args.speed,
            skip_bad_rows=args.skip_bad_rows,
        )
        _check_replay_data(spec, strategies)
    stop = _Stop()
    stop.install()
    async with StrategyService.open(settings) as svc:
        events = svc.subscribe()
        ids = [await _create_or_resume(svc, n, r, spec, args.max_cycles) for n, r in strategies]
        names = {sid: name for sid, (name, _) in zip(ids, strategies, strict=True)}
        statuses = {sid: (await svc.get(sid)).status for sid in ids}
        tally = {sid: RunTally() for sid in ids}
        await _watch(events, statuses, names, stop, tally)
        if stop.event.is_set():
            await _pause_running(svc, ids, f"interrupted by {stop.name}", settings.shutdown_grace_s)
        final = [await svc.get(sid) for sid in ids]
    for info in final:
        _line(f"done name={info.name} status={info.status.value} reason={info.reason}")
    sys.stdout.write("".join(tally[info.strategy_id].table(info) for info in final))
    sys.stdout.flush()
    return 1 if any(info.status is StrategyStatus.ERROR for info in final) else 0


async def _pause_running(
    svc: StrategyService, ids: list[str], reason: str, within_s: float
) -> None:
    """Pause the running strategies; a pause waits for its cycle in flight, so all of them
    together get half the shutdown grace (the service's close then abandons what is left, and a
    strategy left running resumes on the next run)."""

    async def pause(sid: str) -> None:
        if (await svc.get(sid)).status is StrategyStatus.RUNNING:
            await svc.pause(sid, reason=reason)

    try:
        async with asyncio.timeout(within_s / 2):
            await asyncio.gather(*(pause(sid) for sid in ids))
    except TimeoutError:
        _line("a cycle is still in flight: abandoning it (the strategy resumes on the next run)")


def _check_live(
    strategies: list[tuple[str, UserRequest]], *, confirmed: bool, enabled: bool
) -> None:
    live = [name for name, request in strategies if _is_live(request)]
    if not live:
        return
    missing = [
        what
        for what, ok in (
            ("--confirm-live on the command line", confirmed),
            ("TRADELOOP_LIVE_TRADING=1 in the environment", enabled),
        )
        if not ok
    ]
    if missing:
        raise ConfigError(
            f"{', '.join(live)}: LIVE trading config (real orders on the exchange); it needs "
            f"{' and '.join(missing)}. Nothing was started."
        )


def _is_live(request: UserRequest) -> bool:
    return request.exchange_config.trading_mode is TradingMode.LIVE


def _load_config(path: Path) -> tuple[str, UserRequest]:
    try:
        request = UserRequest.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        problems = "".join(f"\n  {clause}" for clause in validation_clauses(exc))
        raise ConfigError(f"{path} is not a valid strategy config:{problems}") from exc
    return request.trading_config.strategy_name or path.stem, request


def _check_replay_data(spec: ReplaySpec, strategies: list[tuple[str, UserRequest]]) -> None:
    """Every config finds its symbols and intervals in the replay folder, checked before the
    database is opened (or created) so that a typo leaves nothing behind."""
    library = ReplayLibrary()
    for name, request in strategies:
        try:
            library.timeline(spec, request)
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from exc


@dataclass
class RunTally:
    """What one strategy did in this run, from its cycle events: the equity curve and the
    closed trades, for the summary table printed at the end (the same table as ``backtest``)."""

    curve: list[EquityPoint] = field(default_factory=list)
    trades: list[TradeHistoryEntry] = field(default_factory=list)

    def add(self, cycle: CycleResult) -> None:
        self.curve.append(equity_point(cycle))
        self.trades.extend(cycle.trades)

    def table(self, info: StrategyInfo) -> str:
        if not self.curve:
            return f"{info.name}: no cycle ran in this run\n"
        stats = compute_stats(self.trades, self.curve, initial_capital=info.initial_capital)
        head = (
            f"Run {info.name} ({info.strategy_id})  {', '.join(info.request.trading_config.symbols)}"
            f"  {_iso(self.curve[0].ts)} -> {_iso(self.curve[-1].ts)}"
            f"  ({len(self.curve):,} cycles in this run)\n"
            f"  Status  {info.status.value}" + (f": {info.reason}" if info.reason else "") + "\n"
        )
        return head + "\n" + side_by_side([("strategy", stats)]) + "\n\n"


async def _create_or_resume(
    svc: StrategyService,
    name: str,
    request: UserRequest,
    spec: ReplaySpec | None,
    max_cycles: int | None,
) -> str:
    live = _is_live(request)
    gate = svc.live_gate
    info = await svc.find(name)
    if info is None:
        approval = gate.approve_operator("create", live_params("create", request)) if live else None
        info = await svc.create(request, name=name, replay=spec, approval=approval)
    else:
        _check_same(info, request, spec)
    sid = info.strategy_id
    if max_cycles is not None:
        await svc.limit_cycles(sid, max_cycles)
    if info.status is StrategyStatus.PAUSED:
        await svc.resume(sid)
    elif info.status is not StrategyStatus.RUNNING:
        approval = None
        if live:
            approval = gate.approve_operator("start", live_params("start", info.request, sid))
        await svc.start(sid, approval=approval)
    _line(f"running name={name} strategy_id={sid} data={info.data} cycles_so_far={info.cycles}")
    return sid


def _check_same(info: StrategyInfo, request: UserRequest, spec: ReplaySpec | None) -> None:
    stored_dir = info.replay.data_dir if info.replay else None
    wanted_dir = spec.data_dir if spec else None
    stored, wanted = info.request.model_dump(), request.model_dump()
    if _is_live(request):  # the stored capital is the account's cash at creation
        stored["trading_config"].pop("initial_capital")
        wanted["trading_config"].pop("initial_capital")
    if stored != wanted or stored_dir != wanted_dir:
        raise ConfigError(
            f"strategy {info.name!r} ({info.strategy_id}) is stored with a different config or "
            "data source; rename it (trading_config.strategy_name) or use another --db"
        )


async def _watch(
    events: asyncio.Queue[ServiceEvent],
    statuses: dict[str, StrategyStatus],
    names: dict[str, str],
    stop: _Stop,
    tally: dict[str, RunTally],
) -> None:
    """Print a line per cycle until a signal or until none of ``statuses`` is running."""
    stopper = asyncio.ensure_future(stop.event.wait())
    try:
        while not stop.event.is_set() and StrategyStatus.RUNNING in statuses.values():
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            event = getter.result()
            if event.strategy_id not in statuses:
                continue
            statuses[event.strategy_id] = event.status
            if event.cycle is not None:
                tally[event.strategy_id].add(event.cycle)
                _line(_progress(names[event.strategy_id], event.cycle))
    finally:
        stopper.cancel()


def _progress(name: str, cycle: CycleResult) -> str:
    fills = sum(1 for tx in cycle.tx_results if tx.filled_qty > 0)
    slot = "-" if cycle.slot_ts is None else _iso(cycle.slot_ts)
    text = (
        f"cycle name={name} slot={slot} compose_id={cycle.compose_id} status={cycle.status.value}"
        f" instructions={len(cycle.instructions)} fills={fills}"
        f" equity={cycle.strategy_summary.equity:.2f}"
    )
    return text if cycle.reason is None else f"{text} reason={cycle.reason}"


@dataclass
class _Stop:
    """Set by the first SIGINT / SIGTERM; the second one exits at once."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    signum: int = signal.SIGTERM

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        if self.event.is_set():
            _line("second signal: abandoning the cycles in flight")
            os._exit(128 + signum)
        self.signum = signum
        _line(f"{self.name}: finishing the cycles in flight, then pausing")
        self.event.set()


def _line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
