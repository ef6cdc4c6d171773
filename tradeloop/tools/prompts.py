"""Prompts: conversation starters a client can offer in its menu."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer


def start_paper_strategy(
    symbols: str = "BTC-USDT, ETH-USDT",
    initial_capital: str = "10000",
    decide_interval: str = "3600",
) -> str:
    """Create and start a paper-trading strategy, then report its first cycle."""
    return (
        f"Start a paper trading strategy on {symbols} with {initial_capital} USDT, deciding every "
        f"{decide_interval} seconds.\n"
        "1. Call create_strategy with those symbols, initial_capital and decide_interval "
        "(trading_mode 'paper'; composer 'rules' unless I asked for an LLM).\n"
        "2. Call start_strategy with the returned strategy_id.\n"
        "3. Call run_cycle_now once and tell me what it decided and why (rationale, orders, "
        "dropped orders with their reasons), then show get_portfolio in a short table.\n"
        "If a call fails, tell me which argument was wrong and what is allowed."
    )


def review_strategy(strategy_id: str) -> str:
    """Review how a strategy has been doing and why."""
    return (
        f"Review strategy {strategy_id}.\n"
        "1. get_strategy: status, config, whether it replays history.\n"
        "2. get_digest: total return, Sharpe ratio, max drawdown, fees, and per-symbol trade "
        "count, realized PnL and win rate.\n"
        "3. get_portfolio: open positions with unrealized PnL, leverage, cash.\n"
        "4. list_trades (most recent page) and list_cycles with status 'error' or 'skipped' to find "
        "problems; get_cycle on one or two telling cycles to explain a decision.\n"
        "Summarize in a few sentences: how it is doing, what drives the result, what is risky, "
        "and one or two concrete settings worth changing (with update_strategy)."
    )


def register(server: MCPServer) -> None:
    server.prompt(name="start_paper_strategy", title="Start a paper strategy")(start_paper_strategy)
    server.prompt(name="review_strategy", title="Review a strategy's performance")(review_strategy)
