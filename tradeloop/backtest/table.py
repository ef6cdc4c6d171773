"""Side-by-side text tables of backtest statistics: one column per strategy or baseline, one row
per metric, so a strategy is always read next to buy-and-hold."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tradeloop.backtest.models import BacktestStats, LlmDecisions

Row = tuple[str, Callable[[BacktestStats], str]]


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f} %" if sign else f"{value:.2f} %"


METRICS: list[Row] = [
    ("Total return", lambda s: _pct(s.total_return_pct, sign=True)),
    ("CAGR", lambda s: _pct(s.annual_return_pct, sign=True)),
    ("Sharpe", lambda s: _num(s.sharpe_ratio)),
    ("Sortino", lambda s: _num(s.sortino_ratio)),
    ("Calmar", lambda s: _num(s.calmar_ratio)),
    ("Max drawdown", lambda s: _pct(s.max_drawdown_pct)),
    ("Exposure", lambda s: _pct(s.exposure_pct)),
    ("Turnover", lambda s: "-" if s.turnover is None else f"{s.turnover:.2f}x"),
    ("Trades", lambda s: f"{s.trades:,}"),
    ("Win rate", lambda s: _pct(s.win_rate_pct)),
    ("Payoff ratio", lambda s: _num(s.payoff_ratio)),
    ("Profit factor", lambda s: _num(s.profit_factor)),
    ("Fees", lambda s: f"{s.fees_paid:,.2f}"),
    ("Final equity", lambda s: f"{s.final_equity:,.2f}"),
]


def llm_rows(decisions: Sequence[LlmDecisions | None]) -> list[tuple[str, list[str]]]:
    """Token, cost and decision-quality rows, '-' for columns that are not LLM strategies."""
    if not any(d is not None for d in decisions):
        return []

    def cell(pick: Callable[[LlmDecisions], str]) -> list[str]:
        return [pick(d) if d is not None else "-" for d in decisions]

    def usd(value: float | None, digits: int) -> str:
        return "unknown" if value is None else f"{value:.{digits}f} USD"

    return [
        ("LLM decisions", cell(lambda d: f"{d.decisions:,}")),
        ("Skipped (invalid)", cell(lambda d: f"{d.skipped:,}")),
        ("Repaired", cell(lambda d: f"{d.repaired:,}")),
        ("Tokens in/out", cell(lambda d: f"{d.input_tokens:,}/{d.output_tokens:,}")),
        ("LLM cost", cell(lambda d: usd(d.cost_usd, 4))),
        ("Cost/decision", cell(lambda d: usd(d.cost_per_decision_usd, 6))),
    ]


def side_by_side(
    columns: Sequence[tuple[str, BacktestStats]],
    extra: Sequence[tuple[str, list[str]]] = (),
) -> str:
    """Rows of metrics under one header per column, aligned; ``extra`` rows go last."""
    rows = [(label, [show(stats) for _, stats in columns]) for label, show in METRICS]
    rows += list(extra)
    return render([name for name, _ in columns], rows)


def render(headers: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    label_width = max([len(label) for label, _ in rows] + [0])
    widths = [
        max([len(h)] + [len(cells[i]) for _, cells in rows if i < len(cells)])
        for i, h in enumerate(headers)
    ]
    head = " " * (label_width + 4) + "  ".join(
        h.rjust(w) for h, w in zip(headers, widths, strict=True)
    )
    lines = [head]
    for label, cells in rows:
        padded = [c.rjust(w) for c, w in zip(cells, widths, strict=False)]
        lines.append(f"  {label:<{label_width}}" + "  " + "  ".join(padded))
    return "\n".join(lines) + "\n"
