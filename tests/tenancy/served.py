"""``tradeloop serve --http`` as a subprocess with every way in at once: OAuth JWTs of a local
issuer (tests.server.oauth_issuer: key pair made here, JWKS on 127.0.0.1, no network), a tokens
file made by ``tradeloop tokens add``, and the operator's static token; the real candles replayed.

A principal named in ``FILE_PRINCIPALS`` signs in with its tokens-file token, any other with a
JWT whose subject is its name, ``OWNER_NAME`` with the static token (the implicit owner).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.server.oauth_issuer import READ, TRADE, Issuer, SigningKey, local_issuer
from tests.server.test_http import _free_port, _wait_for_line
from tradeloop.services.principals import OWNER_NAME

TOKEN_LIFETIME_S = 3600
OPERATOR_TOKEN = "operator-t0ken-for-tenancy-tests"
FILE_PRINCIPALS = ("carol",)


@dataclass(frozen=True)
class Served:
    url: str
    issuer: Issuer
    file_tokens: dict[str, str]

    def token(self, subject: str, scope: str = f"{READ} {TRADE}", **claims: object) -> str:
        """A valid JWT for ``subject`` (for an hour: longer than any test module)."""
        now = int(time.time())
        overrides = {"sub": subject, "scope": scope, "exp": now + TOKEN_LIFETIME_S} | claims
        return self.issuer.mint(self.issuer.claims(self.url, **overrides))

    def bearer(self, principal: str) -> str:
        """The token ``principal`` signs in with, with read and trade access."""
        if principal == OWNER_NAME:
            return OPERATOR_TOKEN
        return self.file_tokens.get(principal) or self.token(principal)

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/mcp")


def _environment(folder: Path, issuer: Issuer, database: str | None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TRADELOOP_DB": database or str(folder / "tradeloop.db"),
        "TRADELOOP_OAUTH_ISSUER": issuer.url,
        "TRADELOOP_HTTP_TOKEN": OPERATOR_TOKEN,
    }


def _file_tokens(file: Path, env: dict[str, str]) -> dict[str, str]:
    """``tradeloop tokens add NAME`` for each of ``FILE_PRINCIPALS``: the tokens it printed."""
    tokens = {}
    for name in FILE_PRINCIPALS:
        added = subprocess.run(
            [sys.executable, "-m", "tradeloop", "tokens", "add", name, "--file", str(file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert added.returncode == 0, added.stderr
        tokens[name] = added.stdout.strip()
    return tokens


@contextmanager
def served_with_oauth(
    shared_data: Path, folder: Path, database: str | None = None
) -> Iterator[Served]:
    """The server, listening until the block ends, on ``database`` (a PostgreSQL URL) or a
    SQLite file in ``folder``."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with local_issuer(SigningKey.rsa("tenancy-1")) as issuer:
        env = _environment(folder, issuer, database)
        file = folder / "tokens.json"
        tokens = _file_tokens(file, env)
        args = ["serve", "--http", "--port", str(port), "--replay", str(shared_data)]
        args += ["--oauth-resource", url, *(["--tokens", str(file)] if tokens else [])]
        process = subprocess.Popen(
            [sys.executable, "-m", "tradeloop", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with ThreadPoolExecutor(1) as reader:
                ready = reader.submit(_wait_for_line, process, "Uvicorn running on")
                assert ready.result(timeout=60), "the server did not start"
            threading.Thread(target=process.stderr.read, daemon=True).start()
            yield Served(url, issuer, tokens)
        finally:
            process.terminate()
            process.wait(timeout=60)
