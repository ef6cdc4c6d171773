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


class NetworkDown(MarketDataUnavailable):
    """This machine could not reach the venue at all (its host name did not resolve, or the
    connection was refused): the message says what was tried and what to check, since waiting
    alone rarely helps. Cycles still treat it as temporary (skipped, retried next slot)."""


class OperationalError(TradeloopError):
    pass


class AccountingError(TradeloopError):
    pass


class PauseRequired(TradeloopError):
    pass


class IntentMismatch(PauseRequired):
    pass
