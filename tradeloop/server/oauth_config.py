"""Which OAuth issuer's tokens this server accepts (``TRADELOOP_OAUTH_*``), checked at start-up,
and the RFC 9728 protected-resource metadata that lets remote connectors find that issuer.

Cheap to import (no JWT or crypto library): every server start reads it; the verifier itself
(``jwt_auth``) is imported only when an issuer is configured.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from pydantic import BaseModel, ConfigDict
from starlette.routing import Route

from tradeloop.server.hosts import is_loopback
from tradeloop.services.principals import ScopeNames
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError


class OAuthConfig(BaseModel):
    """Which tokens this server accepts (``TRADELOOP_OAUTH_*`` / ``serve --oauth-*``)."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    resource: str
    audience: str
    jwks_url: str | None
    scopes: ScopeNames

    @classmethod
    def of(cls, settings: Settings) -> OAuthConfig | None:
        """The OAuth settings, checked; None when no issuer is configured."""
        if settings.oauth_issuer is None:
            stray = [
                name
                for name, value in (
                    ("TRADELOOP_OAUTH_RESOURCE / --oauth-resource", settings.oauth_resource),
                    ("TRADELOOP_OAUTH_AUDIENCE / --oauth-audience", settings.oauth_audience),
                    ("TRADELOOP_OAUTH_JWKS_URL / --oauth-jwks-url", settings.oauth_jwks_url),
                )
                if value is not None
            ]
            if stray:
                raise ConfigError(
                    f"{stray[0]} is set but TRADELOOP_OAUTH_ISSUER / --oauth-issuer is not: "
                    "OAuth needs the issuer's URL"
                )
            return None
        if settings.oauth_resource is None:
            raise ConfigError(
                "TRADELOOP_OAUTH_RESOURCE / --oauth-resource is required with an OAuth issuer: "
                "the URL clients use for this server's MCP endpoint "
                "(e.g. https://trade.example.com/mcp)"
            )
        if settings.oauth_read_scope == settings.oauth_trade_scope:
            raise ConfigError(
                "TRADELOOP_OAUTH_READ_SCOPE and TRADELOOP_OAUTH_TRADE_SCOPE must differ "
                f"(both are {settings.oauth_read_scope!r})"
            )
        issuer = web_url("TRADELOOP_OAUTH_ISSUER / --oauth-issuer", settings.oauth_issuer)
        resource = web_url("TRADELOOP_OAUTH_RESOURCE / --oauth-resource", settings.oauth_resource)
        jwks_url = settings.oauth_jwks_url
        if jwks_url is not None:
            jwks_url = web_url("TRADELOOP_OAUTH_JWKS_URL / --oauth-jwks-url", jwks_url)
        return cls(
            issuer=issuer,
            resource=resource,
            audience=settings.oauth_audience or resource,
            jwks_url=jwks_url,
            scopes=ScopeNames.of(settings),
        )

    def auth_settings(self) -> AuthSettings:
        """The SDK's resource-server settings: 401 with ``WWW-Authenticate`` pointing at the
        metadata, 403 without the read scope. The audience is checked here, not by the SDK."""
        return AuthSettings.model_validate(  # from strings: an empty path stays empty
            {
                "issuer_url": self.issuer,
                "resource_server_url": self.resource,
                "required_scopes": [self.scopes.read],
                "validate_token_resource": False,
            }
        )

    def resource_hosts(self) -> list[str]:
        """The ``Host`` values clients send to reach the resource URL (with and without a
        default port), which the DNS-rebinding check must accept."""
        parts = urlsplit(self.resource)
        default = 443 if parts.scheme == "https" else 80
        hosts = [parts.netloc.lower()]
        if parts.port is None:
            hosts.append(f"{parts.netloc.lower()}:{default}")
        elif parts.port == default:
            hosts.append(parts.netloc.lower().rsplit(":", 1)[0])
        return hosts

    def resource_origin(self) -> str:
        """The ``Origin`` of a page served from the resource's host (the dashboard)."""
        parts = urlsplit(self.resource)
        return f"{parts.scheme}://{parts.netloc.lower()}"


def web_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: {value!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{name}: {value!r} must use https (plain http only on loopback)")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}: {value!r} must have no query or fragment")
    return value


def protected_resource_routes(config: OAuthConfig) -> list[Route]:
    """The SDK's RFC 9728 metadata route, advertising both scopes (the SDK's own lists only the
    required read scope, so a connector would never ask for the trade scope)."""
    auth = config.auth_settings()  # its URLs keep an empty path empty: the issuer exactly
    assert auth.resource_server_url is not None
    return create_protected_resource_routes(
        resource_url=auth.resource_server_url,
        authorization_servers=[auth.issuer_url],
        scopes_supported=config.scopes.all(),
        resource_name="tradeloop",
    )
