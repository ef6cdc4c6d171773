"""The principal contract: who a verified token is, and whether its scopes let it trade."""

from __future__ import annotations

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from tradeloop.services.principals import (
    OWNER,
    Principal,
    ScopeNames,
    current_principal,
    principal_from_token,
)
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError

DEFAULT = ScopeNames()


def token(client_id: str, *scopes: str) -> AccessToken:
    return AccessToken(token="t", client_id=client_id, scopes=list(scopes))


def test_the_default_scope_names_are_tradeloop_read_and_tradeloop_trade() -> None:
    assert (DEFAULT.read, DEFAULT.trade) == ("tradeloop:read", "tradeloop:trade")
    assert DEFAULT.all() == ["tradeloop:read", "tradeloop:trade"]


def test_a_token_with_the_trade_scope_is_a_principal_who_may_trade() -> None:
    assert principal_from_token(token("alice", "tradeloop:read", "tradeloop:trade"), DEFAULT) == (
        Principal(name="alice", can_trade=True)
    )


def test_a_token_with_only_the_read_scope_may_not_trade() -> None:
    assert principal_from_token(token("bob", "tradeloop:read"), DEFAULT) == Principal(
        name="bob", can_trade=False
    )


def test_scope_names_come_from_the_operator_settings() -> None:
    settings = Settings.from_env(
        {"TRADELOOP_OAUTH_READ_SCOPE": "mcp.read", "TRADELOOP_OAUTH_TRADE_SCOPE": "mcp.write"}
    )
    scopes = ScopeNames.of(settings)
    assert scopes == ScopeNames(read="mcp.read", trade="mcp.write")
    assert principal_from_token(token("carol", "mcp.read", "mcp.write"), scopes).can_trade
    assert not principal_from_token(token("carol", "tradeloop:trade"), scopes).can_trade


def test_without_a_token_the_caller_is_the_implicit_owner_who_may_trade() -> None:
    assert current_principal(DEFAULT) == OWNER
    assert OWNER.can_trade


def test_the_request_token_in_context_is_the_current_principal() -> None:
    reset = auth_context_var.set(AuthenticatedUser(token("dave", "tradeloop:read")))
    try:
        assert current_principal(DEFAULT) == Principal(name="dave", can_trade=False)
    finally:
        auth_context_var.reset(reset)


def test_a_principal_is_frozen() -> None:
    with pytest.raises(ValueError):
        OWNER.name = "someone"  # type: ignore[misc]


def test_a_scope_name_with_a_space_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="oauth_trade_scope"):
        Settings.from_env({"TRADELOOP_OAUTH_TRADE_SCOPE": "tradeloop trade"})
