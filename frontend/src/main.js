// The dashboard page. One code path for both modes: every number comes from a tool call, made
// through the host bridge (MCP App) or by POSTing to /mcp (/dashboard on `tradeloop serve --http`).

import { AuthRequired, appCaller, followEvents, httpCaller, readFragment, saveToken } from "./api.js";
import { createHostBridge } from "./bridge.js";
import { EquityChart, PriceChart, RunChart } from "./charts.js";
import * as fmt from "./format.js";

const $ = (id) => document.getElementById(id);
const inApp = window.parent !== window;
const APP_POLL_MS = 15000;
const WAIT_S = 25;
const MIN_REFRESH_MS = 1000;
const TRADES = 200;
const SHOWN_TRADES = 25;
const CYCLES = 25;

const state = {
  strategies: [],
  selected: null,
  detail: null,
  trades: [],
  series: null,
  cycles: [],
  inspected: null,
  pinned: false,
  symbol: null,
  run: null,
  runData: null,
};
let call = null;
let equityChart = null;
let priceChart = null;
let runChart = null;
let refreshing = null;
let queued = false;
let timer = null;

// ------------------------------------------------------------------ small DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child != null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const td = (text, cls) => el("td", { class: cls }, text);
const fill = (tbody, rows) => tbody.replaceChildren(...rows);

function showError(error) {
  $("message").textContent = error ? String(error.message || error) : "";
}

// ------------------------------------------------------------------ loading

