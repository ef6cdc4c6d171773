"""The gate in front of live trading: the operator's setting, then a human's confirmation.

Two locks, both required before a live strategy is created or started:

1. **The operator setting.** ``LiveGate(enabled=settings.live_trading_enabled, ...)``. The value
   comes from the server's own configuration (``TRADELOOP_LIVE_TRADING``) and is fixed for the
   life of the gate: there is no setter, and no tool argument reaches it.
2. **A human confirmation**, one of:

   * elicitation (the client can ask its user): the tool asks, then calls
     ``gate.approve_elicited(answer_accepted, action, params)``;
   * otherwise a two-step flow: ``gate.issue(action, params)`` returns a short-lived, single-use
     token bound to the exact parameters (shown to the human in a preview); the start call must
     present it: ``gate.redeem(token, action, params)``;
   * headless (``tradeloop run --confirm-live``): the operator confirmed on the command line,
     ``gate.approve_operator(action, params)``; no tool reaches it.

All return a ``LiveApproval``; ``tradeloop.services.live.open_live_gateway`` requires one that
matches the request, so no code path reaches the exchange without it. A strategy confirmed and
started earlier is resumed after a restart with ``gate.approve_resume(params)``: the operator
setting is checked again, the human is not asked again.

Tokens are ``<nonce>.<expiry_ms>.<mac>``: HMAC-SHA256 under a random per-process key over the
nonce, the expiry and the digest of the canonical JSON of ``{"action", "params"}``. The gate also
remembers each nonce it issued, so a token is redeemed at most once, and is compared in constant
time. A token from an earlier process is forged as far as this one is concerned.

Errors (all ``ConfirmationError``, a ``ConfigError``: the caller can fix it by asking again)::

    ConfirmationMissing   no token presented
    ConfirmationForged    not issued by this process, or altered
    ConfirmationExpired   older than the TTL
    ConfirmationReused    already redeemed (or burned by a failed redeem)
    ConfirmationMismatch  issued for other parameters
    ConfirmationDeclined  the human said no (elicitation)

``LiveTradingDisabled`` (an ``OperationalError``) comes first whenever the operator setting is off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tradeloop.trading.clock import Clock, SystemClock
from tradeloop.trading.errors import ConfigError, OperationalError
from tradeloop.trading.models import UserRequest

Action = Literal["create", "start"]
DEFAULT_TTL_S = 120.0
MAX_OUTSTANDING = 256


class LiveTradingDisabled(OperationalError):
    """The operator has not enabled live trading in the server's configuration."""


class ConfirmationError(ConfigError):
    """The human confirmation is missing or not valid for this exact request."""


class ConfirmationMissing(ConfirmationError):
    pass


class ConfirmationForged(ConfirmationError):
    pass


class ConfirmationExpired(ConfirmationError):
    pass


class ConfirmationReused(ConfirmationError):
    pass


class ConfirmationMismatch(ConfirmationError):
    pass


class ConfirmationDeclined(ConfirmationError):
    pass


@dataclass(frozen=True, slots=True)
class ConfirmationToken:
    token: str
    expires_at_ms: int
    summary: str
    """What the human is confirming, in words (show it next to the token)."""


@dataclass(frozen=True, slots=True)
class LiveApproval:
    """Proof that the gate let ``action`` on these exact ``params`` through. Made only by a gate."""

    action: Action
    params_digest: str
    how: Literal["elicitation", "token", "operator", "resume"]
    _seal: object = field(repr=False, compare=False)

    def covers(self, action: Action, params: Mapping[str, Any]) -> bool:
        return self.action == action and hmac.compare_digest(
            self.params_digest, params_digest(action, params)
        )


@dataclass(slots=True)
class _Issued:
    expires_at_ms: int
    digest: str


