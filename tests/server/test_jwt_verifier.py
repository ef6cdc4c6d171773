"""The JWT verifier against a local issuer: what it accepts, what it refuses, how it finds and
refreshes the issuer's keys, and the settings it refuses to start with."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.server.oauth_issuer import (
    READ,
    TRADE,
    Issuer,
    SigningKey,
    hs256_with_public_key,
    local_issuer,
    tampered,
    unsigned,
)
from tradeloop.commands.serve import OAUTH_FLAGS
from tradeloop.server.jwt_auth import JwksKeys, JwtVerifier
from tradeloop.server.oauth_config import OAuthConfig
from tradeloop.services.principals import OWNER_NAME, ScopeNames, principal_from_token
from tradeloop.settings import Settings
from tradeloop.trading.errors import ConfigError

AUDIENCE = "https://trade.example.com/mcp"
RSA_KEY = SigningKey.rsa("rsa-1")


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with local_issuer(RSA_KEY) as running:
        yield running


def config(issuer: Issuer, jwks_url: str | None = None) -> OAuthConfig:
    settings = Settings.from_env(
        {
            "TRADELOOP_OAUTH_ISSUER": issuer.url,
            "TRADELOOP_OAUTH_RESOURCE": AUDIENCE,
            **({"TRADELOOP_OAUTH_JWKS_URL": jwks_url} if jwks_url else {}),
        }
    )
    found = OAuthConfig.of(settings)
    assert found is not None
    return found


def verifier(issuer: Issuer, refresh_after_s: float = 60.0) -> JwtVerifier:
    cfg = config(issuer)
    return JwtVerifier(cfg, JwksKeys(cfg, refresh_after_s=refresh_after_s))


async def test_a_valid_token_is_its_subject_with_its_scopes(issuer) -> None:
    token = issuer.mint(issuer.claims(AUDIENCE, sub="auth0|alice"))
    accepted = await verifier(issuer).verify_token(token)
    assert accepted is not None
    assert accepted.client_id == "auth0|alice"
    assert accepted.subject == "auth0|alice"
    assert accepted.scopes == [READ, TRADE]
    assert accepted.resource == AUDIENCE
    assert token not in accepted.model_dump_json()  # the raw token is not kept
    assert principal_from_token(accepted, ScopeNames()).can_trade


async def test_a_read_only_token_is_a_principal_who_may_not_trade(issuer) -> None:
    token = issuer.mint(issuer.claims(AUDIENCE, scope=READ))
    accepted = await verifier(issuer).verify_token(token)
    assert accepted is not None
    assert not principal_from_token(accepted, ScopeNames()).can_trade


async def test_scopes_given_as_an_scp_list_count_too(issuer) -> None:
    token = issuer.mint(issuer.claims(AUDIENCE, scope=None, scp=[READ]))
    accepted = await verifier(issuer).verify_token(token)
    assert accepted is not None and accepted.scopes == [READ]


async def test_an_ec_key_signs_valid_tokens_too() -> None:
    key = SigningKey.ec("ec-1")
    with local_issuer(RSA_KEY, key) as issuer:
        accepted = await verifier(issuer).verify_token(issuer.mint(issuer.claims(AUDIENCE), key))
    assert accepted is not None


def refused_tokens(issuer: Issuer) -> dict[str, tuple[str, str]]:
    """Bad tokens by kind, each with the reason the log must give for refusing it."""
    now = int(time.time())
    good = issuer.claims(AUDIENCE)
    other = SigningKey.rsa("rsa-1")  # same kid, different key
    return {
        "expired": (
            issuer.mint(issuer.claims(AUDIENCE, iat=now - 7200, exp=now - 3600)),
            "Signature has expired",
        ),
        "not yet valid": (issuer.mint(issuer.claims(AUDIENCE, nbf=now + 3600)), "(nbf)"),
        "wrong audience": (
            issuer.mint(issuer.claims("https://other.example.com/mcp")),
            "InvalidAudienceError",
        ),
        "wrong issuer": (
            issuer.mint(issuer.claims(AUDIENCE, iss="https://evil.example.com")),
            "InvalidIssuerError",
        ),
        "unsigned (alg none)": (unsigned(good, RSA_KEY.kid), "algorithm 'none' is not accepted"),
        "tampered": (
            tampered(issuer.mint(issuer.claims(AUDIENCE, scope=READ)), scope=TRADE),
            "InvalidSignatureError",
        ),
        "wrong key": (issuer.mint(good, other), "InvalidSignatureError"),
        "HS256 keyed with the public key": (
            hs256_with_public_key(good, RSA_KEY),
            "algorithm 'HS256' is not accepted",
        ),
        "no expiry": (issuer.mint(issuer.claims(AUDIENCE, exp=None)), '"exp"'),
        "no subject": (issuer.mint(issuer.claims(AUDIENCE, sub=None)), '"sub"'),
        "the owner's reserved name as subject": (
            issuer.mint(issuer.claims(AUDIENCE, sub=OWNER_NAME)),
            "reserved",
        ),
        "a reserved ~name as subject (the operator's)": (
            issuer.mint(issuer.claims(AUDIENCE, sub="~operator")),
            "reserved",
        ),
        "unknown key id": (issuer.mint(good, kid="rsa-9"), "no signing key 'rsa-9'"),
        "not a JWT": ("not-a-jwt", "not a signed JWT"),
    }


REFUSED = list(refused_tokens(Issuer("http://127.0.0.1:1", [RSA_KEY])))


@pytest.mark.parametrize("kind", REFUSED)
async def test_a_bad_token_is_refused(issuer, kind, caplog) -> None:
    caplog.set_level(logging.INFO, "tradeloop.server.jwt_auth")
    token, reason = refused_tokens(issuer)[kind]
    assert await verifier(issuer).verify_token(token) is None
    refusals = [r.getMessage() for r in caplog.records if "bearer token refused" in r.getMessage()]
    assert len(refusals) == 1 and reason in refusals[0]
    assert token not in caplog.text


async def test_hs256_keyed_with_the_public_key_would_pass_a_naive_hmac_check(issuer) -> None:
    """The forged token really is the classic confusion attack: a verifier that trusted the
    header's algorithm and used the key bytes as an HMAC secret would accept it."""
    token = hs256_with_public_key(issuer.claims(AUDIENCE), RSA_KEY)
    naive = jwt.api_jws.PyJWS()
    naive._algorithms["HS256"].prepare_key = lambda key: key  # no asymmetric-key guard
    assert naive.decode(token, RSA_KEY.public_pem(), algorithms=["HS256"])