async function refresh() {
  if (refreshing) {
    queued = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        queued = false;
        await loadAll();
      } while (queued);
      showError(null);
    } catch (error) {
      if (error instanceof AuthRequired) askForToken();
      else showError(error);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function loadAll() {
  const list = await call("list_strategies", {});
  state.strategies = list.strategies || [];
  // the strategy the host or the address named, else the first one listed (not under a comparison)
  if (!state.selected && !state.run) state.selected = state.strategies[0]?.strategy_id || null;
  renderList();
  await Promise.all([
    state.run ? loadRun(state.run) : null,
    state.selected ? loadStrategy(state.selected) : null,
  ]);
}

/** A backtest run's or a comparison's curves and statistics (kept in the server's memory). */
async function loadRun(id) {
  if (state.runData?.run_id === id) return; // a finished run does not change
  let data;
  try {
    data = await call("get_run_series", { run_id: id });
  } catch (error) {
    if (state.run !== id) return;
    $("run").hidden = false;
    $("run-title").textContent = id;
    $("run-meta").textContent = String(error.message || error);
    $("run-body").hidden = true;
    return;
  }
  if (state.run !== id) return;
  state.runData = data;
  renderRun(data);
}

async function loadStrategy(id) {
  const args = { strategy_id: id };
  const [detail, portfolio, digest, series, trades, cycles] = await Promise.all([
    call("get_strategy", args),
    call("get_portfolio", args),
    call("get_digest", args),
    call("get_chart_series", args),
    call("list_trades", { ...args, newest_first: true, limit: TRADES }),
    call("list_cycles", { ...args, newest_first: true, limit: CYCLES }),
  ]);
  if (id !== state.selected) return;
  state.detail = detail;
  state.series = series;
  state.trades = trades.trades || [];
  state.cycles = cycles.cycles || [];
  $("strategy").hidden = false;
  renderHeader(detail);
  renderStats(detail, digest, series);
  renderPositions(portfolio);
  renderTrades(state.trades);
  ensureCharts();
  equityChart.update(series);
  $("candle-interval").textContent = series.candle_interval ? `${series.candle_interval} candles` : series.candles_note || "";
  renderPrices();
  renderCycles();
  if (!state.pinned || !state.cycles.some((c) => c.compose_id === state.inspected)) {
    state.pinned = false;
    if (state.cycles[0]) await inspect(state.cycles[0].compose_id, false);
    else $("cycle").replaceChildren(el("p", { class: "empty" }, "No cycles yet."));
  }
}

function ensureCharts() {
  if (!equityChart) equityChart = new EquityChart($("equity-chart"));
  if (!priceChart) priceChart = new PriceChart($("price-chart"));
}

// ------------------------------------------------------------------ rendering

function renderList() {
  $("list-empty").hidden = state.strategies.length > 0;
  fill(
    $("strategies").tBodies[0],
    state.strategies.map((s) =>
      el(
        "tr",
        {
          class: "pick",
          tabindex: 0,
          "data-strategy-id": s.strategy_id,
          "aria-selected": s.strategy_id === state.selected ? "true" : "false",
          onclick: () => select(s.strategy_id),
          onkeydown: (event) => event.key === "Enter" && select(s.strategy_id),
        },
        el(
          "td",
          { class: "name" },
          s.name,
          " ",
          el("span", { class: "badge", "data-status": s.status }, s.status),
          el("div", { class: "muted" }, s.strategy_id),
        ),
        el(
          "td",
          { class: "n" },
          el("span", { "data-field": "equity" }, fmt.money(s.equity)),
          el("div", { class: fmt.tone(s.pnl), "data-field": "pnl" }, `${fmt.signed(s.pnl)} (${fmt.pct(s.total_return_pct)})`),
        ),
      ),
    ),
  );
}

function renderHeader(detail) {
  $("s-name").textContent = detail.name;
  const badge = $("s-status");
  badge.textContent = detail.status;
  badge.dataset.status = detail.status;
  $("btn-pause").disabled = detail.status !== "running";
  $("btn-resume").disabled = detail.status !== "paused";
  $("btn-stop").disabled = !["created", "running", "paused", "error"].includes(detail.status);
  const cfg = detail.config;
  const bits = [
    detail.strategy_id,
    cfg.symbols.join(", "),
    `every ${cfg.decide_interval / 60} min`,
    `${cfg.composer} composer`,
    detail.trading_mode,
    detail.data === "replay"
      ? `replay, at ${fmt.time(detail.replay_spec?.simulated_clock_ms)}`
      : detail.strategy_id.startsWith("bt_")
        ? "backtest on the server's candles"
        : "live data",
  ];
  $("s-meta").textContent = bits.join(" · ") + (detail.reason ? ` — ${detail.reason}` : "");
}

function renderStats(detail, digest, series) {
  const trades = Object.values(digest.by_instrument || {}).reduce((n, e) => n + e.trade_count, 0);
  const items = [
    ["Equity", fmt.money(detail.equity), "equity"],
    ["PnL", fmt.signed(detail.pnl), "pnl", fmt.tone(detail.pnl)],
    ["Return", fmt.pct(detail.total_return_pct), "return", fmt.tone(detail.total_return_pct)],
    ["Max drawdown", fmt.pct(digest.max_drawdown_pct), "max-drawdown"],
    ["Sharpe", digest.sharpe_ratio == null ? "–" : fmt.num(digest.sharpe_ratio), "sharpe"],
    ["Closed trades", String(trades), "trades"],
    ["Fees", fmt.money(digest.fees_paid), "fees"],
    ["Cycles", String(series.cycles), "cycles"],
  ];
  fill(
    $("stats"),
    items.map(([label, value, key, tone]) =>
      el("div", {}, el("dt", {}, label), el("dd", { "data-stat": key, class: tone }, value)),
    ),
  );
}

function renderPositions(portfolio) {
  const rows = Object.entries(portfolio.positions || {}).map(([symbol, p]) =>
    el(
      "tr",
      { "data-symbol": symbol },
      td(symbol),
      td(p.quantity >= 0 ? "long" : "short"),
      td(fmt.qty(Math.abs(p.quantity)), "n"),
      td(fmt.price(p.avg_price), "n"),
      td(fmt.price(p.mark_price), "n"),
      td(fmt.signed(p.unrealized_pnl), `n ${fmt.tone(p.unrealized_pnl)}`),
    ),
  );
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No open positions.")));
  fill($("positions").tBodies[0], rows);
  $("cash").textContent = `Cash ${fmt.money(portfolio.cash)} · equity ${fmt.money(portfolio.equity)} · leverage ${fmt.num(portfolio.leverage)}x`;
}

function renderTrades(trades) {
  const rows = trades.slice(0, SHOWN_TRADES).map((t) => {
    const net = t.realized_pnl == null ? null : t.realized_pnl - (t.round_trip_fees ?? t.fee_cost ?? 0);
    return el(
      "tr",
      { "data-trade-id": t.trade_id },
      td(fmt.time(t.exit_ts ?? t.entry_ts)),
      td(t.instrument.symbol),
      td(`${t.side.toLowerCase()} ${t.exit_ts == null ? "open" : "close"}`),
      td(fmt.qty(t.quantity), "n"),
      td(fmt.price(t.entry_price), "n"),
      td(fmt.price(t.exit_price), "n"),
      td(net == null ? "–" : fmt.signed(net), `n ${fmt.tone(net)}`),
    );
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No trades yet.")));
  fill($("trades").tBodies[0], rows);
}

const UNIT_S = { m: 60, h: 3600, d: 86400, w: 604800 };
const intervalSeconds = (name) => Number(name.slice(0, -1)) * (UNIT_S[name.slice(-1)] || 0);

function renderPrices() {
  const symbols = state.series.prices.map((p) => p.symbol);
  if (!symbols.includes(state.symbol)) state.symbol = symbols[0] || null;
  const select = $("symbol");
  select.replaceChildren(...symbols.map((s) => el("option", { value: s, selected: s === state.symbol }, s)));
  const prices = state.series.prices.find((p) => p.symbol === state.symbol);
  const candles = (state.series.candles || []).find((c) => c.symbol === state.symbol);
  const trades = state.trades.filter((t) => t.instrument.symbol === state.symbol);
  const intervalMs = state.series.candle_interval ? intervalSeconds(state.series.candle_interval) * 1000 : 0;
  priceChart.update(candles ? candles.bars : [], intervalMs, prices ? prices.points : [], [...trades].reverse());
}

const RUN_METRICS = [
  ["total_return_pct", "Return", fmt.pct],
  ["annual_return_pct", "CAGR", fmt.pct],
  ["sharpe_ratio", "Sharpe", fmt.num],
  ["sortino_ratio", "Sortino", fmt.num],
  ["max_drawdown_pct", "Max DD", fmt.pct],
  ["trades", "Trades", fmt.num],
  ["win_rate_pct", "Win rate", fmt.pct],
  ["fees_paid", "Fees", fmt.money],
];

/** ``mean [low, high]`` over repeated runs, else the one run's value. */
function metricCell(stats, intervals, key, format) {
  const ci = intervals?.[key];
  const text = ci ? `${format(ci.mean)} [${format(ci.low)}, ${format(ci.high)}]` : format(stats[key]);
  const tone = ["total_return_pct", "annual_return_pct"].includes(key) ? fmt.tone(ci ? ci.mean : stats[key]) : "";
  return el("td", { class: `n ${tone}`, "data-metric": key }, text);
}

function runRows(data) {
  const row = (label, stats, intervals, extra) =>
    el("tr", { "data-row": label }, td(label), RUN_METRICS.map(([key, , format]) => metricCell(stats, intervals, key, format)), td(extra ?? "", "n"));
  if (data.kind === "comparison") {
    const c = data.comparison;
    return [
      ...c.strategies.map((s) => row(s.label, s.stats, s.intervals, `${s.beat_buy_and_hold}/${s.runs}`)),
      row("buy and hold", c.buy_and_hold, null, "–"),
      row("default rules", c.default_rules, null, ""),
    ];
  }
  const b = data.backtest;
  const baselines = (b.baselines || []).map((x) => row(x.name.replaceAll("_", " "), x.stats, null, ""));
  return [...(b.stats ? [row(data.curves[0]?.label || b.run_id, b.stats, null, "")] : []), ...baselines];
}

function renderRun(data) {
  $("run").hidden = false;
  $("run-body").hidden = false;
  const comparison = data.kind === "comparison";
  const c = data.comparison;
  const b = data.backtest;
  $("run-title").textContent = comparison ? `Comparison ${data.run_id}` : `Backtest ${data.run_id}`;
  const start = comparison ? c.start_ms : b.start_ms;
  const end = comparison ? c.end_ms : b.end_ms;
  const runs = comparison && c.repeats > 1 ? ` · ${c.repeats} runs per LLM strategy, 95 % intervals` : "";
  $("run-meta").textContent = `${fmt.time(start)} – ${fmt.time(end)}${runs}`;
  // a backtest's own curve is drawn with its drawdown in the strategy section below
  $("run-chart").hidden = !comparison;
  $("run-legend").hidden = !comparison;
  if (comparison) {
    if (!runChart) runChart = new RunChart($("run-chart"));
    runChart.update(data.curves);
    $("run-legend").replaceChildren(
      ...data.curves.map((curve) => el("span", {}, el("span", { class: "swatch", style: `background:${curve.color}` }), curve.label)),
    );
  }
  $("run-table").tHead.replaceChildren(
    el("tr", {}, el("th", {}, comparison ? "Strategy" : "Run"), RUN_METRICS.map(([, label]) => el("th", { class: "n" }, label)), el("th", { class: "n" }, comparison ? "Beat B&H" : "")),
  );
  fill($("run-table").tBodies[0], runRows(data));
  const warnings = comparison ? c.warnings : b.warnings;
  $("run-notes").replaceChildren(...(warnings || []).map((w) => el("li", {}, w)));
}

function renderCycles() {
  fill(
    $("cycles"),
    state.cycles.map((c) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            "data-compose-id": c.compose_id,
            "aria-pressed": c.compose_id === state.inspected ? "true" : "false",
            onclick: () => inspect(c.compose_id, true),
          },
          `${fmt.time(c.ts)} · ${c.status}`,
          el("div", { class: "muted" }, `${c.instructions}/${c.proposed} orders · ${c.dropped} dropped · ${c.fills} fills`),
        ),
      ),
    ),
  );
}

