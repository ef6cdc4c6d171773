"""Which CSV holds which (symbol, interval): from file names, explicit labels or the data itself.

Accepted forms, each naming one file or a folder:

    path/binance_spot_BTCUSDT_1h.csv      symbol and interval from the name ([venue_]SYMBOL_INTERVAL.csv)
    BTC-USDT@1h=path/any_name.csv         explicit label
    path/any_name.csv                     a one-symbol strategy: its symbol; interval from the timestamps
    path/folder/                          its files whose name parses; when some carry the venue
                                          prefix (e.g. binance_spot_), only those
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.utils import normalize_symbol, parse_interval_seconds

DataFiles = dict[tuple[str, str], Path]
_NAME_RE = re.compile(r"^(?:.+_)?(?P<symbol>[A-Za-z0-9-]+)_(?P<interval>\d+[smhdw])\.csv$")
_LABEL_RE = re.compile(r"^(?P<symbol>[A-Za-z0-9/_-]+)@(?P<interval>\d+[smhdw])=(?P<path>.+)$")
_UNITS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def resolve_data_files(
    items: Iterable[str | Path], symbols: Sequence[str], venue: str | None = None
) -> DataFiles:
    """Map each (canonical symbol, interval) to its CSV; raises ``ConfigError`` naming the problem.

    ``venue`` (``binance_spot``, ``bybit_linear``): in folders, prefer files named for it."""
    files: DataFiles = {}
    for item in items:
        for key, path in _resolve_one(str(item), symbols, venue):
            if key in files and files[key] != path:
                raise ConfigError(f"{files[key]} and {path} both hold {key[0]} {key[1]}")
            files[key] = path
    missing = sorted(set(normalize_symbol(s) for s in symbols) - {s for s, _ in files})
    if missing:
        raise ConfigError(f"no candle file for {', '.join(missing)}")
    return files


def _resolve_one(
    item: str, symbols: Sequence[str], venue: str | None
) -> list[tuple[tuple[str, str], Path]]:
    label = _LABEL_RE.match(item)
    if label:
        path = _existing(Path(label["path"]))
        return [((_symbol(label["symbol"]), _interval(label["interval"])), path)]
    path = _existing(Path(item))
    if path.is_dir():
        wanted = {normalize_symbol(s) for s in symbols}
        found = [(key, p) for p in sorted(path.glob("*.csv")) if (key := _from_name(p))]
        found = [(key, p) for key, p in found if key[0] in wanted]
        own = [(key, p) for key, p in found if venue and p.name.startswith(f"{venue}_")]
        return own or found
    key = _from_name(path)
    if key is not None:
        return [(key, path)]
    if len(symbols) != 1:
        raise ConfigError(
            f"cannot tell the symbol of {path.name}; label it like BTC-USDT@1h={path}"
        )
    return [((normalize_symbol(symbols[0]), interval_of_file(path)), path)]


def _from_name(path: Path) -> tuple[str, str] | None:
    match = _NAME_RE.match(path.name)
    if match is None:
        return None
    try:
        return normalize_symbol(match["symbol"]), match["interval"]
    except ValueError:
        return None


def interval_of_file(path: Path) -> str:
    """The interval of a candle CSV: the smallest step between its first timestamps."""
    with path.open(encoding="utf-8") as source:
        source.readline()
        heads = [line.split(",", 1)[0] for line, _ in zip(source, range(50), strict=False)]
    stamps = [int(head) for head in heads if head.strip().isdigit()]  # the loader reports the rest
    steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b > a]
    if not steps:
        raise ConfigError(f"{path.name} has too few rows to tell its interval; label it")
    step = min(steps)
    for unit, size in _UNITS:
        if step % size == 0:
            return f"{step // size}{unit}"
    raise ConfigError(f"{path.name}: step of {step} ms is not an interval")


def _existing(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(f"candle data {path} does not exist")
    return path


def _symbol(text: str) -> str:
    try:
        return normalize_symbol(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _interval(text: str) -> str:
    try:
        parse_interval_seconds(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return text
