"""The dashboard in headless Chromium: /dashboard against a real ``tradeloop serve --http`` with
a replayed strategy, and the MCP App page inside a harness that plays the host (with recorded tool
results, or passing the page's tool calls on to the real server).

Every run saves screenshots at 400 px and 1280 px to bench/out/ (gitignored).

Waits are bounded polls on a condition (Playwright's wait_for_* re-check until it holds): they
return as soon as the page shows what is expected, and the bound only matters when the machine is
loaded (several test runs on 2 cores took over 20 s to draw a page).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser import (
    CHROMIUM_ARGS,
    SCREENSHOTS,
    Served,
    chromium_or_skip,
    money,
    signed,
    start_server,
    stop_server,
)
from tradeloop.dashboard.page import dashboard_html

MAX_CYCLES = 400
"""Bound on the cycles run to reach a closed trade and an open position."""
WAIT_MS = 90_000
"""Bound of every wait on a condition (not a sleep: each returns when its condition holds)."""
TOKEN = "dashboard-browser-token"
"""The server runs with a bearer token: every page below reaches it through the token."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(browser, shared_data: Path, tmp_path_factory) -> Iterator[Served]:
    server = start_server(shared_data, tmp_path_factory.mktemp("dash") / "t.db", token=TOKEN)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def traded(served: Served) -> str:
    """A replayed BTC/ETH strategy stepped until it has closed a trade and holds a position."""
    sid = served.call(
        "create_strategy",
        symbols=["BTC-USDT", "ETH-USDT"],
        initial_capital=10_000,
        name="dashboard-replay",
    )["strategy_id"]
    closed = False
    for _ in range(MAX_CYCLES):
        outcome = served.call("run_cycle_now", strategy_id=sid)
        closed = closed or any(t["exit_ts"] for t in outcome["trades"])
        if closed and outcome["open_positions"]:
            return sid
    raise AssertionError(f"no closed trade and open position within {MAX_CYCLES} cycles")


def open_dashboard(browser, served: Served, sid: str, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(served.base) else outside.append(request.url)
        ),
    )
    page.outside_requests = outside
    page.goto(f"{served.base}/dashboard#s={sid}&token={TOKEN}")
    assert "token" not in page.url  # kept for the tab, gone from the address bar
    cycles = served.call("get_strategy", strategy_id=sid)["cycles"]
    wait_for_stat(page, "cycles", str(cycles))
    return page


def wait_for_stat(page, key: str, text: str) -> None:
    page.wait_for_function(
        "([key, text]) => document.querySelector(`#stats [data-stat=${key}]`)?.textContent === text",
        arg=[key, text],
        timeout=WAIT_MS,
    )


def wait_for_charts_to_fit(page) -> None:
    """Until every shown chart has redrawn its whole range at its new width (after a resize)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.chart')]
            .filter(c => c.offsetParent !== null)
            .every(c => c.clientWidth <= 400 && c.dataset.fittedWidth === String(c.clientWidth))""",
        timeout=WAIT_MS,
    )


def stat(page, key: str) -> str:
    return page.inner_text(f"#stats [data-stat={key}]")