async function inspect(composeId, pinned) {
  state.inspected = composeId;
  state.pinned = pinned;
  for (const button of $("cycles").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", button.dataset.composeId === composeId ? "true" : "false");
  }
  try {
    const cycle = await call("get_cycle", { compose_id: composeId });
    if (state.inspected === composeId) renderCycle(cycle);
  } catch (error) {
    showError(error);
  }
}

const FEATURE_COLUMNS = ["price", "close", "rsi", "macd_hist", "ema_20", "ema_50", "atr"];

function renderCycle(cycle) {
  const box = $("cycle");
  const table = (head, rows, empty) =>
    rows.length
      ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows)))
      : el("p", { class: "empty" }, empty);
  const features = cycle.features.map((f) =>
    el(
      "tr",
      {},
      td(f.instrument.symbol),
      td(f.meta?.interval || (f.meta?.group_by_key === "market_snapshot" ? "now" : "")),
      FEATURE_COLUMNS.map((key) => td(fmt.num(f.values[key]), "n")),
    ),
  );
  const instruction = (i) =>
    el("tr", {}, td(i.instrument.symbol), td(i.action || i.side), td(fmt.qty(i.quantity), "n"), td(i.leverage == null ? "–" : `${i.leverage}x`, "n"));
  box.replaceChildren(
    el("p", {}, el("strong", {}, fmt.time(cycle.ts)), ` · ${cycle.status}`, cycle.reason ? ` — ${cycle.reason}` : "", el("div", { class: "muted" }, cycle.compose_id)),
    el("h4", {}, "Rationale"),
    el("p", { class: "rationale", "data-part": "rationale" }, cycle.rationale || "(none)"),
    el("h4", {}, "Plan (proposed)"),
    table(["Symbol", "Action", "Quantity", "Leverage"], cycle.proposed.map(instruction), "Nothing proposed."),
    el("h4", {}, "Passed the guardrails"),
    table(["Symbol", "Action", "Quantity", "Leverage"], cycle.instructions.map(instruction), "Nothing passed."),
    el("h4", {}, "Guard drops"),
    table(
      ["Symbol", "Outcome", "Reason"],
      cycle.guard_notes.map((n) => el("tr", { "data-part": "guard-note" }, td(n.symbol), td(n.outcome), el("td", { style: "white-space:normal" }, n.reason))),
      "No drops.",
    ),
    el("h4", {}, "Fills"),
    table(
      ["Symbol", "Side", "Status", "Filled", "Price", "Fee"],
      cycle.tx_results.map((t) =>
        el("tr", { "data-part": "fill" }, td(t.instrument.symbol), td(t.side), td(t.status), td(fmt.qty(t.filled_qty), "n"), td(fmt.price(t.avg_exec_price), "n"), td(fmt.money(t.fee_cost), "n")),
      ),
      "No fills.",
    ),
    el("h4", {}, "Features"),
    table(["Symbol", "Interval", ...FEATURE_COLUMNS], features, "No features."),
  );
}

