"""Gateway factory: paper by default; live only through the explicit gate (tradeloop.trading.execution.live)."""

from __future__ import annotations

from tradeloop.trading.clock import Clock
from tradeloop.trading.errors import OperationalError
from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway
from tradeloop.trading.models import TradingMode, UserRequest


def create_execution_gateway(request: UserRequest, clock: Clock) -> BaseExecutionGateway:
    ex = request.exchange_config
    if ex.trading_mode is TradingMode.VIRTUAL:
        return PaperExecutionGateway(
            fee_bps=ex.fee_bps, max_slippage_bps=ex.max_slippage_bps, clock=clock
        )
    raise OperationalError(
        "live trading needs a live gateway from the server's gated configuration; "
        "this runtime was built for paper trading only"
    )
