"""OAuth 2.1 resource-server mode: JWT access tokens from one issuer, checked against its JWKS.

The server never issues tokens: an authorization server (Auth0, Keycloak, Okta, ...) does, and
remote connectors find it through the RFC 9728 protected-resource metadata this server publishes
(``oauth_config``). A token is accepted only when it is signed with an asymmetric
algorithm by a key of the issuer's JWKS whose type fits that algorithm (no ``alg: none``, no HS256
"signed" with the public key), and carries this server's audience, the issuer, ``exp`` in the
future, ``nbf`` not in the future and a subject. The subject is the principal and the scopes say
what it may do (``tradeloop.services.principals``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx2
import jwt
from mcp.server.auth.provider import AccessToken

from tradeloop.server.oauth_config import OAuthConfig, web_url
from tradeloop.services.principals import is_reserved
from tradeloop.trading.errors import ConfigError

logger = logging.getLogger(__name__)

ALGORITHMS_BY_KEY_TYPE = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}
"""The only signatures accepted, by the key type that must make them: asymmetric, so a public
key can never double as an HMAC secret."""
ALGORITHMS = frozenset().union(*ALGORITHMS_BY_KEY_TYPE.values())
LEEWAY_S = 30.0
"""Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
REFRESH_AFTER_S = 60.0
"""A token naming an unknown key refetches the JWKS (key rotation), at most this often."""
RETRY_AFTER_FAILURE_S = 5.0
"""After a failed fetch (the issuer unreachable), the next token tries again this much later."""
FETCH_TIMEOUT_S = 10.0
MAX_TOKEN_CHARS = 16384


class RefusedToken(Exception):
    """Why a token was refused (logged; the client sees only 401)."""


class JwksKeys:
    """The issuer's signing keys by ``kid``: fetched on first use (so the server starts while the
    issuer is unreachable), refetched when a token names a key not seen yet (rotation)."""

    def __init__(self, config: OAuthConfig, refresh_after_s: float = REFRESH_AFTER_S) -> None:
        self._config = config
        self._refresh_after_s = refresh_after_s
        self._jwks_url = config.jwks_url
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._next_fetch_at = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The JWK for ``kid`` (a token without ``kid``: the only key of the set)."""
        found = self._lookup(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._lookup(kid)
            if found is None and time.monotonic() >= self._next_fetch_at:
                await self._refresh()
                found = self._lookup(kid)
        if found is None:
            raise RefusedToken(f"no signing key {kid!r} in the issuer's JWKS")
        return found

    def _lookup(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    async def _refresh(self) -> None:
        self._next_fetch_at = time.monotonic() + min(RETRY_AFTER_FAILURE_S, self._refresh_after_s)
        async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as http:
            if self._jwks_url is None:
                self._jwks_url = await _discover_jwks_url(http, self._config.issuer)
            document = await _get_json(http, self._jwks_url, "JWKS")
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise RefusedToken(f"the JWKS at {self._jwks_url} has no 'keys' list")
        self._keys = {
            key.get("kid"): key
            for key in keys
            if isinstance(key, dict) and key.get("kty") in ALGORITHMS_BY_KEY_TYPE
        }
        self._next_fetch_at = time.monotonic() + self._refresh_after_s
        logger.info("loaded %d signing keys from %s", len(self._keys), self._jwks_url)


async def _discover_jwks_url(http: httpx2.AsyncClient, issuer: str) -> str:
    """``jwks_uri`` from the issuer's OpenID Connect discovery document, or its RFC 8414 OAuth
    metadata; the document must name the configured issuer exactly."""
    base = issuer.rstrip("/")
    parts = urlsplit(issuer)
    candidates = [
        f"{base}/.well-known/openid-configuration",
        f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server"
        f"{parts.path.rstrip('/')}",
    ]
    failures = []
    for url in candidates:
        try:
            document = await _get_json(http, url, "discovery document")
        except RefusedToken as exc:
            failures.append(str(exc))
            continue
        if document.get("issuer") != issuer:
            raise RefusedToken(
                f"the discovery document at {url} names issuer {document.get('issuer')!r}, "
                f"not {issuer!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise RefusedToken(f"the discovery document at {url} has no jwks_uri")
        try:
            return web_url("jwks_uri", jwks_uri)
        except ConfigError as exc:
            raise RefusedToken(f"the discovery document at {url}: {exc}") from None
    raise RefusedToken("; ".join(failures))


async def _get_json(http: httpx2.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx2.HTTPError as exc:
        raise RefusedToken(f"could not fetch the {what} at {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise RefusedToken(f"the {what} at {url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise RefusedToken(f"the {what} at {url} is not JSON") from None
    if not isinstance(document, dict):
        raise RefusedToken(f"the {what} at {url} is not a JSON object")
    return document


class JwtVerifier:
    """The SDK's ``TokenVerifier`` for the configured issuer's JWT access tokens."""

    def __init__(self, config: OAuthConfig, keys: JwksKeys | None = None) -> None:
        self._config = config
        self._keys = keys or JwksKeys(config)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            return await self._verify(token)
        except (RefusedToken, jwt.PyJWTError) as exc:
            logger.info("bearer token refused: %s", _reason(exc))
            return None
        except Exception as exc:  # fail closed: an unforeseen shape of token or key set is a 401
            logger.warning("bearer token refused: unexpected %s", type(exc).__name__)
            return None

    async def _verify(self, token: str) -> AccessToken:
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise RefusedToken("not a signed JWT (three dot-separated parts)")
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise RefusedToken(f"algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        jwk = await self._keys.key(kid if isinstance(kid, str) else None)
        if algorithm not in ALGORITHMS_BY_KEY_TYPE[jwk["kty"]]:
            raise RefusedToken(f"algorithm {algorithm} does not fit a {jwk['kty']} key")
        if jwk.get("alg", algorithm) != algorithm or jwk.get("use", "sig") != "sig":
            raise RefusedToken(f"key {kid!r} is not for {algorithm} signatures")
        claims = jwt.decode(
            token,
            key=jwt.PyJWK(jwk, algorithm=algorithm),
            algorithms=[algorithm],
            audience=self._config.audience,
            issuer=self._config.issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or is_reserved(subject):
            raise RefusedToken("the subject is empty or reserved")
        return AccessToken(
            token="",
            client_id=subject,
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=self._config.resource,
            subject=subject,
            claims={"iss": claims["iss"]},
        )


def _scopes(claims: dict[str, Any]) -> list[str]:
    """The granted scopes: RFC 9068's space-separated ``scope``, or ``scp`` (Okta, Azure)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [s for s in raw if isinstance(s, str)]
    return []


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, RefusedToken) else f"{type(exc).__name__}: {exc}"