def test_the_dashboard_shows_the_equity_positions_and_trades_the_tools_report(
    browser, served: Served, traded: str
) -> None:
    page = open_dashboard(browser, served, traded)
    detail = served.call("get_strategy", strategy_id=traded)
    portfolio = served.call("get_portfolio", strategy_id=traded)
    trades = served.call("list_trades", strategy_id=traded, newest_first=True, limit=25)["trades"]
    charted = served.call("get_chart_series", strategy_id=traded)

    assert stat(page, "equity") == money(detail["equity"])
    assert stat(page, "pnl") == signed(detail["pnl"])
    chart = page.locator("#equity-chart")
    assert chart.get_attribute("data-points") == str(detail["cycles"]) == str(charted["cycles"])
    assert float(chart.get_attribute("data-last")) == pytest.approx(detail["equity"])

    rows = page.locator("#positions tbody tr[data-symbol]")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.symbol)")) == sorted(
        portfolio["positions"]
    )
    for symbol, position in portfolio["positions"].items():
        cells = page.locator(f'#positions tr[data-symbol="{symbol}"] td').all_inner_texts()
        assert cells[4] == money(position["mark_price"])
        assert cells[5] == signed(position["unrealized_pnl"])
        shown_qty = float(cells[2].replace(",", ""))
        assert shown_qty == pytest.approx(abs(position["quantity"]), abs=1e-8)

    shown = page.locator("#trades tbody tr[data-trade-id]")
    assert shown.evaluate_all("rows => rows.map(r => r.dataset.tradeId)") == [
        t["trade_id"] for t in trades
    ]
    traded_symbol = trades[0]["instrument"]["symbol"]
    page.select_option("#symbol", traded_symbol)
    assert int(page.locator("#price-chart").get_attribute("data-markers")) >= 1

    newest = served.call("list_cycles", strategy_id=traded, newest_first=True, limit=1)
    newest_id = newest["cycles"][0]["compose_id"]
    page.wait_for_selector(f"#cycle >> text={newest_id}", timeout=WAIT_MS)
    assert page.locator("#cycle [data-part=rationale]").inner_text()
    assert page.outside_requests == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-1280.png"), full_page=True)
    page.set_viewport_size({"width": 400, "height": 900})
    wait_for_charts_to_fit(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.screenshot(path=str(SCREENSHOTS / "dashboard-400.png"), full_page=True)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    page.screenshot(path=str(SCREENSHOTS / "dashboard-400-dark.png"), full_page=True)
    page.close()


def test_a_cycle_completed_while_the_page_is_open_appears_without_reload(
    browser, served: Served, traded: str
) -> None:
    page = open_dashboard(browser, served, traded)
    page.evaluate("window.stillTheSamePage = true")
    page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)
    before = int(stat(page, "cycles"))

    outcome = served.call("run_cycle_now", strategy_id=traded)

    wait_for_stat(page, "cycles", str(before + 1))
    page.wait_for_selector(f'#cycles [data-compose-id="{outcome["compose_id"]}"]', timeout=WAIT_MS)
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.locator("#equity-chart").get_attribute("data-points") == str(before + 1)
    detail = served.call("get_strategy", strategy_id=traded)
    wait_for_stat(page, "equity", money(detail["equity"]))
    page.close()


def test_the_buttons_pause_resume_and_stop_the_strategy(browser, served: Served) -> None:
    sid = served.call(
        "create_strategy",
        symbols=["BTC-USDT"],
        initial_capital=1_000,
        name="dashboard-buttons",  # hourly: a replay that takes minutes to reach the data's end
    )["strategy_id"]
    served.call("start_strategy", strategy_id=sid)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served.base}/dashboard#s={sid}&token={TOKEN}")
    badge = "#s-status"
    page.wait_for_selector(f"{badge}[data-status=running]", timeout=WAIT_MS)

    page.click("#btn-pause")
    page.wait_for_selector(f"{badge}[data-status=paused]", timeout=WAIT_MS)
    assert served.call("get_strategy", strategy_id=sid)["status"] == "paused"

    page.click("#btn-resume")
    page.wait_for_selector(f"{badge}[data-status=running]", timeout=WAIT_MS)
    assert served.call("get_strategy", strategy_id=sid)["status"] == "running"

    page.click("#btn-stop")
    page.click("#btn-stop-yes")
    page.wait_for_selector(f"{badge}[data-status=stopped]", timeout=WAIT_MS)
    assert served.call("get_strategy", strategy_id=sid)["status"] == "stopped"
    page.close()


HARNESS = """<!doctype html>
<html><body style="margin:0">
<iframe id="app" sandbox="allow-scripts" style="display:block;width:100%;height:2600px;border:0">
</iframe>
<script>
const recorded = RECORDED;
window.hostLog = [];
const frame = document.getElementById("app");
const send = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data;
  window.hostLog.push(m);
  if (m.method === "ui/initialize") {
    send({ id: m.id, result: {
      protocolVersion: "2026-01-26",
      hostInfo: { name: "test-harness", version: "1" },
      hostCapabilities: { serverTools: {} },
      hostContext: { theme: "dark", displayMode: "inline", platform: "web",
        styles: { variables: { "--color-background-primary": "#101820" } } },
    } });
  } else if (m.method === "ui/notifications/initialized") {
    send({ method: "ui/notifications/tool-input", params: { arguments: recorded.input } });
    send({ method: "ui/notifications/tool-result", params: recorded.tools.get_digest });
  } else if (m.method === "tools/call") {
    const name = m.params.name;
    const result = name === "get_cycle"
      ? recorded.cycles[m.params.arguments.compose_id] : recorded.tools[name];
    send({ id: m.id, result: result
      || { isError: true, content: [{ type: "text", text: "not recorded: " + name }] } });
  }
});
frame.srcdoc = PAGE;
</script>
</body></html>
"""


