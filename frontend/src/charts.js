// The charts: equity (with buy-and-hold) over its drawdown, one symbol's OHLC candles with its
// trades marked, and the equity curves of a backtest run or a comparison side by side.
// lightweight-charts draws on canvas; the numbers the page shows are in the DOM.

import {
  BaselineSeries,
  CandlestickSeries,
  ColorType,
  LineSeries,
  createChart,
  createSeriesMarkers,
} from "lightweight-charts";

/** Our CSS colors as rgb() strings (whatever form the host's variables take), which the
 * library can parse. */
function palette() {
  const probe = document.createElement("span");
  probe.hidden = true;
  document.body.append(probe);
  const get = (name) => {
    probe.style.color = `var(${name})`;
    return getComputedStyle(probe).color;
  };
  const colors = {
    bg: get("--bg"),
    fg: get("--fg"),
    muted: get("--muted"),
    grid: get("--grid"),
    accent: get("--accent"),
    up: get("--up"),
    down: get("--down"),
    hold: get("--hold"),
  };
  probe.remove();
  return colors;
}

/** A chart made narrower or wider (a 400 px chat pane, a rotated phone) shows its whole range
 * again rather than only the newest part at the old bar spacing. */
function refitOnResize(element, chart) {
  let width = element.clientWidth;
  new ResizeObserver(() => {
    if (element.clientWidth === width) return;
    width = element.clientWidth;
    requestAnimationFrame(() => {
      chart.timeScale().fitContent();
      element.dataset.fittedWidth = String(width);
    });
  }).observe(element);
}

function chartOptions(colors) {
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: colors.bg },
      textColor: colors.muted,
      fontFamily: "system-ui, sans-serif",
      attributionLogo: false,
      panes: { separatorColor: colors.grid },
    },
    grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
    rightPriceScale: { borderColor: colors.grid },
    // room right of the newest bar for its trade marker's label
    timeScale: { borderColor: colors.grid, timeVisible: true, secondsVisible: false, rightOffset: 3 },
    crosshair: { mode: 1 },
  };
}

/** Unique ascending times in seconds, as the library needs (the last value at a time wins). */
export function toLine(points) {
  const byTime = new Map();
  for (const [ts, value] of points) byTime.set(Math.floor(ts / 1000), value);
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value }));
}

/** An ``rgb()`` color at the given opacity. */
function alpha(rgb, opacity) {
  const match = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(rgb);
  return match ? `rgba(${match[1]}, ${match[2]}, ${match[3]}, ${opacity})` : rgb;
}

function drawdownColors(colors) {
  return {
    topLineColor: colors.down,
    bottomLineColor: colors.down,
    topFillColor1: "rgba(0,0,0,0)",
    topFillColor2: "rgba(0,0,0,0)",
    bottomFillColor1: alpha(colors.down, 0.2),
    bottomFillColor2: alpha(colors.down, 0.45),
  };
}

export class EquityChart {
  constructor(element) {
    this.element = element;
    const colors = palette();
    this.chart = createChart(element, chartOptions(colors));
    refitOnResize(element, this.chart);
    this.equity = this.chart.addSeries(LineSeries, { color: colors.accent, lineWidth: 2, title: "equity" });
    this.hold = this.chart.addSeries(LineSeries, {
      color: colors.hold,
      lineWidth: 1,
      lineStyle: 2,
      title: "buy & hold",
    });
    this.drawdown = this.chart.addSeries(
      BaselineSeries,
      {
        baseValue: { type: "price", price: 0 },
        ...drawdownColors(colors),
        lineWidth: 1,
        title: "drawdown %",
        priceFormat: { type: "price", precision: 2, minMove: 0.01 },
      },
      1,
    );
    const panes = this.chart.panes();
    if (panes[1]) panes[1].setStretchFactor(0.35);
  }

  update(series) {
    const equity = toLine(series.equity);
    this.equity.setData(equity);
    const hold = toLine(series.buy_and_hold);
    this.hold.setData(hold);
    this.element.dataset.holdLast = hold.length ? String(hold[hold.length - 1].value) : "";
    this.drawdown.setData(toLine(series.drawdown_pct.map(([ts, dd]) => [ts, -dd])));
    this.chart.timeScale().fitContent();
    this.element.dataset.points = String(equity.length);
    this.element.dataset.last = equity.length ? String(equity[equity.length - 1].value) : "";
  }

  retheme() {
    const colors = palette();
    this.chart.applyOptions(chartOptions(colors));
    this.equity.applyOptions({ color: colors.accent });
    this.hold.applyOptions({ color: colors.hold });
    this.drawdown.applyOptions(drawdownColors(colors));
  }
}

export class PriceChart {
  constructor(element) {
    this.element = element;
    const colors = palette();
    this.chart = createChart(element, chartOptions(colors));
    refitOnResize(element, this.chart);
    this.candles = this.chart.addSeries(CandlestickSeries, candleColors(colors));
    this.line = this.chart.addSeries(LineSeries, { color: colors.fg, lineWidth: 1.5, visible: false });
    this.candleMarkers = createSeriesMarkers(this.candles, []);
    this.lineMarkers = createSeriesMarkers(this.line, []);
  }

