"""Whether an ``llm`` strategy has what it needs to call its model, asked before it can run.

Without a key the first cycle would fail and send the strategy to ``error``; instead create, start,
resume, run_cycle_now and an update to ``composer='llm'`` are refused with the variable to set, and
a strategy found running at start-up without its key stays paused with that reason. One function
per question, so that other providers can be added here.
"""

from __future__ import annotations

import os

from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import UserRequest


def missing_llm_key(request: UserRequest) -> str | None:
    """Why ``request`` cannot call its model (the environment variable to set), or None."""
    if request.trading_config.composer != "llm":
        return None
    cfg = request.llm_model_config
    if os.environ.get(cfg.api_key_env, "").strip():
        return None
    return (
        f"composer 'llm' needs an API key: {cfg.api_key_env} is not set in the server's "
        f"environment; set it and restart the server, or use composer='rules'"
    )


def require_llm_key(request: UserRequest) -> None:
    """Raise ``ConfigError`` saying which variable to set when ``request`` has no model key."""
    problem = missing_llm_key(request)
    if problem is not None:
        raise ConfigError(problem)
