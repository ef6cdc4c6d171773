"""Per-strategy replays: each strategy gets its own ``SimulatedClock`` and
``ReplayMarketDataSource``, all sharing one cache of loaded CSV arrays (one load per file per
process). Slots are multiples of ``decide_interval`` on simulated time; a restart continues at the
slot after the last stored one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tradeloop.services.models import ReplaySpec
from tradeloop.trading.clock import SimulatedClock, slot_at_or_after, slot_step_ms
from tradeloop.trading.data.replay import ReplayMarketDataSource, SeriesCache
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import MarketType, UserRequest

_VENUE_KIND = {MarketType.SPOT: "spot", MarketType.PERPETUAL: "linear"}


@dataclass(frozen=True)
class ReplayTimeline:
    """Where a strategy's replay starts and ends, on its own simulated clock."""

    clock: SimulatedClock
    source: ReplayMarketDataSource
    first_slot: int
    last_slot: int

    def next_slot(self, after: int | None, interval_s: int) -> int:
        """The slot following ``after`` (the first slot when nothing ran yet)."""
        if after is None:
            return self.first_slot
        return max(self.first_slot, after + slot_step_ms(interval_s))

    def finished(self, slot: int) -> bool:
        return slot > self.last_slot


@dataclass
class ReplayLibrary:
    """Builds replay timelines; the loaded candle arrays are shared by every strategy."""

    series_cache: SeriesCache = field(default_factory=dict)
    lenient_cache: SeriesCache = field(default_factory=dict)
    """Arrays loaded with bad rows skipped: never served to a strict replay."""

    def timeline(self, spec: ReplaySpec, request: UserRequest) -> ReplayTimeline:
        """Raises ``ConfigError`` naming what is missing (folder, files, warm-up history) or the
        first bad candle row (file and line) unless ``spec.skip_bad_rows``."""
        cfg = request.trading_config
        folder = Path(spec.data_dir)
        if not folder.is_dir():
            raise ConfigError(f"replay data folder {folder} does not exist")
        clock = SimulatedClock(0)
        source = ReplayMarketDataSource.from_dir(
            folder,
            clock,
            venue=resolve_venue(spec, request),
            series_cache=self.lenient_cache if spec.skip_bad_rows else self.series_cache,
            skip_bad_rows=spec.skip_bad_rows,
        )
        source.load(cfg.symbols)
        start = spec.start_ms
        if start is None:
            start = source.start_ms(
                cfg.candle_lookback, intervals=cfg.feature_intervals, symbols=cfg.symbols
            )
        first = slot_at_or_after(start, cfg.decide_interval)
        last = spec.end_ms if spec.end_ms is not None else source.last_ts()
        if first > last:
            raise ConfigError(
                f"the replay has no slot: first slot {first} is after the last {last} "
                "(not enough history for candle_lookback, or end_ms before start_ms)"
            )
        clock.set(first)
        return ReplayTimeline(clock=clock, source=source, first_slot=first, last_slot=last)


def resolve_venue(spec: ReplaySpec, request: UserRequest) -> str | None:
    """The spec's venue, else ``{exchange_id}_{spot|linear}`` when files carry it, else None."""
    if spec.venue is not None:
        return spec.venue
    ex = request.exchange_config
    guess = f"{ex.exchange_id}_{_VENUE_KIND[ex.market_type]}"
    pattern = re.compile(rf"^{re.escape(guess)}_[A-Za-z0-9-]+_\d+[smhdw]\.csv$")
    has_files = any(pattern.match(p.name) for p in Path(spec.data_dir).glob("*.csv"))
    return guess if has_files else None
