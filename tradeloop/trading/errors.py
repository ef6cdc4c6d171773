"""Exceptions named for what the caller should do.

TradeloopError
├── ConfigError            bad user input; fix the request (names the field)
│   ├── NotFound           no strategy / cycle with that id
│   └── InvalidTransition  the strategy's status does not allow that action
├── TemporaryError         try again next cycle (network, exchange busy, LLM timeout)
│   └── MarketDataUnavailable
├── OperationalError       stop the strategy (bad credentials, config no longer valid)
├── PauseRequired          pause the strategy with the reason; nothing was booked
│   └── IntentMismatch     a stored order is not the order asked for (never resumed as it)
└── AccountingError        an invariant broke; a bug, never swallowed
"""

from __future__ import annotations


class TradeloopError(Exception):
    pass


class ConfigError(TradeloopError, ValueError):
    pass


class NotFound(ConfigError):
    pass


class InvalidTransition(ConfigError):
    pass


class TemporaryError(TradeloopError):
    pass


class MarketDataUnavailable(TemporaryError):
    pass


class OperationalError(TradeloopError):
    pass


class AccountingError(TradeloopError):
    pass


class PauseRequired(TradeloopError):
    pass


class IntentMismatch(PauseRequired):
    pass
