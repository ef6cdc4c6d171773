"""Two ways for a real ccxt exchange to reach a fake venue, both through ccxt's own request path.

* ``answer_in_process(exchange, dialect)``: the instance's ``fetch(url, method, headers, body)`` is
  answered by the dialect; everything above it (signing, the rate limiter, parsing, ccxt's error
  mapping via ``handle_errors``) is ccxt's own code.
* ``FakeVenueServer``: an HTTPS server on 127.0.0.1; ``loopback_session(port, cafile)`` is an
  aiohttp session that resolves every host name to it, so ccxt keeps the venue's real URLs (and
  the URL-keyed error tables that depend on them) while nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
from aiohttp import web
from aiohttp.abc import AbstractResolver

from tests.execution.fake_exchange.dialect import Dialect, TransportDown, TransportTimeout

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
}
HOSTS = (
    "*.binance.com",
    "*.binancefuture.com",
    "*.binance.vision",
    "www.okx.com",
    "*.okx.com",
    "*.bybit.com",
)


def answer_in_process(exchange: Any, dialect: Dialect) -> Any:
    """Make ``exchange`` (already configured) talk to ``dialect`` at its fetch layer."""
    base = type(exchange)

    class InProcess(base):  # type: ignore[misc, valid-type]
        async def fetch(self, url, method="GET", headers=None, body=None):  # noqa: ANN001
            sent_headers = self.prepare_request_headers(headers)  # as ccxt's own fetch does
            self.logger.debug("%s %s, Request: %s %s", method, url, headers, body)  # so does this
            try:
                status, text = dialect.handle(method, url, dict(sent_headers), body)
            except TransportTimeout as exc:
                raise ccxt.RequestTimeout(f"{self.id} {method} {url}") from exc
            except TransportDown as exc:
                raise ccxt.ExchangeNotAvailable(f"{self.id} {method} {url}") from exc
            reason = _REASONS.get(status, "")
            response_headers = {"Content-Type": "application/json"}
            text = self.on_rest_response(
                status, reason, url, method, response_headers, text, headers, body
            )
            response = self.parse_json(text)
            self.handle_errors(
                status, reason, url, method, response_headers, text, response, headers, body
            )
            self.handle_http_status_code(status, reason, url, method, text)
            return response

    InProcess.__name__ = f"InProcess{base.__name__}"
    exchange.__class__ = InProcess
    return exchange


class FakeVenueServer:
    """HTTPS on 127.0.0.1 answering every host name through one dialect; plain HTTP without
    ``certs`` (for ``TRADELOOP_EXCHANGE_URL_<ID>=http://127.0.0.1:<port>``)."""

    def __init__(
        self, dialect: Dialect, certs: tuple[Path, Path] | None = None, *, hold_s: float = 2.0
    ) -> None:
        self.dialect = dialect
        self._certs = certs
        self._hold_s = hold_s
        self.holding = 0
        """Answers held back right now (accepted orders whose reply is withheld)."""
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> FakeVenueServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = None
        if self._certs is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self._certs)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0]
        url = f"{request.scheme}://{host}{request.path_qs}"
        body = await request.text()
        try:
            status, text = self.dialect.handle(
                request.method, url, dict(request.headers), body or None
            )
        except TransportTimeout:
            self.holding += 1
            try:
                await asyncio.sleep(self._hold_s)  # longer than the client's timeout
            finally:
                self.holding -= 1
            return web.Response(status=504, text="")
        except TransportDown:
            return web.Response(status=502, text="Bad Gateway")
        return web.Response(status=status, text=text, content_type="application/json")


class LoopbackResolver(AbstractResolver):
    """Every host name resolves to 127.0.0.1:<port>: the session cannot reach anything else."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self._port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def loopback_session(port: int, cafile: Path) -> aiohttp.ClientSession:
    context = ssl.create_default_context(cafile=str(cafile))
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver(port), ssl=context)
    return aiohttp.ClientSession(connector=connector)


def use_session(exchange: Any, session: aiohttp.ClientSession) -> Any:
    """ccxt uses ``session`` for every request instead of opening its own."""
    exchange.session = session
    exchange.own_session = False
    return exchange


def make_certs(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the venue host names, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-venue")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "venue.pem", folder / "venue.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
