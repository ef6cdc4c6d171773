"""A static bearer token for the HTTP transport (``TRADELOOP_HTTP_TOKEN``)."""

from __future__ import annotations

import hmac

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

CLIENT_ID = "tradeloop-http"
SCOPE = "tradeloop"


class StaticTokenVerifier:
    """Accepts exactly one token, compared in constant time."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the bearer token must not be empty")
        self._expected = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.encode(), self._expected):
            return None
        return AccessToken(token="", client_id=CLIENT_ID, scopes=[SCOPE])


def auth_settings() -> AuthSettings:
    """Resource-server-only settings: no OAuth endpoints and no metadata route, just the 401 gate.

    ``issuer_url`` is required by the SDK but never served; the token is issued by the operator.
    """
    return AuthSettings(
        issuer_url=AnyHttpUrl("http://127.0.0.1"),
        resource_server_url=None,
        required_scopes=[SCOPE],
    )
