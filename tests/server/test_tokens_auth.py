"""The tokens-file verifier: a stored token names its principal and access; an edit of the file
(a revoke, a new token) counts from the next request; a broken file accepts nothing."""

from __future__ import annotations

import logging
import os

import pytest
from pydantic import SecretStr

from tradeloop.server.auth import token_gate
from tradeloop.server.tokens_auth import TokensFileVerifier
from tradeloop.services.principals import ScopeNames
from tradeloop.services.tokens_file import add_token, revoke_token
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError

SCOPES = ScopeNames(read="r:read", trade="r:trade")


async def test_a_stored_token_is_its_name_with_the_scopes_of_its_access(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    alice = add_token(path, "alice", "trade")
    viewer = add_token(path, "viewer", "read")
    verifier = TokensFileVerifier(path, SCOPES)
    trader, reader = await verifier.verify_token(alice), await verifier.verify_token(viewer)
    assert trader is not None and reader is not None
    assert (trader.client_id, trader.scopes) == ("alice", ["r:read", "r:trade"])
    assert (reader.client_id, reader.scopes) == ("viewer", ["r:read"])
    assert trader.token == "" and reader.token == ""  # the secret is not carried along


@pytest.mark.parametrize("kind", ["empty", "other", "one character off", "the stored hash"])
async def test_a_token_not_in_the_file_is_refused(tmp_path, kind) -> None:
    path = tmp_path / "tokens.json"
    alice = add_token(path, "alice", "trade")
    stored = path.read_text().split('"sha256": "')[1][:64]
    presented = {
        "empty": "",
        "other": "tlk_" + "A" * 43,
        "one character off": alice[:-1] + ("A" if alice[-1] != "A" else "B"),
        "the stored hash": stored,
    }[kind]
    assert await TokensFileVerifier(path, SCOPES).verify_token(presented) is None


async def test_a_revoked_token_is_refused_at_the_next_request_and_a_new_one_accepted(
    tmp_path,
) -> None:
    path = tmp_path / "tokens.json"
    alice = add_token(path, "alice", "trade")
    verifier = TokensFileVerifier(path, SCOPES)
    assert await verifier.verify_token(alice) is not None
    revoke_token(path, "alice")
    bob = add_token(path, "bob", "read")
    assert await verifier.verify_token(alice) is None
    assert (await verifier.verify_token(bob)).client_id == "bob"


async def test_a_file_broken_while_serving_accepts_nothing_until_it_is_fixed(
    tmp_path, caplog
) -> None:
    path = tmp_path / "tokens.json"
    alice = add_token(path, "alice", "trade")
    good = path.read_text()
    verifier = TokensFileVerifier(path, SCOPES)
    path.write_text(good.replace('"trade"', '"admin"'))
    refused = await verifier.verify_token(alice)
    path.unlink()
    missing = await verifier.verify_token(alice)
    path.write_text(good)
    os.chmod(path, 0o600)
    assert refused is None and missing is None
    assert (await verifier.verify_token(alice)).client_id == "alice"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert f"tokens file {path}: tokens[0].access (alice)" in errors[0]
    assert f"no tokens file at {path}" in errors[1]
    assert alice not in caplog.text


def test_a_server_asked_for_a_missing_or_broken_tokens_file_does_not_start(tmp_path) -> None:
    missing = Settings(db_path=tmp_path / "t.db", tokens_file=tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="no tokens file at"):
        token_gate(missing)
    (tmp_path / "broken.json").write_text("{")
    broken = Settings(db_path=tmp_path / "t.db", tokens_file=tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="broken.json line 1 column 2"):
        token_gate(broken)


async def test_the_tokens_file_stands_beside_the_operator_token(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    alice = add_token(path, "alice", "read")
    settings = Settings(
        db_path=tmp_path / "t.db", tokens_file=path, http_token=SecretStr("operator-secret")
    )
    gate = token_gate(settings)
    assert gate.verifier is not None and gate.auth is not None
    assert (await gate.verifier.verify_token(alice)).client_id == "alice"
    assert (await gate.verifier.verify_token("operator-secret")).client_id == "~owner"
    assert await gate.verifier.verify_token("neither") is None


async def test_the_tokens_file_stands_beside_an_oauth_issuer(tmp_path) -> None:
    """A tokens-file token is settled before the JWT verifier would look for the issuer's keys
    (no network here)."""
    path = tmp_path / "tokens.json"
    bot = add_token(path, "bot", "trade")
    settings = Settings.from_env(
        {
            "TRADELOOP_DB": str(tmp_path / "t.db"),
            "TRADELOOP_TOKENS_FILE": str(path),
            "TRADELOOP_OAUTH_ISSUER": "https://id.example.com/",
            "TRADELOOP_OAUTH_RESOURCE": "https://trade.example.com/mcp",
        }
    )
    gate = token_gate(settings)
    assert gate.oauth is not None and gate.verifier is not None
    accepted = await gate.verifier.verify_token(bot)
    assert accepted is not None
    assert (accepted.client_id, accepted.scopes) == ("bot", ["tradeloop:read", "tradeloop:trade"])
