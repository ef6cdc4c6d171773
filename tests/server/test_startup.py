"""Start-up stays light: nothing heavy is imported before the handshake."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "pandas_ta", "ccxt", "anthropic", "numba")

PROBE = f"""
import contextlib, io, json, sys
from tradeloop.cli import main
from tradeloop.server.app import build_server
from tradeloop.settings import Settings
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["serve", "--help"])
build_server(Settings(db_path=sys.argv[1]))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


def test_the_serve_command_and_the_server_import_none_of_the_heavy_libraries(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "t.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(completed.stdout.splitlines()[-1]) == []


def test_serve_help_lists_the_transport_and_replay_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tradeloop", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "--replay DIR" in completed.stdout
    assert "--http" in completed.stdout


def test_serve_refuses_a_replay_directory_that_does_not_exist(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tradeloop", "serve", "--replay", str(tmp_path / "nope")],
        env={"PATH": "/usr/bin:/bin", "TRADELOOP_DB": str(tmp_path / "t.db")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert f"replay directory '{tmp_path / 'nope'}' does not exist" in completed.stderr
    assert completed.stdout == ""


STORE_AND_ARRAYS = ("aiosqlite", "asyncpg", "numpy", "matplotlib", "jwt")
"""Also kept out of start-up: the store drivers (the service opens the store after the
handshake), numpy (backtests, replays), charts and the OAuth verifier (only with an issuer)."""


def test_the_server_imports_no_store_driver_arrays_or_charts_before_the_handshake(tmp_path) -> None:
    probe = PROBE.replace(repr(HEAVY), repr(STORE_AND_ARRAYS))
    completed = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "t.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(completed.stdout.splitlines()[-1]) == []