// ------------------------------------------------------------------ interaction

function select(id) {
  if (id === state.selected) return;
  state.selected = id;
  state.inspected = null;
  state.pinned = false;
  renderList();
  refresh();
}

async function act(tool, args, note) {
  const buttons = ["btn-pause", "btn-resume", "btn-stop", "btn-stop-yes"].map($);
  for (const b of buttons) b.disabled = true;
  $("stop-confirm").hidden = true;
  try {
    const change = await call(tool, { strategy_id: state.selected, ...args });
    $("s-note").textContent = change.message || note;
  } catch (error) {
    showError(error);
  } finally {
    $("btn-stop-yes").disabled = false;
    await refresh();
  }
}

function wireButtons() {
  $("btn-pause").addEventListener("click", () => act("pause_strategy", {}, "paused"));
  $("btn-resume").addEventListener("click", () => act("resume_strategy", {}, "resumed"));
  $("btn-stop").addEventListener("click", () => {
    $("stop-confirm").hidden = false;
    $("btn-stop-yes").focus();
  });
  $("btn-stop-no").addEventListener("click", () => ($("stop-confirm").hidden = true));
  $("btn-stop-yes").addEventListener("click", () => act("stop_strategy", { close_positions: false }, "stopped"));
  $("btn-run-close").addEventListener("click", () => {
    state.run = null;
    state.runData = null;
    $("run").hidden = true;
    if (!state.selected) refresh();
  });
  $("symbol").addEventListener("change", (event) => {
    state.symbol = event.target.value;
    renderPrices();
  });
}

