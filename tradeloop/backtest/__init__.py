"""Backtests: replay a strategy over stored candles, fast-forward or cycle by cycle, and score it."""
