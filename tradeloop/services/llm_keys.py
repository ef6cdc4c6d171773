"""Whether an ``llm`` strategy has what it needs to call its model, asked before it can run.

Without a key the first cycle would fail and send the strategy to ``error``; instead create, start,
resume, run_cycle_now and an update to ``composer='llm'`` are refused with the variable to set, and
a strategy found running at start-up without its key stays paused with that reason. What each
provider needs is ``providers.key_error``'s to say (a local ``base_url`` needs no key).
"""

from __future__ import annotations

from tradeloop.trading.decision.prompt_based.providers import key_error
from tradeloop.trading.errors import ConfigError
from tradeloop.trading.models import UserRequest


def missing_llm_key(request: UserRequest) -> str | None:
    """Why ``request`` cannot call its model (the environment variable to set), or None."""
    if request.trading_config.composer != "llm":
        return None
    problem = key_error(request.llm_model_config)
    if problem is None:
        return None
    return f"composer 'llm': {problem}; set it and restart the server, or use composer='rules'"


def require_llm_key(request: UserRequest) -> None:
    """Raise ``ConfigError`` saying which variable to set when ``request`` has no model key."""
    problem = missing_llm_key(request)
    if problem is not None:
        raise ConfigError(problem)
