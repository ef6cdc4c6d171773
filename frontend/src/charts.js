// The two charts: equity (with buy-and-hold) over its drawdown, and one symbol's price with its
// trades marked. lightweight-charts draws on canvas; the numbers the page shows are in the DOM.

import {
  BaselineSeries,
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
    timeScale: { borderColor: colors.grid, timeVisible: true, secondsVisible: false },
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
    this.hold.setData(toLine(series.buy_and_hold));
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
    this.price = this.chart.addSeries(LineSeries, { color: colors.fg, lineWidth: 1.5 });
    this.markers = createSeriesMarkers(this.price, []);
  }

  update(points, trades) {
    const colors = palette();
    const line = toLine(points);
    this.price.setData(line);
    const marks = tradeMarkers(line, trades, colors);
    this.markers.setMarkers(marks);
    this.chart.timeScale().fitContent();
    this.element.dataset.points = String(line.length);
    this.element.dataset.markers = String(marks.length);
  }

  retheme() {
    const colors = palette();
    this.chart.applyOptions(chartOptions(colors));
    this.price.applyOptions({ color: colors.fg });
  }
}

/** Entries as arrows (up: buy, down: sell), exits as dots (green: net win, red: net loss), each
 * placed on the latest price point at or before its time. */
function tradeMarkers(line, trades, colors) {
  if (!line.length) return [];
  const times = line.map((point) => point.time);
  const snap = (ms) => {
    const t = Math.floor(ms / 1000);
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
