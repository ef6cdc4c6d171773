"""``tradeloop serve --http`` as a subprocess in OAuth resource-server mode, trusting a local
issuer (tests.server.oauth_issuer: key pair made here, JWKS on 127.0.0.1, no network), with the
real candles replayed. Every principal signs in with a JWT whose subject is its name; the
operator's static token is accepted beside them."""

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

TOKEN_LIFETIME_S = 3600
OPERATOR_TOKEN = "operator-t0ken-for-tenancy-tests"
"""``TRADELOOP_HTTP_TOKEN``: its holder is the implicit owner, one principal among the others."""


@dataclass(frozen=True)
class Served:
    url: str
    issuer: Issuer

    def token(self, subject: str, scope: str = f"{READ} {TRADE}", **claims: object) -> str:
        """A valid access token for ``subject`` (for an hour: longer than any test module)."""
        now = int(time.time())
        overrides = {"sub": subject, "scope": scope, "exp": now + TOKEN_LIFETIME_S} | claims
        return self.issuer.mint(self.issuer.claims(self.url, **overrides))

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/mcp")


@contextmanager
def served_with_oauth(shared_data: Path, db_dir: Path) -> Iterator[Served]:
    """The server, listening until the block ends."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with local_issuer(SigningKey.rsa("tenancy-1")) as issuer:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TRADELOOP_DB": str(db_dir / "tradeloop.db"),
            "TRADELOOP_OAUTH_ISSUER": issuer.url,
            "TRADELOOP_HTTP_TOKEN": OPERATOR_TOKEN,
        }
        args = ["serve", "--http", "--port", str(port), "--replay", str(shared_data)]
        process = subprocess.Popen(
            [sys.executable, "-m", "tradeloop", *args, "--oauth-resource", url],
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
            yield Served(url, issuer)
        finally:
            process.terminate()
            process.wait(timeout=60)
