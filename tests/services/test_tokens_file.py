"""The tokens file: what is stored (a SHA-256 of a fresh 256-bit token, never the token), how it
is written (atomically, mode 0600), and what a malformed file says."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradeloop.services.tokens_file import (
    add_token,
    default_tokens_path,
    read_tokens,
    revoke_token,
)
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError

NOW = datetime(2026, 12, 3, 21, 30, 15, 123456, tzinfo=UTC)


def test_a_new_token_has_32_random_bytes_and_only_its_sha256_is_stored(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, "alice", "trade", now=NOW)
    random_part = token.removeprefix("tlk_")
    assert len(base64.urlsafe_b64decode(random_part + "=")) == 32
    text = path.read_text()
    assert token not in text and random_part not in text
    assert json.loads(text) == {
        "version": 1,
        "tokens": [
            {
                "name": "alice",
                "access": "trade",
                "created": "2026-12-03T21:30:15Z",
                "sha256": hashlib.sha256(token.encode()).hexdigest(),
            }
        ],
    }


def test_two_tokens_are_never_the_same(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    assert add_token(path, "alice", "trade") != add_token(path, "bob", "trade")


def test_the_file_is_written_with_mode_0600_in_a_new_data_directory(tmp_path) -> None:
    path = tmp_path / "new" / "dir" / "tokens.json"
    add_token(path, "alice", "read")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    revoke_token(path, "alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    leftovers = {p.name for p in path.parent.iterdir()} - {"tokens.json", ".tokens.json.lock"}
    assert leftovers == set()


def test_a_revoked_name_is_gone_and_the_others_stay(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    add_token(path, "alice", "trade")
    add_token(path, "bob", "read")
    revoke_token(path, "alice")
    assert [(t.name, t.access) for t in read_tokens(path).tokens] == [("bob", "read")]


def test_adding_a_name_twice_is_refused_and_keeps_the_first_token(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    first = add_token(path, "alice", "trade")
    with pytest.raises(ConfigError, match="a token named 'alice' already exists"):
        add_token(path, "alice", "read")
    (entry,) = read_tokens(path).tokens
    assert entry.sha256 == hashlib.sha256(first.encode()).hexdigest()


def test_revoking_an_unknown_name_is_refused_naming_it(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    add_token(path, "alice", "trade")
    with pytest.raises(ConfigError, match="no token named 'bob'"):
        revoke_token(path, "bob")


@pytest.mark.parametrize("name", ["~owner", "~alice"])
def test_a_name_starting_with_a_tilde_is_reserved_for_the_implicit_owner(tmp_path, name) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        add_token(tmp_path / "tokens.json", name, "trade")
    assert not (tmp_path / "tokens.json").exists()


@pytest.mark.parametrize("name", ["", "-dash", "has space", "a/b", "x" * 65, "tab\tname"])
def test_a_name_outside_the_allowed_characters_is_refused(tmp_path, name) -> None:
    with pytest.raises(ConfigError, match="use 1-64 letters, digits"):
        add_token(tmp_path / "tokens.json", name, "trade")


@pytest.mark.parametrize("name", ["alice", "auth0@team.example", "bot-7_b.x", "x" * 64])
def test_names_of_letters_digits_and_separators_are_accepted(tmp_path, name) -> None:
    add_token(tmp_path / "tokens.json", name, "read")


def entry(name: str = "alice", **changes: object) -> dict[str, object]:
    return {
        "name": name,
        "access": "trade",
        "created": "2026-12-03T21:30:15Z",
        "sha256": "ab" * 32,
    } | changes


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"version": 1,\n "tokens": [\n  {"name": "alice",}\n]}',
            "line 3 column 20: not valid JSON",
        ),
        (json.dumps({"version": 2, "tokens": []}), "version: Input should be 1"),
        (json.dumps({"tokens": [entry(), entry("bob", sha256="xyz")]}), "tokens[1].sha256 (bob)"),
        (json.dumps({"tokens": [entry(access="admin")]}), "tokens[0].access (alice)"),
        (json.dumps({"tokens": [entry(created="2026-12-03T21:30:15")]}), "tokens[0].created"),
        (json.dumps({"tokens": [entry(token="tlk_x")]}), "tokens[0].token (alice): Extra"),
        (json.dumps({"tokens": [entry(), entry()]}), "'alice' appears more than once"),
        (json.dumps([entry()]), "the file: Input should be"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_file_and_the_line_or_field(
    tmp_path, content, message
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as refused:
        read_tokens(path)
    assert str(refused.value).startswith(f"tokens file {path}")
    assert message in str(refused.value)
    assert "ab" * 32 not in str(refused.value)


def test_a_missing_file_is_refused_saying_how_to_make_one(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no tokens file at .*tradeloop tokens add NAME"):
        read_tokens(tmp_path / "absent.json")


def test_by_default_the_file_is_beside_the_sqlite_database(tmp_path) -> None:
    settings = Settings(db_path=tmp_path / "data" / "tradeloop.db")
    assert default_tokens_path(settings) == Path(tmp_path / "data" / "tokens.json")
