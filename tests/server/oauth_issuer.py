"""A local OAuth issuer for tests: key pairs made here, its discovery document and JWKS served by
a real HTTP server on 127.0.0.1, and tokens minted by PyJWT (or forged by hand: ``alg: none``,
HS256 keyed with the public key, a tampered payload). No network beyond loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

RESOURCE = "http://127.0.0.1:{port}/mcp"
READ = "tradeloop:read"
TRADE = "tradeloop:trade"


@dataclass
class SigningKey:
    kid: str
    private: Any
    algorithm: str

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")

    def public_jwk(self) -> dict[str, Any]:
        maker = RSAAlgorithm if self.algorithm.startswith(("RS", "PS")) else ECAlgorithm
        jwk = maker.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class Issuer:
    """The issuer's URL, the keys its JWKS publishes, and a count of JWKS fetches."""

    url: str
    keys: list[SigningKey]
    jwks_fetches: int = 0
    discovery_issuer: str | None = None
    """What the discovery document says the issuer is (default: ``url``)."""
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)
    discovery_jwks_uri: str | None = None
    """What the discovery document says the JWKS URL is (default: ``jwks_url``)."""

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def claims(self, audience: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "alice",
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "scope": f"{READ} {TRADE}",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self, claims: dict[str, Any], key: SigningKey | None = None, kid: str | None = None
    ) -> str:
        key = key or self.keys[0]
        headers = {"kid": kid or key.kid}
        return jwt.encode(claims, key.private, algorithm=key.algorithm, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """``alg: none``: a token with an empty signature."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """Algorithm confusion: HS256 "signed" with the issuer's public key (PEM) as the secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


@contextmanager
def local_issuer(*keys: SigningKey) -> Iterator[Issuer]:
    """An issuer at ``http://127.0.0.1:<port>`` serving ``/.well-known/openid-configuration``
    and ``/jwks.json`` until the block ends."""
    state: dict[str, Issuer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            issuer = state["issuer"]
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": issuer.discovery_issuer or issuer.url,
                    "jwks_uri": issuer.discovery_jwks_uri or issuer.jwks_url,
                    "authorization_endpoint": f"{issuer.url}/authorize",
                    "token_endpoint": f"{issuer.url}/token",
                }
            elif self.path == "/jwks.json":
                issuer.jwks_fetches += 1
                body = {"keys": [k.public_jwk() for k in issuer.keys] + issuer.extra_jwks}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["issuer"] = Issuer(f"http://127.0.0.1:{server.server_port}", list(keys))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["issuer"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
