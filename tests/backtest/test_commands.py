"""The ``tradeloop backtest`` and ``tradeloop candles download`` commands, end to end."""

from __future__ import annotations

import json
import sqlite3

from tests.backtest.fake_exchange import HOUR, FakeOhlcvExchange
from tests.backtest.helpers import BTC, rsi_request
from tradeloop.cli import main
from tradeloop.trading.data.exchanges import ExchangeKey, register_exchange

PNG = b"\x89PNG\r\n\x1a\n"


def write_config(tmp_path, request=None):
    path = tmp_path / "rsi.json"
    path.write_text((request or rsi_request()).model_dump_json())
    return path


def test_backtest_prints_the_summary_table_and_writes_the_chart(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    code = main(["backtest", "--config", str(config), "--data", str(BTC), "--from", "2025-03-25"])
    out, err = capsys.readouterr()
    assert code == 0
    for label in (
        "buy and hold",
        "default rules",
        "Total return",
        "CAGR",
        "Calmar",
        "Turnover",
        "Payoff ratio",
        "Sharpe",
        "Sortino",
        "Max drawdown",
        "Trades",
        "Win rate",
        "Profit factor",
        "Fees",
        "Exposure",
    ):
        assert label in out
    assert "2025-03-25 00:00 ->" in out
    assert "100.0 %" in err and "cycles" in err  # the progress bar
    assert (tmp_path / "rsi-equity.png").read_bytes().startswith(PNG)


def test_backtest_json_output_and_a_bare_trading_config(tmp_path, capsys) -> None:
    config = tmp_path / "bare.json"
    config.write_text(json.dumps(rsi_request().model_dump()["trading_config"]))
    chart = tmp_path / "c.png"
    code = main(
        [
            "backtest",
            "--config",
            str(config),
            "--data",
            str(BTC),
            "--json",
            "--fee-bps",
            "0",
            "--chart",
            str(chart),
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["status"] == "completed"
    assert summary["stats"]["fees_paid"] == 0.0 and chart.exists()


def test_a_bad_config_is_reported_without_a_traceback(tmp_path, capsys) -> None:
    config = tmp_path / "bad.json"
    config.write_text('{"initial_capital": -1, "symbols": ["BTC-USDT"]}')
    assert main(["backtest", "--config", str(config), "--data", str(BTC)]) == 2
    err = capsys.readouterr().err
    assert "initial_capital" in err and "Traceback" not in err


def test_candles_download_writes_the_replay_format(tmp_path, capsys) -> None:
    start = 1_735_689_600_000
    fake = FakeOhlcvExchange(start, 300, max_limit=100)
    register_exchange(ExchangeKey("binance"), fake)
    out = tmp_path / "btc.csv"
    code = main(
        [
            "candles",
            "download",
            "--exchange",
            "binance",
            "--symbol",
            "BTC-USDT",
            "--interval",
            "1h",
            "--since",
            "2025-01-01",
            "--until",
            "2025-01-05",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and fake.closed
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume" and len(lines) == 1 + 96
    assert int(lines[-1].split(",")[0]) == start + 95 * HOUR
    assert {c["symbol"] for c in fake.calls} == {"BTC/USDT"}
    assert "96 candles" in capsys.readouterr().out


def test_backtest_with_db_stores_the_run_as_a_stopped_strategy(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "t.db"
    code = main(
        ["backtest", "--config", str(config), "--data", str(BTC), "--db", str(db), "--json"]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT agent_kind, status FROM strategies WHERE id = ?", (summary["run_id"],)
        ).fetchone()
        cycles = conn.execute("SELECT COUNT(*) FROM cycles").fetchone()[0]
    assert row == ("backtest", "stopped") and cycles == summary["cycles_done"]


def test_the_readme_download_then_backtest_flow_works_with_a_minimal_config(
    tmp_path, capsys
) -> None:
    """README "Backtests": download hourly candles, then backtest a config that names only the
    capital and the symbol; the default feature intervals must be servable from 1h data."""
    register_exchange(ExchangeKey("binance"), FakeOhlcvExchange(1_735_689_600_000, 24 * 30))
    candles = tmp_path / "btc_1h.csv"
    download = ["candles", "download", "--exchange", "binance", "--symbol", "BTC/USDT"]
    download += ["--interval", "1h", "--since", "2025-01-01", "--out", str(candles)]
    assert main(download) == 0
    config = tmp_path / "strategy.json"
    config.write_text('{"trading_config": {"initial_capital": 10000, "symbols": ["BTC-USDT"]}}')
    code = main(["backtest", "--config", str(config), "--data", str(candles), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out[out.index("{") :])
    assert summary["status"] == "completed" and summary["cycles_done"] > 0


def corrupt_copy(tmp_path, source, line: int, bad: str):
    """``source`` with its ``line`` (1 = header) replaced by ``bad``, as ``btc_1h.csv``."""
    lines = source.read_text().splitlines()
    lines[line - 1] = bad
    path = tmp_path / "btc_1h.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_backtest_refuses_a_corrupt_candle_row_naming_the_file_and_line(tmp_path, capsys) -> None:
    ts = BTC.read_text().splitlines()[300].split(",")[0]
    data = corrupt_copy(tmp_path, BTC, 301, f"{ts},100,101,99,-5,1")
    code = main(["backtest", "--config", str(write_config(tmp_path)), "--data", str(data)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert f"{data} line 301: close -5 is not a positive price" in err


def test_backtest_with_skip_bad_rows_leaves_the_row_out_and_says_so(
    tmp_path, capsys, caplog
) -> None:
    ts = BTC.read_text().splitlines()[300].split(",")[0]
    data = corrupt_copy(tmp_path, BTC, 301, f"{ts},100,101,99,-5,1")
    args = ["backtest", "--config", str(write_config(tmp_path)), "--data", str(data), "--json"]
    code = main([*args, "--skip-bad-rows"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["status"] == "completed"
    warning = "skipped 1 bad rows (first at line 301: close -5 is not a positive price)"
    assert any(warning in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_no_fast_forward_runs_every_cycle_and_prints_the_same_figures(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    tables = []
    for flags in ([], ["--no-fast-forward"]):
        assert main(["backtest", "--config", str(config), "--data", str(BTC), *flags]) == 0
        tables.append(capsys.readouterr().out.splitlines())
    fast, slow = tables
    assert any("Fast-forward" in line and "cycles through the pipeline" in line for line in fast)
    assert not any("Fast-forward" in line for line in slow)
    figures = ("Return", "Sharpe", "Sortino", "Max drawdown", "Trades", "Win rate", "Final equity")
    assert [ln for ln in fast if ln.strip().startswith(figures)] == [
        ln for ln in slow if ln.strip().startswith(figures)
    ]
