"""Default configuration values shared by every stage of the decision cycle."""

from __future__ import annotations

DEFAULT_FEE_BPS = 10.0
"""Simulated taker fee for paper trading: 10 bps = 0.1 % of notional."""

DEFAULT_MAX_SLIPPAGE_BPS = 5
"""Paper fills move the price against the trader by this many basis points."""

DEFAULT_DECIDE_INTERVAL_S = 60
MIN_DECIDE_INTERVAL_S = 1
DEFAULT_MAX_LEVERAGE = 1.0
MAX_LEVERAGE_CAP = 125.0
"""No venue we support offers more; anything above is a mistake."""

DEFAULT_MAX_POSITIONS = 5
DEFAULT_FEATURE_INTERVALS: tuple[str, ...] = ("1h", "4h")
"""The one default for config files, the CLI and the MCP tools: hourly candles (what
``tradeloop candles download --interval 1h`` fetches) and 4h, resampled from them in a replay."""
DEFAULT_CANDLE_LOOKBACK = 200
DEFAULT_QUOTE = "USDT"
DEFAULT_EXCHANGE_ID = "binance"

DEFAULT_LLM_MODEL = "claude-sonnet-4-5"
DEFAULT_LLM_MAX_TOKENS = 2048
DEFAULT_LLM_TIMEOUT_S = 60.0

BUYING_POWER_SLIPPAGE_BUFFER_BPS = 20
"""Guardrails keep this much headroom so that slippage and fees never overspend."""

DEFAULT_SHARPE_WINDOW = 500
"""Number of most recent cycles the digest's ``sharpe_ratio_recent`` looks at (the headline Sharpe
and Sortino ratios cover the whole history)."""

SECONDS_PER_YEAR = 365 * 24 * 3600

QUANTITY_DUST = 1e-12
"""The ledger's precision: quantities whose magnitude is at most this are zero (no dust positions);
the guardrails drop orders that small and a fill that small is rejected, never applied."""

DEFAULT_MIN_NOTIONAL = 1.0
"""Orders worth less than this many quote units (e.g. 1 USDT) are dropped by the guardrails when the
venue states no minimum of its own (paper trading on replayed candles, venues without limits)."""

ENTRY_RATIONALE_CHARS = 500
"""An opening rationale is kept with its position (and stored with every cycle's ledger and view)
up to this many characters; the model's context shows at most 300 of them."""
