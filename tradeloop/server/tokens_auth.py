"""Bearer tokens from the tokens file (``tradeloop.services.tokens_file``): each names its
principal, with read or trade access.

The file is read at start-up (missing or malformed: the server does not start) and again
whenever it changes on disk (its modification time, size or inode), checked on every request, so
``tradeloop tokens revoke`` takes effect on the next request without a restart. A file that turns
malformed or disappears while serving accepts no token until it is fixed (failing closed: a
half-edited file must not keep a revoked token working), with one error logged per change.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

from mcp.server.auth.provider import AccessToken

from tradeloop.services.principals import ScopeNames
from tradeloop.services.tokens_file import TokensFile, read_tokens, token_digest
from tradeloop.trading.errors import ConfigError

logger = logging.getLogger(__name__)

_Stamp = tuple[int, int, int, int]


class TokensFileVerifier:
    """Accepts the tokens whose SHA-256 the file holds, compared in constant time."""

    def __init__(self, path: Path, scopes: ScopeNames) -> None:
        self._path = path
        self._scopes = scopes
        self._stamp = _stamp(path)
        self._tokens = read_tokens(path)  # ConfigError: refuse to start
        logger.info("tokens file %s: %d tokens", path, len(self._tokens.tokens))

    async def verify_token(self, token: str) -> AccessToken | None:
        self._reload_if_changed()
        digest = token_digest(token).encode()
        found = None
        for entry in self._tokens.tokens:  # every entry compared: no early exit on a match
            if hmac.compare_digest(digest, entry.sha256.encode()):
                found = entry
        if found is None:
            return None
        scopes = [self._scopes.read] if found.access == "read" else self._scopes.all()
        return AccessToken(token="", client_id=found.name, scopes=scopes)

    def _reload_if_changed(self) -> None:
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._tokens = read_tokens(self._path)
        except ConfigError as exc:
            self._tokens = TokensFile()
            logger.error("%s; no token of the file is accepted until it is fixed", exc)
            return
        logger.info("tokens file %s reloaded: %d tokens", self._path, len(self._tokens.tokens))


def _stamp(path: Path) -> _Stamp:
    """What changes when the file is edited or replaced; all zero when it is missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return (0, 0, 0, 0)
    return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)