/** One refresh shortly after a burst of events starts (a replay can send one every few ms). */
function soon() {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, 200);
}

function setConnection(text, key) {
  const conn = $("conn");
  conn.textContent = text;
  conn.dataset.state = key;
}

// ------------------------------------------------------------------ themes

function applyTheme(theme) {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  retheme();
}

function retheme() {
  equityChart?.retheme();
  priceChart?.retheme();
  if (runChart && state.runData) {
    runChart.retheme();
    renderRun(state.runData);
  }
}

function applyHostContext(context) {
  if (!context) return;
  if (context.theme) applyTheme(context.theme);
  const variables = context.styles?.variables;
  if (variables) {
    for (const [name, value] of Object.entries(variables)) {
      if (value) document.documentElement.style.setProperty(name, value);
    }
  }
}

// ------------------------------------------------------------------ start

function askForToken() {
  setConnection("token needed", "auth");
  $("auth").hidden = false;
  $("auth-token").focus();
}

function hintFrom(value) {
  const id = value?.strategy_id || value?.run_id;
  return typeof id === "string" ? id : null;
}

/** What a tool result names: a comparison, a backtest run (also a stored strategy), a strategy. */
function showResult(value) {
  if (typeof value?.comparison_id === "string") {
    state.run = value.comparison_id;
    return;
  }
  if (typeof value?.run_id === "string") state.run = value.run_id;
  const id = hintFrom(value);
  if (id) state.selected = id;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const visible = () =>
  document.hidden
    ? new Promise((resolve) => document.addEventListener("visibilitychange", resolve, { once: true }))
    : null;

/** Inside a host, the server cannot push (see tools/dashboard_watch.py): the page long-polls
 * ``wait_for_change``, which answers as soon as a cycle is stored or a status changes. Hosts
 * that refuse the call get the old behaviour: a poll every 15 s while the strategy runs. */
async function watchChanges() {
  let failures = 0;
  for (;;) {
    await visible();
    const d = state.detail;
    const args = d ? { strategy_id: d.strategy_id, cycles: d.cycles, status: d.status, timeout_s: WAIT_S } : { timeout_s: WAIT_S };
    try {
      const change = await call("wait_for_change", args);
      failures = 0;
      setConnection("in chat · live", "live");
      if (change.changed) {
        const started = Date.now();
        await refresh();
        await sleep(MIN_REFRESH_MS - (Date.now() - started));
      }
    } catch (error) {
      failures += 1;
      if (failures >= 3) {
        setConnection("in chat", "app");
        setInterval(() => {
          if (!document.hidden && state.detail?.status === "running") refresh();
        }, APP_POLL_MS);
        return;
      }
      await sleep(2000 * 2 ** failures);
    }
  }
}

async function startApp() {
  setConnection("in chat", "app");
  const bridge = createHostBridge({
    onToolInput: (args) => {
      const id = hintFrom(args);
      if (id && id !== state.selected) {
        state.selected = id;
        soon();
      }
    },
    onToolResult: (result) => {
      showResult(result.structuredContent);
      soon();
    },
    onHostContext: applyHostContext,
  });
  call = appCaller(bridge);
  const init = await bridge.connect({ name: "tradeloop-dashboard", version: "1" });
  applyHostContext(init.hostContext);
  new ResizeObserver(() => bridge.sizeChanged(document.documentElement.scrollWidth, document.documentElement.scrollHeight)).observe(document.body);
  await refresh();
  watchChanges();
}

function startHttp() {
  const named = readFragment();
  state.run = named.run;
  // a backtest run is also stored as a (stopped) strategy: show both
  state.selected = named.strategy || (named.run?.startsWith("bt_") ? named.run : null);
  call = httpCaller();
  $("auth").addEventListener("submit", (event) => {
    event.preventDefault();
    saveToken($("auth-token").value.trim());
    $("auth").hidden = true;
    startEvents();
    refresh();
  });
  startEvents();
  refresh();
}

let following = false;
function startEvents() {
  if (following) return;
  following = true;
  followEvents(
    () => soon(),
    (status) => {
      if (status === "auth") {
        following = false;
        askForToken();
      } else setConnection(status === "live" ? "live" : "reconnecting…", status);
      if (status === "live") soon();
    },
  );
}

window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", retheme);
wireButtons();
if (inApp) startApp().catch(showError);
else startHttp();