  /** ``bars``: [open ms, open, high, low, close] candles of ``intervalMs``; without them, the
   * per-cycle ``points`` as a line. */
  update(bars, intervalMs, points, trades) {
    const colors = palette();
    const candles = bars.length > 0;
    const data = candles ? toCandles(bars) : toLine(points);
    // a trade at a cycle's time was decided on the candle that closed then
    const shift = candles ? Math.floor(intervalMs / 1000) : 0;
    const marks = tradeMarkers(data, trades, colors, shift);
    this.candles.setData(candles ? data : []);
    this.line.setData(candles ? [] : data);
    this.candles.applyOptions({ visible: candles });
    this.line.applyOptions({ visible: !candles });
    this.candleMarkers.setMarkers(candles ? marks : []);
    this.lineMarkers.setMarkers(candles ? [] : marks);
    this.chart.timeScale().fitContent();
    this.element.dataset.kind = candles ? "candles" : "line";
    this.element.dataset.points = String(data.length);
    this.element.dataset.markers = String(marks.length);
  }

  retheme() {
    const colors = palette();
    this.chart.applyOptions(chartOptions(colors));
    this.candles.applyOptions(candleColors(colors));
    this.line.applyOptions({ color: colors.fg });
  }
}

function candleColors(colors) {
  return {
    upColor: colors.up,
    downColor: colors.down,
    borderUpColor: colors.up,
    borderDownColor: colors.down,
    wickUpColor: colors.up,
    wickDownColor: colors.down,
  };
}

/** Unique ascending candles in seconds (the library's form). */
export function toCandles(bars) {
  const byTime = new Map();
  for (const [ts, open, high, low, close] of bars) byTime.set(Math.floor(ts / 1000), { open, high, low, close });
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([time, bar]) => ({ time, ...bar }));
}

const CURVE_COLORS = ["--accent", "--c2", "--c3", "--c4", "--c5", "--c6", "--c7", "--c8"];

/** Every curve of a backtest run or a comparison; buy-and-hold dashed in its own color. */
export class RunChart {
  constructor(element) {
    this.element = element;
    this.chart = createChart(element, chartOptions(palette()));
    refitOnResize(element, this.chart);
    this.series = [];
  }

  update(curves) {
    for (const series of this.series) this.chart.removeSeries(series);
    const colors = palette();
    let index = 0;
    this.series = curves.map((curve) => {
      const hold = curve.label === "buy and hold";
      const color = hold ? colors.hold : cssColor(CURVE_COLORS[index++ % CURVE_COLORS.length]);
      const series = this.chart.addSeries(LineSeries, {
        color,
        lineWidth: hold ? 1 : 2,
        lineStyle: hold ? 2 : 0,
        title: curve.label,
      });
      series.setData(toLine(curve.points));
      curve.color = color;
      return series;
    });
    this.chart.timeScale().fitContent();
    this.element.dataset.curves = String(curves.length);
    this.element.dataset.last = curves.map((c) => (c.points.length ? c.points[c.points.length - 1][1] : "")).join(",");
  }

  retheme() {
    this.chart.applyOptions(chartOptions(palette()));
  }
}

function cssColor(name) {
  const probe = document.createElement("span");
  probe.hidden = true;
  document.body.append(probe);
  probe.style.color = `var(${name})`;
  const color = getComputedStyle(probe).color;
  probe.remove();
  return color;
}

/** Entries as arrows (up: buy, down: sell), exits as dots (green: net win, red: net loss), each
 * placed on the latest point at or before its time less ``shift`` seconds (a candle's open). */
function tradeMarkers(line, trades, colors, shift = 0) {
  if (!line.length) return [];
  const times = line.map((point) => point.time);
  const snap = (ms) => {
    const t = Math.floor(ms / 1000) - shift;
    let lo = 0;
    let hi = times.length - 1;
    if (t < times[0]) return null;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    return times[lo];
  };
  const marks = [];
  for (const trade of trades) {
    const long = trade.type === "LONG" || trade.type === "long";
    if (trade.entry_ts != null && trade.exit_ts == null) {
      const time = snap(trade.entry_ts);
      if (time != null) {
        marks.push({
          time,
          position: long ? "belowBar" : "aboveBar",
          shape: long ? "arrowUp" : "arrowDown",
          color: colors.accent,
          text: long ? "buy" : "sell",
        });
      }
    }
    if (trade.exit_ts != null) {
      const time = snap(trade.exit_ts);
      const net = (trade.realized_pnl || 0) - (trade.round_trip_fees ?? trade.fee_cost ?? 0);
      if (time != null) {
        marks.push({
          time,
          position: long ? "aboveBar" : "belowBar",
          shape: "circle",
          color: net > 0 ? colors.up : colors.down,
          text: "close",
        });
      }
    }
  }
  return marks.sort((a, b) => a.time - b.time);
}
