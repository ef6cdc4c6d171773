"""Who is calling, and may they trade: the contract between authentication and ownership.

THE CONTRACT (issue 15; authentication and ownership are built on it separately):

- A principal is the ``client_id`` of the SDK's ``AccessToken`` that the server's token
  verifier returned for the request: for OAuth JWTs the token's ``sub`` claim, for a tokens-file
  token its name, for ``TRADELOOP_HTTP_TOKEN`` the implicit owner (``OWNER``).
- Its permission is in the token's ``scopes``: the read scope lets it connect and call read
  tools, the trade scope additionally lets it call every tool that changes state. The two scope
  names are ``ScopeNames`` (operator-configurable, because issuers name scopes differently);
  nothing else interprets scope strings.
- No token at all (stdio, or HTTP on loopback without authentication) is the single implicit
  owner, ``OWNER``: today's single-user behaviour; existing data belongs to it.
- ``current_principal`` is the one way code asks "who is this request": it reads the token the
  SDK's auth middleware put in the request's context.
- Every strategy (and stored backtest) belongs to the principal that created it; a principal
  sees only its own, another's id answers like an unknown one (``services.owned``). The operator
  (``OPERATOR``, ``sees_all``) sees every one; only the server-side CLI acts as it.
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from pydantic import BaseModel, ConfigDict, Field

from tradeloop.settings import DEFAULT_READ_SCOPE, DEFAULT_TRADE_SCOPE, Settings

OWNER_NAME = "~owner"
"""The implicit single owner. The ``~`` keeps it apart from names an issuer or the tokens file
hands out (``is_reserved``)."""


def is_reserved(name: str) -> bool:
    """Names starting with ``~`` are the server's own (the implicit owner, the operator): no token
    may stand for one."""
    return name.startswith("~")


class ScopeNames(BaseModel):
    """The scope strings that grant reading and trading (``TRADELOOP_OAUTH_READ_SCOPE`` and
    ``TRADELOOP_OAUTH_TRADE_SCOPE``)."""

    model_config = ConfigDict(frozen=True)

    read: str = Field(default=DEFAULT_READ_SCOPE, min_length=1)
    trade: str = Field(default=DEFAULT_TRADE_SCOPE, min_length=1)

    @classmethod
    def of(cls, settings: Settings) -> ScopeNames:
        return cls(read=settings.oauth_read_scope, trade=settings.oauth_trade_scope)

    def all(self) -> list[str]:
        """Both scopes, in the order a client should request them."""
        return [self.read, self.trade]


class Principal(BaseModel):
    """The caller of a request: whose strategies it sees, and whether it may change anything."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    can_trade: bool
    sees_all: bool = False
    """The operator: sees and acts on every principal's strategies. Only ``OPERATOR`` has it, and
    only the server-side CLI uses that (``tradeloop strategies``); no token makes one."""

    @property
    def owner_filter(self) -> str | None:
        """The owner a store read is limited to; None (every owner's) for the operator."""
        return None if self.sees_all else self.name


OWNER = Principal(name=OWNER_NAME, can_trade=True)
OPERATOR = Principal(name="~operator", can_trade=True, sees_all=True)


def principal_from_token(token: AccessToken, scopes: ScopeNames) -> Principal:
    """The principal a verified token stands for (its ``client_id``); it may trade only with the
    trade scope."""
    return Principal(name=token.client_id, can_trade=scopes.trade in token.scopes)


def current_principal(scopes: ScopeNames) -> Principal:
    """The caller of the request being handled: the verified token's principal, or ``OWNER``
    when the transport has no authentication (stdio, loopback HTTP without a token)."""
    token = get_access_token()
    return OWNER if token is None else principal_from_token(token, scopes)