async def test_an_rsa_key_does_not_verify_an_es256_header(issuer) -> None:
    forged = SigningKey("rsa-1", SigningKey.ec("x").private, "ES256")
    assert await verifier(issuer).verify_token(issuer.mint(issuer.claims(AUDIENCE), forged)) is None


async def test_a_symmetric_key_in_the_jwks_is_never_used(issuer) -> None:
    secret = b"shared-secret-of-32-bytes-or-more!!"
    issuer.extra_jwks.append(
        {"kty": "oct", "kid": "hmac", "k": jwt.utils.base64url_encode(secret).decode()}
    )
    token = jwt.encode(issuer.claims(AUDIENCE), secret, algorithm="HS256", headers={"kid": "hmac"})
    assert await verifier(issuer).verify_token(token) is None


async def test_the_jwks_url_comes_from_the_discovery_document_and_is_fetched_once(issuer) -> None:
    check = verifier(issuer)
    for _ in range(3):
        assert await check.verify_token(issuer.mint(issuer.claims(AUDIENCE))) is not None
    assert issuer.jwks_fetches == 1


async def test_a_discovery_document_naming_another_issuer_is_refused(issuer) -> None:
    issuer.discovery_issuer = "https://evil.example.com"
    assert await verifier(issuer).verify_token(issuer.mint(issuer.claims(AUDIENCE))) is None
    assert issuer.jwks_fetches == 0


async def test_a_discovered_plain_http_jwks_url_off_loopback_is_refused(issuer) -> None:
    issuer.discovery_jwks_uri = "http://keys.example.com/jwks.json"
    assert await verifier(issuer).verify_token(issuer.mint(issuer.claims(AUDIENCE))) is None
    assert issuer.jwks_fetches == 0