def _script_json(value: Any) -> str:
    return json.dumps(value).replace("</", "<\\/")


def test_the_app_page_renders_in_a_host_from_recorded_tool_results(
    browser, served: Served, traded: str
) -> None:
    args = {"strategy_id": traded}
    tools = {
        name: served.raw(name, args)
        for name in ("get_strategy", "get_portfolio", "get_digest", "get_chart_series")
    }
    tools["list_strategies"] = served.raw("list_strategies", {})
    tools["list_trades"] = served.raw("list_trades", {**args, "newest_first": True, "limit": 200})
    tools["list_cycles"] = served.raw("list_cycles", {**args, "newest_first": True, "limit": 25})
    cycles = {
        c["compose_id"]: served.raw("get_cycle", {"compose_id": c["compose_id"]})
        for c in tools["list_cycles"]["structuredContent"]["cycles"][:3]
    }
    throwaway = served.call("create_strategy", symbols=["ETH-USDT"], initial_capital=500)
    tools["stop_strategy"] = served.raw("stop_strategy", {"strategy_id": throwaway["strategy_id"]})
    recorded = {"input": args, "tools": tools, "cycles": cycles}
    harness = HARNESS.replace("RECORDED", _script_json(recorded)).replace(
        "PAGE", _script_json(dashboard_html())
    )

    page = browser.new_page(viewport={"width": 400, "height": 2600})  # the whole frame painted
    page.set_content(harness)
    app = page.frame_locator("#app")
    equity = tools["get_strategy"]["structuredContent"]["equity"]
    app.locator("#stats [data-stat=equity]").filter(has_text=money(equity)).wait_for(
        timeout=WAIT_MS
    )
    assert app.locator("html").get_attribute("data-theme") == "dark"
    background = app.locator("body").evaluate("body => getComputedStyle(body).backgroundColor")
    assert background == "rgb(16, 24, 32)"  # the host's style variable
    positions = tools["get_portfolio"]["structuredContent"]["positions"]
    symbols = app.locator("#positions tr[data-symbol]").evaluate_all(
        "rows => rows.map(r => r.dataset.symbol)"
    )
    assert sorted(symbols) == sorted(positions)
    log = page.evaluate("window.hostLog")
    assert log[0]["method"] == "ui/initialize"
    called = {m["params"]["name"] for m in log if m.get("method") == "tools/call"}
    assert {"get_strategy", "get_portfolio", "get_digest", "get_chart_series"} <= called

    app.locator("#btn-stop").click()
    app.locator("#btn-stop-yes").click()
    page.wait_for_function(
        "() => window.hostLog.some(m => m.method === 'tools/call'"
        " && m.params.name === 'stop_strategy')",
        timeout=WAIT_MS,
    )
    stop = next(
        m
        for m in page.evaluate("window.hostLog")
        if m.get("params", {}).get("name") == "stop_strategy"
    )
    assert stop["params"]["arguments"] == {"strategy_id": traded, "close_positions": False}
    app.locator("#s-note").filter(has_text="stopped").wait_for(timeout=WAIT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "app-400-dark.png"), full_page=True)
    page.close()


def test_without_the_token_the_page_asks_for_it_then_loads_through_it(
    browser, served: Served, traded: str
) -> None:
    page = browser.new_page(viewport={"width": 400, "height": 900})
    page.goto(f"{served.base}/dashboard")
    page.wait_for_selector("#auth", state="visible", timeout=WAIT_MS)
    assert page.locator("#strategies tbody tr").count() == 0
    page.fill("#auth-token", TOKEN)
    page.click("#auth button[type=submit]")
    page.wait_for_selector(f'#strategies tr[data-strategy-id="{traded}"]', timeout=WAIT_MS)
    page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)
    assert page.locator("#auth").is_hidden()
    page.close()


