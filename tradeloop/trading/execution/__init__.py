from tradeloop.trading.execution.interfaces import BaseExecutionGateway
from tradeloop.trading.execution.paper_trading import PaperExecutionGateway

__all__ = ["BaseExecutionGateway", "PaperExecutionGateway"]
