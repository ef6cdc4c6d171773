"""Checks printed with every LLM backtest and comparison, so a good-looking result is read for
what it is: a window the model may have memorized (training cutoff), and how a strategy did in
rising, falling and flat markets (per-regime split).

Training cutoffs are the model makers' published knowledge cutoffs at the time of writing (Anthropic
model pages, OpenAI model pages); ``llm_model_config.training_cutoff`` overrides them, and a model
that is not in the table gets a warning that its cutoff is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from tradeloop.backtest.models import RegimeSplit
from tradeloop.backtest.stats import EquityPoint
from tradeloop.trading.models import LLMModelConfig

TRAINING_CUTOFFS: dict[str, str] = {
    "claude-opus-4-1": "2025-03",
    "claude-opus-4": "2025-03",
    "claude-sonnet-4-5": "2025-01",
    "claude-sonnet-4": "2025-03",
    "claude-haiku-4-5": "2025-02",
    "claude-3-7-sonnet": "2024-10",
    "claude-3-5-haiku": "2024-07",
    "gpt-5": "2024-09",
    "gpt-5-mini": "2024-05",
    "gpt-5-nano": "2024-05",
    "gpt-4.1": "2024-06",
    "gpt-4.1-mini": "2024-06",
    "gpt-4.1-nano": "2024-06",
    "gpt-4o": "2023-10",
    "gpt-4o-mini": "2023-10",
    "o3": "2024-06",
    "o4-mini": "2024-06",
}
REGIME_DAYS = 30
REGIME_THRESHOLD_PCT = 10.0
DAY_MS = 86_400_000


def training_cutoff(cfg: LLMModelConfig) -> str | None:
    """The configured cutoff, else the table's for the model (longest prefix), else None."""
    if cfg.training_cutoff:
        return cfg.training_cutoff
    name = cfg.model_id.rsplit("/", 1)[-1]
    matches = [k for k in TRAINING_CUTOFFS if name == k or name.startswith(f"{k}-")]
    return TRAINING_CUTOFFS[max(matches, key=len)] if matches else None


def cutoff_warning(cfg: LLMModelConfig, start_ms: int) -> str | None:
    """A warning when the window starts before the model's training cutoff (or it is unknown)."""
    cutoff = training_cutoff(cfg)
    start = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%d")
    if cutoff is None:
        return (
            f"training cutoff of {cfg.model_id} unknown: if it is after {start}, the model may "
            "have seen these prices (set llm_model_config.training_cutoff)"
        )
    if start < cutoff:
        return (
            f"the window starts {start}, before {cfg.model_id}'s training cutoff {cutoff}: the "
            "model may have seen these prices, so the result can be look-ahead, not skill"
        )
    return None


def regime_labels(hold: Sequence[EquityPoint]) -> list[str | None]:
    """Each point's regime from buy-and-hold's trailing 30-day return; None for the first 30 days."""
    labels: list[str | None] = []
    start = 0
    for point in hold:
        while hold[start].ts < point.ts - REGIME_DAYS * DAY_MS:
            start += 1
        if point.ts - hold[0].ts < REGIME_DAYS * DAY_MS:
            labels.append(None)
            continue
        base = hold[start - 1] if start > 0 else hold[start]
        change = (point.equity / base.equity - 1) * 100 if base.equity > 0 else 0.0
        labels.append(
            "up"
            if change > REGIME_THRESHOLD_PCT
            else "down"
            if change < -REGIME_THRESHOLD_PCT
            else "between"
        )
    return labels


def regime_split(
    hold: Sequence[EquityPoint], curves: Sequence[tuple[str, Sequence[EquityPoint]]]
) -> list[RegimeSplit]:
    """Per regime, each curve's return compounded over the steps that end in that regime. The
    curves must share ``hold``'s times (they do: every run cycles at the same slots)."""
    labels = regime_labels(hold)
    counted = [label for label in labels if label is not None]
    out = []
    for regime in ("up", "between", "down"):
        steps = [k for k in range(1, len(labels)) if labels[k] == regime]
        share = len([x for x in counted if x == regime]) / len(counted) * 100 if counted else 0.0
        returns: dict[str, float | None] = {}
        for name, curve in curves:
            returns[name] = _compounded(curve, steps) if len(curve) == len(hold) else None
        out.append(RegimeSplit(regime=regime, share_pct=share, returns_pct=returns))
    return out


def _compounded(curve: Sequence[EquityPoint], steps: list[int]) -> float | None:
    if not steps:
        return None
    log_sum = 0.0
    for k in steps:
        before, after = curve[k - 1].equity, curve[k].equity
        if before <= 0 or after <= 0:
            return None
        log_sum += math.log(after / before)
    return (math.exp(log_sum) - 1) * 100
