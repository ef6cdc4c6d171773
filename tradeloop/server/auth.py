"""Bearer tokens over HTTP: the static ``TRADELOOP_HTTP_TOKEN`` (the implicit owner) and the
choice of gate (``token_gate``): any of that token, the tokens file's (``tokens_auth``) and an
OAuth issuer's JWTs (``jwt_auth``)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import NamedTuple

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from tradeloop.server.oauth_config import OAuthConfig
from tradeloop.server.tokens_auth import TokensFileVerifier
from tradeloop.services.principals import OWNER_NAME, ScopeNames
from tradeloop.settings import Settings


class StaticTokenVerifier:
    """Accepts exactly one token, compared in constant time; its holder is the single owner, who
    may read and trade (``tradeloop.services.principals``)."""

    def __init__(self, token: str, scopes: ScopeNames) -> None:
        if not token:
            raise ValueError("the bearer token must not be empty")
        self._expected = token.encode()
        self._scopes = scopes.all()

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.encode(), self._expected):
            return None
        return AccessToken(token="", client_id=OWNER_NAME, scopes=list(self._scopes))


def auth_settings(scopes: ScopeNames) -> AuthSettings:
    """Resource-server-only settings: no OAuth endpoints and no metadata route, just the 401 gate
    (a token without the read scope gets 403).

    ``issuer_url`` is required by the SDK but never served; the token is issued by the operator.
    """
    return AuthSettings(
        issuer_url=AnyHttpUrl("http://127.0.0.1"),
        resource_server_url=None,
        required_scopes=[scopes.read],
    )


class AnyOfVerifiers:
    """The first verifier that accepts a token wins (the operator's static token, the tokens
    file, then OAuth)."""

    def __init__(self, verifiers: Sequence[TokenVerifier]) -> None:
        self._verifiers = tuple(verifiers)

    async def verify_token(self, token: str) -> AccessToken | None:
        for verifier in self._verifiers:
            accepted = await verifier.verify_token(token)
            if accepted is not None:
                return accepted
        return None


class TokenGate(NamedTuple):
    """What ``build_server`` hands the SDK: no authentication at all, or a verifier and its
    settings; ``oauth`` when an issuer is configured (its metadata is served)."""

    verifier: TokenVerifier | None
    auth: AuthSettings | None
    oauth: OAuthConfig | None


def token_gate(settings: Settings) -> TokenGate:
    """The bearer-token gate ``settings`` ask for: any of ``TRADELOOP_HTTP_TOKEN`` (the owner),
    the tokens file (``TRADELOOP_TOKENS_FILE``) and an OAuth issuer's JWTs
    (``TRADELOOP_OAUTH_ISSUER``), or none (stdio, loopback HTTP). ``ConfigError`` when the tokens
    file is missing or malformed."""
    scopes = ScopeNames.of(settings)
    oauth = OAuthConfig.of(settings)
    verifiers: list[TokenVerifier] = []
    if settings.http_token is not None:
        verifiers.append(StaticTokenVerifier(settings.http_token.get_secret_value(), scopes))
    if settings.tokens_file is not None:
        verifiers.append(TokensFileVerifier(settings.tokens_file, scopes))
    if oauth is not None:
        from tradeloop.server.jwt_auth import JwtVerifier  # PyJWT and crypto: only for OAuth

        verifiers.append(JwtVerifier(oauth))
    if not verifiers:
        return TokenGate(None, None, None)
    verifier = verifiers[0] if len(verifiers) == 1 else AnyOfVerifiers(verifiers)
    auth = oauth.auth_settings() if oauth is not None else auth_settings(scopes)
    return TokenGate(verifier, auth, oauth)
