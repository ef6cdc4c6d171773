"""Where tests find the real candle data, and what happens when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_data(folder: Path) -> Path:
    """``folder`` if it exists. A checkout without it skips the test, except in CI (``CI=true``),
    where a missing folder fails: CI must not pass by silently skipping."""
    if not folder.is_dir():
        missing = f"real candle data not found at {folder.resolve()} (<repo>/../shared/data)"
        if in_ci():
            pytest.fail(f"{missing}; CI needs it")
        pytest.skip(missing)
    return folder


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
