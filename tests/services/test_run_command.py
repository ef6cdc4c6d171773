"""``tradeloop run`` as a user runs it: a real subprocess, progress lines, clean exits."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.services.helpers import connect_readonly, replay_request

REPO = Path(__file__).resolve().parents[2]
PROGRESS = re.compile(
    r"^cycle name=btc-eth slot=\S+ compose_id=c_[0-9a-f]{32} status=ok instructions=\d+ "
    r"fills=\d+ equity=\d+\.\d\d$"
)


def tradeloop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    return subprocess.run(
        [sys.executable, "-m", "tradeloop", "--log-level", "WARNING", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_run_creates_then_resumes_a_replay_strategy_with_one_progress_line_per_cycle(
    tmp_path: Path, shared_data: Path
) -> None:
    config = tmp_path / "strategy.json"
    config.write_text(replay_request(strategy_name="btc-eth").model_dump_json())
    db = tmp_path / "run.db"
    args = ("run", "--config", str(config), "--db", str(db), "--replay", str(shared_data))
    first = tradeloop(*args, "--max-cycles", "3")
    second = tradeloop(*args, "--max-cycles", "2")
    for run, cycles in ((first, 3), (second, 2)):
        assert run.returncode == 0, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.startswith("cycle ")]
        assert len(lines) == cycles and all(PROGRESS.match(line) for line in lines), lines
        assert "done name=btc-eth status=paused reason=max cycles reached" in run.stderr
    assert run.stdout.startswith("Run btc-eth")
    with connect_readonly(db) as conn:
        slots = [r[0] for r in conn.execute("SELECT slot_ts FROM cycles ORDER BY id")]
    assert slots == list(range(slots[0], slots[0] + 5 * 3_600_000, 3_600_000))


def test_run_ends_with_the_backtest_summary_table_of_what_it_ran(
    tmp_path: Path, shared_data: Path
) -> None:
    config = tmp_path / "strategy.json"
    config.write_text(replay_request(strategy_name="btc-eth").model_dump_json())
    db = tmp_path / "run.db"
    run = tradeloop(
        "run", "--config", str(config), "--db", str(db), "--replay", str(shared_data),
        "--max-cycles", "12",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    equities = [float(line.rsplit("equity=", 1)[1]) for line in run.stderr.splitlines()
                if line.startswith("cycle ")]  # fmt: skip
    final = equities[-1]
    cells = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in run.stdout.splitlines()]
    rows = {pair[0]: pair[1] for pair in cells if len(pair) == 2}
    assert re.match(r"Run btc-eth \(s_[0-9a-f]{16}\)  BTC-USDT, ETH-USDT  \S+ -> \S+  "
                    r"\(12 cycles in this run\)", run.stdout)  # fmt: skip
    assert "Status  paused: max cycles reached" in run.stdout
    assert rows["Final equity"] == f"{final:,.2f}"
    assert rows["Total return"] == f"{(final / 10_000 - 1) * 100:+.2f} %"
    for metric in ("Sharpe", "Max drawdown", "Trades", "Fees"):
        assert metric in rows, run.stdout


def test_run_prints_each_config_problem_on_its_own_line_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(
        '{"trading_config": {"initial_capital": -5, "symbols": [], "decide_interval": "x"}}'
    )
    run = tradeloop("run", "--config", str(config), "--db", str(tmp_path / "x.db"))
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"tradeloop run: {config} is not a valid strategy config:",
        "  trading_config.initial_capital: Input should be greater than 0 (got -5)",
        "  trading_config.symbols: List should have at least 1 item after validation, not 0 "
        "(got [])",
        "  trading_config.decide_interval: Input should be a valid integer, unable to parse "
        "string as an integer (got 'x')",
    ]
    assert not (tmp_path / "x.db").exists()


def test_run_checks_the_replay_folder_and_the_symbols_before_creating_anything(
    tmp_path: Path, shared_data: Path
) -> None:
    config = tmp_path / "strategy.json"
    config.write_text(replay_request(strategy_name="btc-eth").model_dump_json())
    unknown = tmp_path / "unknown.json"
    unknown.write_text(replay_request(strategy_name="foo", symbols=["FOO-USDT"]).model_dump_json())
    db = tmp_path / "run.db"
    missing = tradeloop(
        "run", "--config", str(config), "--db", str(db), "--replay", "no/such/candles"
    )
    foo = tradeloop("run", "--config", str(unknown), "--db", str(db), "--replay", str(shared_data))
    assert missing.returncode == foo.returncode == 2
    assert missing.stderr == "tradeloop run: replay directory 'no/such/candles' does not exist\n"
    assert foo.stderr.startswith("tradeloop run: foo: no replay data for FOO-USDT")
    assert list(tmp_path.iterdir()) == [config, unknown] or sorted(tmp_path.iterdir()) == sorted(
        [config, unknown]
    )


def test_serve_names_a_missing_replay_folder_as_given(tmp_path: Path) -> None:
    served = tradeloop("serve", "--replay", "no/such/candles", "--db", str(tmp_path / "s.db"))
    assert served.returncode == 2
    assert served.stderr == "tradeloop serve: replay directory 'no/such/candles' does not exist\n"
    assert not (tmp_path / "s.db").exists()


def test_run_refuses_a_database_it_cannot_use_with_a_clear_error_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    config = tmp_path / "strategy.json"
    config.write_text(replay_request().model_dump_json())
    db = tmp_path / "not-a-db.db"
    db.write_bytes(b"hello, I am a text file\n" * 40)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    run = tradeloop("run", "--config", str(config), "--db", str(db))
    assert run.returncode == 2
    assert "is not a SQLite database; refusing to touch it" in run.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_run_names_a_bad_config_file(tmp_path: Path) -> None:
    config = tmp_path / "strategy.json"
    config.write_text('{"trading_config": {"initial_capital": 100, "symbols": ["BTC"], "oops": 1}}')
    run = tradeloop("run", "--config", str(config), "--db", str(tmp_path / "x.db"))
    assert run.returncode == 2
    assert "is not a valid strategy config" in run.stderr and "oops" in run.stderr


def test_run_refuses_a_live_config_without_confirm_live_and_the_environment_setting(
    tmp_path: Path,
) -> None:
    config = tmp_path / "live.json"
    request = replay_request(strategy_name="live-btc").model_dump(mode="json")
    request["exchange_config"] |= {"trading_mode": "live", "credentials_name": "main"}
    config.write_text(json.dumps(request))
    db = tmp_path / "live.db"
    unconfirmed = tradeloop("run", "--config", str(config), "--db", str(db))
    unset = tradeloop("run", "--config", str(config), "--db", str(db), "--confirm-live")
    assert unconfirmed.returncode == unset.returncode == 2
    assert "live-btc: LIVE trading config (real orders on the exchange)" in unconfirmed.stderr
    assert "--confirm-live on the command line and TRADELOOP_LIVE_TRADING=1" in unconfirmed.stderr
    assert "needs TRADELOOP_LIVE_TRADING=1 in the environment. Nothing was started" in unset.stderr
    assert not db.exists()


def test_run_replay_refuses_a_corrupt_candle_file_naming_the_file_and_line(
    tmp_path: Path, shared_data: Path
) -> None:
    replay = tmp_path / "candles"
    replay.mkdir()
    lines = (shared_data / "binance_spot_BTCUSDT_1h.csv").read_text().splitlines()[:400]
    ts = lines[250].split(",")[0]
    lines[250] = f"{ts},60000,59000,61000,60000,1"  # high below low, on line 251
    (replay / "binance_spot_BTCUSDT_1h.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "strategy.json"
    config.write_text(replay_request(symbols=["BTC-USDT"], strategy_name="btc").model_dump_json())
    args = ("run", "--config", str(config), "--replay", str(replay), "--max-cycles", "2")
    refused = tradeloop(*args, "--db", str(tmp_path / "strict.db"))
    assert refused.returncode == 2
    assert "binance_spot_BTCUSDT_1h.csv line 251: high 59000 is below low 61000" in refused.stderr
    assert not [line for line in refused.stderr.splitlines() if line.startswith("cycle ")]
    lenient = tradeloop(*args, "--db", str(tmp_path / "lenient.db"), "--skip-bad-rows")
    assert lenient.returncode == 0, lenient.stderr
    assert "skipped 1 bad rows (first at line 251: high 59000 is below low 61000)" in lenient.stderr
    assert len([line for line in lenient.stderr.splitlines() if line.startswith("cycle ")]) == 2
