"""The equity chart is a PNG drawn without a display or pyplot's global state."""

from __future__ import annotations

from tests.backtest.helpers import curve, opened, round_trip
from tradeloop.backtest.chart import equity_chart_png

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_chart_is_a_png_with_trades_marked() -> None:
    png = equity_chart_png(
        curve(100, 104, 98, 110),
        [opened(0), round_trip(4), round_trip(-2)],
        title="t",
        initial_capital=100,
    )
    assert png.startswith(PNG) and len(png) > 10_000


def test_a_strategy_without_cycles_still_gets_a_chart() -> None:
    assert equity_chart_png([], []).startswith(PNG)


def test_drawing_leaves_no_pyplot_figure_behind() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    equity_chart_png(curve(1, 2, 3))
    assert plt.get_fignums() == before
