"""Settings come from the environment and CLI flags; secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.settings import Settings, default_db_path
from tradeloop.trading.errors import ConfigError


def test_settings_read_the_environment_and_flags_override_it(tmp_path: Path) -> None:
    env = {
        "TRADELOOP_DB": str(tmp_path / "env.db"),
        "TRADELOOP_REPLAY_DIR": str(tmp_path),
        "TRADELOOP_LIVE_TRADING": "Yes",
        "ANTHROPIC_API_KEY": "sk-ant-secret",
        "TRADELOOP_HTTP_TOKEN": "token-secret",
    }
    settings = Settings.from_env(env, db_path=tmp_path / "flag.db", replay_dir=None)
    assert settings.db_path == tmp_path / "flag.db"
    assert settings.replay_dir == tmp_path
    assert settings.live_trading_enabled is True
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-secret"
    shown = repr(settings) + str(settings.model_dump()) + settings.model_dump_json()
    assert "sk-ant-secret" not in shown and "token-secret" not in shown


@pytest.mark.parametrize("value", ["", "0", "false", "no", "on", "enabled"])
def test_live_trading_stays_off_unless_the_environment_says_1_true_or_yes(value: str) -> None:
    assert Settings.from_env({"TRADELOOP_LIVE_TRADING": value}).live_trading_enabled is False


def test_the_default_database_lives_in_the_user_data_directory() -> None:
    settings = Settings.from_env({})
    assert settings.db_path == default_db_path()
    assert settings.db_path.name == "tradeloop.db" and "tradeloop" in str(settings.db_path.parent)
    assert settings.max_consecutive_failures == 5


def test_an_invalid_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_consecutive_failures"):
        Settings.from_env({}, max_consecutive_failures=0)
