"""Exchange credentials by name, from the environment or a local file; never from a tool argument.

A strategy names its credentials (``exchange_config.credentials_name = "main"``); the secrets are
looked up here, in this order:

1. environment: ``TRADELOOP_MAIN_API_KEY``, ``TRADELOOP_MAIN_SECRET``, ``TRADELOOP_MAIN_PASSPHRASE``
   (the name upper-cased, every character other than A-Z and 0-9 replaced by ``_``);
2. the file named by ``TRADELOOP_CREDENTIALS_FILE`` (TOML, or JSON when it ends in ``.json``)::

       [main]
       api_key = "..."
       secret = "..."
       passphrase = "..."      # OKX only

Secrets are ``SecretStr`` (``repr`` and dumps show ``**********``). Every loaded secret is also
registered with ``REDACTOR``, a logging filter that blanks it from ccxt's debug log lines (ccxt
logs request headers, API key included, at DEBUG).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from tradeloop.trading.errors import ConfigError

logger = logging.getLogger(__name__)

CREDENTIALS_FILE_ENV = "TRADELOOP_CREDENTIALS_FILE"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MASK = "***"


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    api_key: SecretStr
    secret: SecretStr
    passphrase: SecretStr | None = None

    def ccxt_config(self) -> dict[str, str]:
        """The constructor keys ccxt expects. Hand it straight to ccxt; never log or store it."""
        config = {
            "apiKey": self.api_key.get_secret_value(),
            "secret": self.secret.get_secret_value(),
        }
        if self.passphrase is not None:
            config["password"] = self.passphrase.get_secret_value()
        return config

    def secret_values(self) -> list[str]:
        values = [self.api_key, self.secret, self.passphrase]
        return [v.get_secret_value() for v in values if v is not None]


def env_prefix(name: str) -> str:
    return "TRADELOOP_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def load_credentials(name: str, environ: Mapping[str, str] | None = None) -> Credentials:
    """Credentials ``name`` from the environment, else from the credentials file.

    ``ConfigError`` names where they were looked for (variable names, file path), never a value.
    """
    if not _NAME_RE.match(name):
        raise ConfigError("credentials_name must be 1-64 letters, digits, '.', '_' or '-'")
    env = os.environ if environ is None else environ
    found = _from_env(name, env) or _from_file(name, env)
    if found is None:
        prefix = env_prefix(name)
        file_hint = env.get(CREDENTIALS_FILE_ENV) or f"(no {CREDENTIALS_FILE_ENV} set)"
        raise ConfigError(
            f"no credentials named {name!r}: set {prefix}API_KEY and {prefix}SECRET "
            f"(and {prefix}PASSPHRASE for OKX), or add a [{name}] entry to {file_hint}"
        )
    REDACTOR.add(found.secret_values())
    return found


def _from_env(name: str, env: Mapping[str, str]) -> Credentials | None:
    prefix = env_prefix(name)
    key, secret = env.get(prefix + "API_KEY"), env.get(prefix + "SECRET")
    if not key and not secret:
        return None
    if not (key and secret):
        raise ConfigError(f"credentials {name!r}: set both {prefix}API_KEY and {prefix}SECRET")
    passphrase = env.get(prefix + "PASSPHRASE") or None
    return _build(name, {"api_key": key, "secret": secret, "passphrase": passphrase})


def _from_file(name: str, env: Mapping[str, str]) -> Credentials | None:
    raw_path = env.get(CREDENTIALS_FILE_ENV)
    if not raw_path:
        return None
    path = Path(raw_path).expanduser()
    entries = _read_file(path)
    entry = entries.get(name)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of api_key, secret, passphrase")
    return _build(name, entry, where=str(path))


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc.strerror}") from None
    _warn_if_shared(path)
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError):
        # the parser's message may quote the file's content: never pass it on
        raise ConfigError(f"credentials file {path} is not valid {_kind(path)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"credentials file {path} must map names to entries")
    return data


def _kind(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "TOML"


def _warn_if_shared(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("credentials file %s is readable by other users; chmod 600 it", path)


def _build(name: str, entry: Mapping[str, Any], where: str = "the environment") -> Credentials:
    unknown = sorted(set(entry) - {"api_key", "secret", "passphrase"})
    if unknown:
        raise ConfigError(f"credentials {name!r} in {where}: unknown keys {', '.join(unknown)}")
    if not entry.get("api_key") or not entry.get("secret"):
        raise ConfigError(f"credentials {name!r} in {where} need both api_key and secret")
    return Credentials(
        name=name,
        api_key=SecretStr(str(entry["api_key"])),
        secret=SecretStr(str(entry["secret"])),
        passphrase=SecretStr(str(entry["passphrase"])) if entry.get("passphrase") else None,
    )


class SecretRedactor(logging.Filter):
    """Blanks registered secrets from log records (message and arguments)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secrets: list[str]) -> None:
        self._secrets.update(s for s in secrets if len(s) >= 4)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


REDACTOR = SecretRedactor()
_CCXT_LOGGERS = ("ccxt", "ccxt.base.exchange")


def install_redactor() -> None:
    """Attach ``REDACTOR`` to ccxt's loggers (idempotent)."""
    for name in _CCXT_LOGGERS:
        target = logging.getLogger(name)
        if REDACTOR not in target.filters:
            target.addFilter(REDACTOR)


install_redactor()