class LiveGate:
    def __init__(
        self,
        *,
        enabled: bool,
        clock: Clock | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        key: bytes | None = None,
    ) -> None:
        self._enabled = bool(enabled)
        self._clock = clock or SystemClock()
        self._ttl_ms = int(ttl_s * 1000)
        self._key = key or secrets.token_bytes(32)
        self._issued: dict[str, _Issued] = {}
        self._spent: dict[str, int] = {}
        self._seal = object()

    @property
    def enabled(self) -> bool:
        """The operator setting, as given at construction (read-only)."""
        return self._enabled

    def require_enabled(self) -> None:
        if not self._enabled:
            raise LiveTradingDisabled(
                "live trading is disabled on this server: only the operator can enable it, by "
                "setting TRADELOOP_LIVE_TRADING=1 in the server's environment and restarting it"
            )

    def issue(self, action: Action, params: Mapping[str, Any]) -> ConfirmationToken:
        """A single-use token for exactly ``params`` (the preview step of the two-step flow)."""
        self.require_enabled()
        self._prune()
        if len(self._issued) >= MAX_OUTSTANDING:
            raise ConfirmationError("too many unconfirmed live previews; wait for them to expire")
        nonce = secrets.token_urlsafe(12)
        expires = self._clock.now_ms() + self._ttl_ms
        digest = params_digest(action, params)
        self._issued[nonce] = _Issued(expires, digest)
        token = f"{nonce}.{expires}.{self._mac(nonce, expires, digest)}"
        return ConfirmationToken(token, expires, describe(action, params))

    def redeem(self, token: str | None, action: Action, params: Mapping[str, Any]) -> LiveApproval:
        """Check and consume ``token`` for exactly ``params``; any failure burns the token."""
        self.require_enabled()
        if not token:
            raise ConfirmationMissing(
                "live trading needs a confirmation token: call the preview first, have the human "
                "check it, then pass its token"
            )
        nonce, expires, mac = _split(token)
        if nonce in self._spent:
            raise ConfirmationReused("this confirmation token was already used; preview again")
        issued = self._issued.pop(nonce, None)
        if issued is None or expires != issued.expires_at_ms:
            raise ConfirmationForged("this confirmation token was not issued by this server")
        self._spent[nonce] = issued.expires_at_ms
        if not hmac.compare_digest(mac, self._mac(nonce, expires, issued.digest)):
            raise ConfirmationForged("this confirmation token was not issued by this server")
        if self._clock.now_ms() > issued.expires_at_ms:
            raise ConfirmationExpired("this confirmation token has expired; preview again")
        if not hmac.compare_digest(issued.digest, params_digest(action, params)):
            raise ConfirmationMismatch(
                "this confirmation token was issued for different parameters; preview again"
            )
        return LiveApproval(action, issued.digest, "token", self._seal)

    def approve_elicited(
        self, accepted: bool, action: Action, params: Mapping[str, Any]
    ) -> LiveApproval:
        """The human answered an elicitation; only an explicit yes approves."""
        self.require_enabled()
        if accepted is not True:
            raise ConfirmationDeclined(
                "the live trading request was not confirmed; nothing started"
            )
        return LiveApproval(action, params_digest(action, params), "elicitation", self._seal)

    def approve_operator(self, action: Action, params: Mapping[str, Any]) -> LiveApproval:
        """The operator confirmed on the command line (``tradeloop run --confirm-live``)."""
        self.require_enabled()
        return LiveApproval(action, params_digest(action, params), "operator", self._seal)

    def approve_resume(self, params: Mapping[str, Any]) -> LiveApproval:
        """A strategy confirmed and started earlier is resumed after a server restart: only the
        operator setting is checked again (the human said yes when it was started)."""
        self.require_enabled()
        return LiveApproval("start", params_digest("start", params), "resume", self._seal)

    def check(self, approval: LiveApproval, action: Action, params: Mapping[str, Any]) -> None:
        """Raise unless ``approval`` was made by this gate for exactly ``action`` and ``params``."""
        self.require_enabled()
        if approval._seal is not self._seal or not approval.covers(action, params):
            raise ConfirmationMismatch("the live approval does not cover this request")

    def _mac(self, nonce: str, expires: int, digest: str) -> str:
        message = f"{nonce}.{expires}.{digest}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _prune(self) -> None:
        now = self._clock.now_ms()
        self._issued = {n: i for n, i in self._issued.items() if i.expires_at_ms >= now}
        self._spent = {n: e for n, e in self._spent.items() if e + self._ttl_ms >= now}


def live_params(
    action: Action, request: UserRequest, strategy_id: str | None = None
) -> dict[str, Any]:
    """The parameters a confirmation is bound to: the whole request (secrets excluded) and, for
    ``start``, the strategy id. Any change to any field needs a new confirmation."""
    params: dict[str, Any] = {"request": request.model_dump(mode="json")}
    if strategy_id is not None:
        params["strategy_id"] = strategy_id
    return params


def params_digest(action: str, params: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"action": action, "params": params}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def describe(action: Action, params: Mapping[str, Any]) -> str:
    """A plain-words summary for the human: venue, test or real money, symbols, leverage, caps."""
    request = params.get("request") or {}
    ex, cfg = request.get("exchange_config") or {}, request.get("trading_config") or {}
    money = "TESTNET (no real funds)" if ex.get("testnet") else "REAL FUNDS"
    caps = ", ".join(
        f"{name}={cfg[name]}"
        for name in ("max_order_value", "max_daily_traded_value", "max_leverage")
        if cfg.get(name) is not None
    )
    who = f" strategy {params['strategy_id']}" if params.get("strategy_id") else ""
    return (
        f"{action} LIVE{who} on {ex.get('exchange_id')} {ex.get('market_type')} with {money}; "
        f"symbols {', '.join(cfg.get('symbols') or [])}; {caps or 'no extra caps'}"
    )


def _split(token: str) -> tuple[str, int, str]:
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise ConfirmationForged("this confirmation token was not issued by this server")
    return parts[0], int(parts[1]), parts[2]