async def test_a_configured_jwks_url_is_used_without_discovery(issuer) -> None:
    issuer.discovery_issuer = "https://evil.example.com"  # would be refused if read
    cfg = config(issuer, jwks_url=issuer.jwks_url)
    assert await JwtVerifier(cfg).verify_token(issuer.mint(issuer.claims(AUDIENCE))) is not None


async def test_a_new_key_id_refetches_the_jwks_once_rotated(issuer) -> None:
    check = verifier(issuer, refresh_after_s=0.0)
    assert await check.verify_token(issuer.mint(issuer.claims(AUDIENCE))) is not None
    rotated = SigningKey.rsa("rsa-2")
    issuer.keys.append(rotated)
    assert await check.verify_token(issuer.mint(issuer.claims(AUDIENCE), rotated)) is not None
    assert issuer.jwks_fetches == 2


async def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_interval(issuer) -> None:
    check = verifier(issuer, refresh_after_s=3600.0)
    assert await check.verify_token(issuer.mint(issuer.claims(AUDIENCE))) is not None
    for n in range(5):
        forged = issuer.mint(issuer.claims(AUDIENCE), kid=f"unknown-{n}")
        assert await check.verify_token(forged) is None
    assert issuer.jwks_fetches == 1


async def test_an_unreachable_issuer_refuses_tokens_and_recovers() -> None:
    with local_issuer(RSA_KEY) as issuer:
        token = issuer.mint(issuer.claims(AUDIENCE))
        cfg = config(issuer)
    keys = JwksKeys(cfg, refresh_after_s=0.0)
    assert await JwtVerifier(cfg, keys).verify_token(token) is None  # the issuer is gone


def test_the_audience_defaults_to_the_resource_and_can_be_set_apart() -> None:
    env = {
        "TRADELOOP_OAUTH_ISSUER": "https://id.example.com/",
        "TRADELOOP_OAUTH_RESOURCE": AUDIENCE,
    }
    assert OAuthConfig.of(Settings.from_env(env)).audience == AUDIENCE  # type: ignore[union-attr]
    named = OAuthConfig.of(Settings.from_env(env | {"TRADELOOP_OAUTH_AUDIENCE": "tradeloop-api"}))
    assert named is not None and named.audience == "tradeloop-api"
    assert named.resource_hosts() == ["trade.example.com", "trade.example.com:443"]
    assert named.resource_origin() == "https://trade.example.com"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRADELOOP_OAUTH_ISSUER": "https://id.example.com/"}, "TRADELOOP_OAUTH_RESOURCE"),
        ({"TRADELOOP_OAUTH_RESOURCE": AUDIENCE}, "TRADELOOP_OAUTH_ISSUER"),
        (
            {
                "TRADELOOP_OAUTH_ISSUER": "http://id.example.com/",
                "TRADELOOP_OAUTH_RESOURCE": AUDIENCE,
            },
            "must use https",
        ),
        (
            {"TRADELOOP_OAUTH_ISSUER": "id.example.com", "TRADELOOP_OAUTH_RESOURCE": AUDIENCE},
            r"not an http\(s\) URL",
        ),
        (
            {
                "TRADELOOP_OAUTH_ISSUER": "https://id.example.com/",
                "TRADELOOP_OAUTH_RESOURCE": AUDIENCE,
                "TRADELOOP_OAUTH_READ_SCOPE": "mcp",
                "TRADELOOP_OAUTH_TRADE_SCOPE": "mcp",
            },
            "must differ",
        ),
    ],
)
def test_incomplete_or_unsafe_oauth_settings_are_refused_by_name(env, named) -> None:
    with pytest.raises(ConfigError, match=named):
        OAuthConfig.of(Settings.from_env(env))


def test_the_readme_documents_every_oauth_flag_with_its_environment_variable() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### OAuth 2.1:", 1)[1].split("\n## ", 1)[0]
    for flag in OAUTH_FLAGS:
        env = f"TRADELOOP_OAUTH_{flag.replace('-', '_').upper()}"
        assert f"| `{env}` | `--oauth-{flag}` |" in section, flag
