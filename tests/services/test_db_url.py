"""``TRADELOOP_DB`` / ``--db`` name a SQLite file (a path or ``sqlite:///``) or a PostgreSQL
database (``postgresql://``); any other scheme is refused by name before anything is created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.helpers import replay_request
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["mysql://user:hunter2@db.example/trades", "http://x/y.db"])
def test_a_database_url_of_another_scheme_is_refused_naming_the_scheme_not_the_password(
    url: str,
) -> None:
    scheme = url.split("://")[0]
    with pytest.raises(ConfigError, match=f"unsupported database scheme '{scheme}'") as caught:
        Settings.from_env({"TRADELOOP_DB": url})
    assert "hunter2" not in str(caught.value)


def test_tradeloop_run_refuses_a_mysql_url_and_creates_no_folder_named_after_it(
    tmp_path: Path, shared_data: Path
) -> None:
    config = tmp_path / "strategy.json"
    config.write_text(replay_request(strategy_name="btc").model_dump_json())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    run = subprocess.run(
        [sys.executable, "-m", "tradeloop", "--log-level", "WARNING", "run"]
        + ["--config", str(config), "--replay", str(shared_data), "--max-cycles", "1"]
        + ["--db", "mysql://user:hunter2@localhost/trades"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "unsupported database scheme 'mysql'" in run.stderr
    assert "hunter2" not in run.stderr + run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strategy.json"]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_a_postgresql_url_selects_the_postgresql_store_and_logs_without_its_password(
    scheme: str,
) -> None:
    url = f"{scheme}://trader:hunter2@127.0.0.1:5432/tradeloop"
    settings = Settings.from_env({"TRADELOOP_DB": url})
    assert settings.db_url is not None and settings.db_url.get_secret_value() == url
    assert settings.db_label == f"{scheme}://trader:***@127.0.0.1:5432/tradeloop"
    assert "hunter2" not in repr(settings) + settings.model_dump_json()


def test_a_sqlite_url_and_a_plain_path_both_name_the_sqlite_file(tmp_path: Path) -> None:
    by_url = Settings.from_env({"TRADELOOP_DB": f"sqlite://{tmp_path}/a.db"})
    by_flag = Settings.from_env({}, db_path=str(tmp_path / "a.db"))
    assert by_url.db_path == by_flag.db_path == tmp_path / "a.db"
    assert by_url.db_url is None and by_flag.db_url is None


def test_a_sqlite_url_with_a_relative_path_is_refused_with_the_form_to_use() -> None:
    with pytest.raises(ConfigError, match="sqlite:///abs/file.db"):
        Settings.from_env({"TRADELOOP_DB": "sqlite://relative.db"})
