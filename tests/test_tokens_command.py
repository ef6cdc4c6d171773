"""``tradeloop tokens add / list / revoke`` as the operator runs them: the token is printed once,
on stdout alone; nothing else ever shows it or its hash."""

from __future__ import annotations

import hashlib
import logging

import pytest

from tradeloop.cli import main


def tokens(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["tokens", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_the_token_once_on_stdout_and_says_where_on_stderr(tmp_path, capsys) -> None:
    path = tmp_path / "tokens.json"
    code, out, err = tokens(capsys, "add", "alice", "--file", str(path))
    assert code == 0
    token = out.strip()
    assert out == token + "\n" and token.startswith("tlk_")
    assert f"added 'alice' (trade access) to {path}" in err and token not in err
    assert hashlib.sha256(token.encode()).hexdigest() in path.read_text()


def test_list_shows_names_access_and_creation_but_never_a_token_or_hash(
    tmp_path, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    path = str(tmp_path / "tokens.json")
    alice = tokens(capsys, "add", "alice", "--file", path)[1].strip()
    viewer = tokens(capsys, "add", "viewer", "--read-only", "--file", path)[1].strip()
    code, out, err = tokens(capsys, "list", "--file", path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "access", "created", "(UTC)"]
    assert [line.split()[:2] for line in lines[1:]] == [["alice", "trade"], ["viewer", "read"]]
    secrets = [alice, viewer, *(hashlib.sha256(t.encode()).hexdigest() for t in (alice, viewer))]
    for secret in secrets:
        assert secret not in out + err + caplog.text


def test_revoke_removes_the_name_and_a_second_revoke_says_it_is_gone(tmp_path, capsys) -> None:
    path = str(tmp_path / "tokens.json")
    tokens(capsys, "add", "alice", "--file", path)
    tokens(capsys, "add", "bob", "--file", path)
    code, out, err = tokens(capsys, "revoke", "alice", "--file", path)
    assert (code, out) == (0, "")
    assert "revoked 'alice'" in err
    assert [line.split()[0] for line in tokens(capsys, "list", "--file", path)[1].splitlines()] == [
        "name",
        "bob",
    ]
    code, out, err = tokens(capsys, "revoke", "alice", "--file", path)
    assert (code, out) == (2, "")
    assert "tradeloop tokens revoke: no token named 'alice'" in err


def test_a_reserved_name_is_refused_and_nothing_is_printed_on_stdout(tmp_path, capsys) -> None:
    code, out, err = tokens(capsys, "add", "~owner", "--file", str(tmp_path / "tokens.json"))
    assert (code, out) == (2, "")
    assert "names starting with '~' are reserved" in err


def test_without_file_the_tokens_file_env_var_then_the_database_directory_is_used(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("TRADELOOP_TOKENS_FILE", raising=False)
    monkeypatch.setenv("TRADELOOP_DB", str(tmp_path / "data" / "tradeloop.db"))
    tokens(capsys, "add", "alice")
    monkeypatch.setenv("TRADELOOP_TOKENS_FILE", str(tmp_path / "elsewhere.json"))
    tokens(capsys, "add", "bob")
    assert '"alice"' in (tmp_path / "data" / "tokens.json").read_text()
    assert '"bob"' in (tmp_path / "elsewhere.json").read_text()


@pytest.mark.parametrize("action", ["list", "revoke alice"])
def test_list_or_revoke_without_a_file_says_how_to_make_one(tmp_path, capsys, action) -> None:
    path = tmp_path / "absent.json"
    code, out, err = tokens(capsys, *action.split(), "--file", str(path))
    assert (code, out) == (2, "")
    assert f"no tokens file at {path}" in err
