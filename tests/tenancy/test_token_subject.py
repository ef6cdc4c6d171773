"""The principal is the verified subject: a token whose subject was changed to another
principal's (the signature kept) gets 401, as every other bad token does
(tests/server/test_oauth_http.py covers expired, wrong audience and issuer, alg none, a tampered
scope, a foreign key and HS256 keyed with the public key)."""

from __future__ import annotations

import httpx2

from tests.server.oauth_issuer import tampered
from tests.server.test_http import HEADERS, INITIALIZE
from tests.tenancy.served import Served


async def test_a_token_tampered_to_another_principals_subject_gets_401(served: Served) -> None:
    forged = tampered(served.token("bob"), sub="alice")
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            served.url, json=INITIALIZE, headers=HEADERS | {"Authorization": f"Bearer {forged}"}
        )
        genuine = await http.post(
            served.url,
            json=INITIALIZE,
            headers=HEADERS | {"Authorization": f"Bearer {served.token('alice')}"},
        )
    assert response.status_code == 401
    assert genuine.status_code == 200