def test_the_price_chart_draws_the_tools_candles_with_the_trades_marked(
    browser, served: Served, traded: str
) -> None:
    page = open_dashboard(browser, served, traded)
    charted = served.call("get_chart_series", strategy_id=traded)
    trades = served.call("list_trades", strategy_id=traded, newest_first=True, limit=200)["trades"]
    symbol = trades[0]["instrument"]["symbol"]
    bars = next(c["bars"] for c in charted["candles"] if c["symbol"] == symbol)
    page.select_option("#symbol", symbol)
    chart = page.locator(f'#price-chart[data-kind=candles][data-points="{len(bars)}"]')
    chart.wait_for(timeout=WAIT_MS)
    assert int(chart.get_attribute("data-markers")) >= 1
    assert page.inner_text("#candle-interval") == f"{charted['candle_interval']} candles"
    page.close()


def test_the_page_draws_buy_and_hold_with_fees_as_the_digest_counts_it(
    browser, served: Served, traded: str
) -> None:
    page = open_dashboard(browser, served, traded)
    digest = served.call("get_digest", strategy_id=traded)
    capital = served.call("get_strategy", strategy_id=traded)["initial_capital"]
    drawn = float(page.locator("#equity-chart").get_attribute("data-hold-last"))
    assert drawn == pytest.approx(capital * (1 + digest["buy_and_hold"]["total_return_pct"] / 100))
    page.close()


def pct(value: float) -> str:
    return f"{money(value)} %"


@pytest.fixture(scope="module")
def compared(served: Served) -> dict[str, Any]:
    strategies = [
        {"label": "rsi30", "symbols": ["BTC-USDT", "ETH-USDT"]},
        {
            "label": "rsi40 trend",
            "symbols": ["BTC-USDT", "ETH-USDT"],
            "rules": {"rsi_buy_below": 40, "trend_filter": True},
        },
    ]
    return served.call(
        "compare_strategies", strategies=strategies, start="2025-02-01", end="2025-04-01"
    )


def check_comparison_table(frame, compared: dict[str, Any]) -> None:
    for strategy in compared["strategies"]:
        row = frame.locator(f'#run-table tr[data-row="{strategy["label"]}"]')
        cell = row.locator("[data-metric=total_return_pct]")
        assert cell.inner_text() == pct(strategy["stats"]["total_return_pct"])
    hold = frame.locator('#run-table tr[data-row="buy and hold"] [data-metric=total_return_pct]')
    assert hold.inner_text() == pct(compared["buy_and_hold"]["total_return_pct"])


