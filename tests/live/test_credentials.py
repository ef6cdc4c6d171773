"""Credentials by name from the environment or a local file; secrets never shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.execution.harness import SENTINEL_KEY, SENTINEL_SECRET
from tradeloop.credentials import REDACTOR, env_prefix, load_credentials
from tradeloop.trading.errors import ConfigError


def test_credentials_come_from_prefixed_environment_variables() -> None:
    env = {
        "TRADELOOP_BINANCE_TEST_API_KEY": SENTINEL_KEY,
        "TRADELOOP_BINANCE_TEST_SECRET": SENTINEL_SECRET,
    }
    creds = load_credentials("binance-test", env)
    assert env_prefix("binance-test") == "TRADELOOP_BINANCE_TEST_"
    assert creds.ccxt_config() == {"apiKey": SENTINEL_KEY, "secret": SENTINEL_SECRET}
    assert SENTINEL_KEY not in repr(creds) and SENTINEL_SECRET not in str(creds)
    assert SENTINEL_KEY not in creds.model_dump_json()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_credentials_come_from_the_named_entry_of_a_local_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"creds{suffix}"
    entry = {"api_key": SENTINEL_KEY, "secret": SENTINEL_SECRET, "passphrase": "pass-1234"}
    if suffix == ".json":
        path.write_text(json.dumps({"okx-demo": entry}))
    else:
        path.write_text("[okx-demo]\n" + "".join(f'{k} = "{v}"\n' for k, v in entry.items()))
    path.chmod(0o600)
    creds = load_credentials("okx-demo", {"TRADELOOP_CREDENTIALS_FILE": str(path)})
    assert creds.ccxt_config() == {
        "apiKey": SENTINEL_KEY,
        "secret": SENTINEL_SECRET,
        "password": "pass-1234",
    }


def test_missing_credentials_name_where_to_put_them_without_any_value() -> None:
    with pytest.raises(ConfigError) as raised:
        load_credentials("main", {"TRADELOOP_MAIN_API_KEY": SENTINEL_KEY})
    assert "TRADELOOP_MAIN_SECRET" in str(raised.value) and SENTINEL_KEY not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        load_credentials("main", {})
    assert "TRADELOOP_MAIN_API_KEY" in str(raised.value)


def test_a_malformed_credentials_file_is_reported_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(f'[main]\napi_key = "{SENTINEL_KEY}\n')  # unterminated string
    with pytest.raises(ConfigError) as raised:
        load_credentials("main", {"TRADELOOP_CREDENTIALS_FILE": str(path)})
    assert SENTINEL_KEY not in str(raised.value) and raised.value.__cause__ is None


def test_a_credentials_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(f'[main]\napi_key = "{SENTINEL_KEY}"\nsecret = "{SENTINEL_SECRET}"\n')
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_credentials("main", {"TRADELOOP_CREDENTIALS_FILE": str(path)})
    assert "chmod 600" in caplog.text and SENTINEL_KEY not in caplog.text


def test_loaded_secrets_are_blanked_from_ccxt_debug_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    load_credentials(
        "main", {"TRADELOOP_MAIN_API_KEY": SENTINEL_KEY, "TRADELOOP_MAIN_SECRET": SENTINEL_SECRET}
    )
    ccxt_logger = logging.getLogger("ccxt.base.exchange")
    with caplog.at_level(logging.DEBUG, logger="ccxt.base.exchange"):
        ccxt_logger.debug(
            "%s %s, Request: %s %s", "GET", "https://x", {"X-MBX-APIKEY": SENTINEL_KEY}, None
        )
    assert SENTINEL_KEY not in caplog.text and "***" in caplog.text
    assert REDACTOR in ccxt_logger.filters
