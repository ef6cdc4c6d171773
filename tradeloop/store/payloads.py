"""Compact storage of a cycle's bulky JSON: deduplicated by content, deflated with a dictionary.

A cycle's feature vectors are stored once per strategy in ``payloads``, keyed by a hash of their
JSON; the cycle row keeps only the hashes (16 bytes per vector). A vector seen by several cycles (a
4h vector in four hourly cycles) is stored once, and so is an LLM system prompt, which repeats in
every cycle's prompt. The rest (the prompt and reply or the rules' signals, the portfolio view) is
deflated in the row itself.

Packed bytes start with a format byte. Format 1 is raw deflate with ``_DICTIONARY_V1`` as its
preset dictionary (the key names these documents share, which is what small documents cannot
compress on their own). That dictionary is part of the stored format and must never change: a new
dictionary needs a new format byte. Rows written before migration 0003 hold JSON text (``str``)
and are read as they are.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable

from tradeloop.store.db import StoreError

HASH_BYTES = 16
FORMAT_V1 = 1
_DICTIONARY_V1 = (
    b'{"prompt":{"system":"","user":""},"reply":{"rationale":"","items":[]},"attempts":1,'
    b'"model":"claude-","errors":[],"stop_reason":"tool_use","signals":{}}'
    b'"positions":{},"total_value":,"total_unrealized_pnl":0.0,"buying_power":,"constraints":'
    b'{"max_positions":5,"max_leverage":1.0,"max_notional_per_symbol":null,"quantity_step":null,'
    b'"min_trade_qty":null,"min_notional":null},"realized_pnl":,"fees_paid":,"initial_capital":,'
    b'"gross_exposure":0.0}{"strategy_id":"s_","ts":,"account_balance":,'
    b'{"values":{"price":,"high":,"low":},"meta":{"group_by_key":"market_snapshot"}}'
    b'{"ts":,"instrument":{"symbol":"-USDT","exchange_id":"binance"},"values":{"close":,'
    b'"change_pct":,"change_pct_24":,"volume":,"volume_ratio":,"rsi":,"macd":,"macd_signal":,'
    b'"macd_hist":,"ema_20":,"ema_50":,"bb_upper":,"bb_middle":,"bb_lower":,"atr":},'
    b'"meta":{"interval":"1h","group_by_key":"candles_1h","recent":{"close":[],"rsi":[]}}}'
)
_WBITS = 12
"""A 4 KiB window: cycle documents are small, and a small window is cheaper to set up."""
_MEM_LEVEL = 6


def pack(data: bytes) -> bytes:
    """``data`` (JSON) as format-1 bytes."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -_WBITS, _MEM_LEVEL, zdict=_DICTIONARY_V1)
    return bytes((FORMAT_V1,)) + deflate.compress(data) + deflate.flush()


def unpack(value: bytes | str) -> bytes | str:
    """The JSON ``pack`` was given; JSON text from before migration 0003 comes back unchanged."""
    if isinstance(value, str):
        return value
    if not value or value[0] != FORMAT_V1:
        raise StoreError(f"stored payload has unknown format {value[:1]!r}; a newer tradeloop?")
    inflate = zlib.decompressobj(-15, zdict=_DICTIONARY_V1)
    return inflate.decompress(value[1:]) + inflate.flush()


def content_hash(data: bytes) -> bytes:
    """The key of a deduplicated payload: 16 bytes of BLAKE2b of its JSON."""
    return hashlib.blake2b(data, digest_size=HASH_BYTES).digest()


def join_hashes(hashes: Iterable[bytes]) -> bytes:
    return b"".join(hashes)


def split_hashes(value: bytes) -> list[bytes]:
    if len(value) % HASH_BYTES:
        raise StoreError(f"stored feature references are {len(value)} bytes, not 16 per vector")
    return [value[i : i + HASH_BYTES] for i in range(0, len(value), HASH_BYTES)]