def test_a_comparison_opens_on_the_page_with_every_curve_and_its_table(
    browser, served: Served, compared: dict[str, Any]
) -> None:
    cid = compared["comparison_id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served.base}/dashboard#r={cid}&token={TOKEN}")
    page.locator("#run-chart[data-curves='3']").wait_for(timeout=WAIT_MS)
    page.locator('#run-table tr[data-row="rsi40 trend"]').wait_for(timeout=WAIT_MS)
    check_comparison_table(page, compared)
    legend = page.locator("#run-legend").inner_text()
    assert "rsi30" in legend and "buy and hold" in legend
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "comparison-1280.png"), full_page=True)
    page.set_viewport_size({"width": 400, "height": 900})
    wait_for_charts_to_fit(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.screenshot(path=str(SCREENSHOTS / "comparison-400.png"), full_page=True)
    page.close()


PROXY_HOST = """<!doctype html>
<html><body style="margin:0">
<iframe id="app" sandbox="allow-scripts" style="display:block;width:100%;height:2600px;border:0">
</iframe>
<script>
// A host that passes the page's tool calls on to the real server (POST /mcp, this origin).
const opened = OPENED;
window.hostLog = [];
const frame = document.getElementById("app");
const send = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
let next = 0;
async function callServer(name, args) {
  const id = ++next;
  const response = await fetch("/mcp", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2026-07-28",
      "Mcp-Method": "tools/call",
      "Mcp-Name": name,
      Authorization: "Bearer " + TOKEN_VALUE,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: {
      name, arguments: args, _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} } } }),
  });
  const text = await response.text();
  if (!(response.headers.get("content-type") || "").includes("event-stream")) return JSON.parse(text);
  for (const line of text.split("\\n")) {
    if (line.startsWith("data:")) {
      const message = JSON.parse(line.slice(5));
      if (message.id === id) return message;
    }
  }
  throw new Error("no answer");
}
window.addEventListener("message", async (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data;
  window.hostLog.push(m);
  if (m.method === "ui/initialize") {
    send({ id: m.id, result: {
      protocolVersion: "2026-01-26",
      hostInfo: { name: "proxy-harness", version: "1" },
      hostCapabilities: { serverTools: {} },
      hostContext: { theme: "dark", displayMode: "inline", platform: "web" },
    } });
  } else if (m.method === "ui/notifications/initialized") {
    send({ method: "ui/notifications/tool-input", params: { arguments: opened.input } });
    send({ method: "ui/notifications/tool-result", params: opened.result });
  } else if (m.method === "tools/call") {
    const reply = await callServer(m.params.name, m.params.arguments);
    send({ id: m.id, result: reply.result, error: reply.error });
  }
});
frame.srcdoc = PAGE;
</script>
</body></html>
"""


def open_in_proxy_host(browser, served: Served, arguments: dict[str, Any], result: dict[str, Any]):
    """The App page as a host shows it after the model's tool call (``arguments``, ``result``),
    with the page's own tool calls going to the real server."""
    opened = {"input": arguments, "result": result}
    harness = (
        PROXY_HOST.replace("OPENED", _script_json(opened))
        .replace("TOKEN_VALUE", _script_json(TOKEN))
        .replace("PAGE", _script_json(dashboard_html()))
    )
    page = browser.new_page(viewport={"width": 400, "height": 2600})
    page.goto(f"{served.base}/dashboard/host")  # a page of the server's origin (a 404)
    page.set_content(harness)
    return page, page.frame_locator("#app")


def test_the_app_page_shows_a_new_cycle_when_the_server_answers_its_wait(
    browser, served: Served, traded: str
) -> None:
    args = {"strategy_id": traded}
    page, app = open_in_proxy_host(browser, served, args, served.raw("get_strategy", args))
    before = served.call("get_strategy", strategy_id=traded)["cycles"]
    app.locator(f'#stats [data-stat=cycles]:text-is("{before}")').wait_for(timeout=WAIT_MS)
    page.wait_for_function(  # the page is waiting on the server, not on a timer
        "() => window.hostLog.some(m => m.params?.name === 'wait_for_change')", timeout=WAIT_MS
    )

    served.call("run_cycle_now", strategy_id=traded)

    app.locator(f'#stats [data-stat=cycles]:text-is("{before + 1}")').wait_for(timeout=WAIT_MS)
    equity = served.call("get_strategy", strategy_id=traded)["equity"]
    app.locator(f'#stats [data-stat=equity]:text-is("{money(equity)}")').wait_for(timeout=WAIT_MS)
    page.close()


def test_the_app_page_draws_the_comparison_a_compare_strategies_call_returned(
    browser, served: Served, compared: dict[str, Any]
) -> None:
    result = {
        "content": [{"type": "text", "text": json.dumps(compared)}],
        "structuredContent": compared,
    }
    page, app = open_in_proxy_host(browser, served, {"strategies": []}, result)
    app.locator("#run-chart[data-curves='3']").wait_for(timeout=WAIT_MS)
    app.locator('#run-table tr[data-row="rsi40 trend"]').wait_for(timeout=WAIT_MS)
    check_comparison_table(app, compared)
    assert app.locator("#strategy").is_hidden()  # a comparison alone: no strategy picked for it
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "app-comparison-400-dark.png"), full_page=True)
    page.close()


def test_a_backtest_run_shows_its_statistics_beside_the_baselines_and_its_curve(
    browser, served: Served
) -> None:
    run = served.call(
        "run_backtest",
        symbols=["BTC-USDT", "ETH-USDT"],
        initial_capital=5_000,
        start="2025-01-01",
        end="2025-01-20",
        name="dashboard-backtest",
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served.base}/dashboard#r={run['run_id']}&token={TOKEN}")
    page.locator('#run-table tr[data-row="default rules"]').wait_for(timeout=WAIT_MS)
    rows = page.locator("#run-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.row)")
    assert rows == ["dashboard-backtest", "buy and hold", "default rules"]
    shown = page.locator("#run-table [data-metric=total_return_pct]").all_inner_texts()
    expected = [run["stats"]] + [b["stats"] for b in run["baselines"]]
    assert shown == [pct(stats["total_return_pct"]) for stats in expected]
    chart = page.locator(f'#equity-chart[data-points="{run["cycles_done"]}"]')
    chart.wait_for(timeout=WAIT_MS)  # the run's own curve, with its drawdown, as a strategy's
    hold = next(b for b in run["baselines"] if b["name"] == "buy_and_hold")["stats"]
    assert float(chart.get_attribute("data-hold-last")) == pytest.approx(hold["final_equity"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "backtest-1280.png"), full_page=True)
    page.close()
