"""A stand-in for a local OpenAI-compatible model server (as Ollama or vLLM would run), for trying
``tradeloop compare`` and LLM backtests with no model and no key:

    python -m tradeloop.testing.fake_model --port 11435        # http://127.0.0.1:11435/v1

It answers ``POST /v1/chat/completions`` with one forced ``submit_trade_plan`` call computed from
the context document by a simple policy that follows the system prompt's template: ``aggressive``
buys 24-candle momentum with large positions, ``conservative`` buys only deep RSI dips with small
ones, anything else buys RSI dips and trims on strength. ``--noise P`` makes it hold instead of
acting with probability P, so repeated runs differ like a sampled model's. It is not a trading
model; it exists to exercise the pipeline, the cache, the cost and the comparison end to end.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tradeloop.trading.utils import parse_interval_seconds

logger = logging.getLogger(__name__)
PLAN_TOOL = "submit_trade_plan"


def plan_for(system: str, context: dict[str, Any], rng: random.Random, noise: float) -> dict:
    """The plan the fake model submits for one context document."""
    style = (
        "aggressive"
        if "Aggressive" in system
        else "conservative"
        if "Conservative" in system
        else "default"
    )
    portfolio = context.get("portfolio", {})
    equity = float(portfolio.get("equity") or 0)
    held = {p["symbol"]: float(p["quantity"]) for p in portfolio.get("positions", [])}
    items = []
    for symbol, groups in sorted(context.get("market", {}).items()):
        candles: dict[str, Any] = next(
            (v for k, v in groups.items() if k.startswith("candles_")), {}
        )
        price = float(
            (groups.get("market_snapshot") or {}).get("price") or candles.get("close") or 0
        )
        momentum_key = max(
            (k for k in candles if k.startswith("change_pct_")), default="", key=_span
        )
        rsi, momentum = candles.get("rsi"), candles.get(momentum_key)
        if not price or rsi is None or momentum is None or rng.random() < noise:
            continue
        action, share, why = _decide(style, float(rsi), float(momentum), symbol in held)
        if action == "hold":
            continue
        quantity = held[symbol] if action == "close_long" else equity * share / price
        items.append(
            {
                "symbol": symbol,
                "action": action,
                "quantity": round(quantity, 8) if action == "open_long" else quantity,
                "confidence": 0.6,
                "stop_loss": round(price * 0.95, 2) if action == "open_long" else None,
                "rationale": why,
            }
        )
    for item in items:
        if item["stop_loss"] is None:
            del item["stop_loss"]
    return {"rationale": f"{style} policy: {len(items)} action(s)", "items": items}


def _span(key: str) -> int:
    """Seconds in a context key such as ``change_pct_4d``, for picking the longest change."""
    try:
        return parse_interval_seconds(key.removeprefix("change_pct_"))
    except ValueError:
        return 0


def _decide(style: str, rsi: float, momentum: float, holding: bool) -> tuple[str, float, str]:
    if style == "aggressive":
        if not holding and momentum > 2.0:
            return "open_long", 0.45, f"24-candle momentum {momentum:+.1f} %"
        if holding and momentum < -1.0:
            return "close_long", 0.0, f"momentum faded to {momentum:+.1f} %"
    elif style == "conservative":
        if not holding and rsi < 28:
            return "open_long", 0.1, f"deep dip, RSI {rsi:.0f}"
        if holding and rsi > 60:
            return "close_long", 0.0, f"recovered, RSI {rsi:.0f}"
    else:
        if not holding and rsi < 33:
            return "open_long", 0.3, f"RSI {rsi:.0f} dip"
        if holding and rsi > 67:
            return "close_long", 0.0, f"RSI {rsi:.0f} strength"
    return "hold", 0.0, ""


def completion(body: dict[str, Any], rng: random.Random, noise: float) -> dict[str, Any]:
    messages = body.get("messages", [])
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    user = next((m["content"] for m in messages if m.get("role") == "user"), "{}")
    try:
        context = json.loads(user)
    except ValueError:
        context = {}
    plan = plan_for(system, context, rng, noise)
    prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
    arguments = json.dumps(plan)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_fake",
                            "type": "function",
                            "function": {"name": PLAN_TOOL, "arguments": arguments},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(arguments) // 4,
            "total_tokens": prompt_chars // 4 + len(arguments) // 4,
        },
    }


def serve(host: str, port: int, noise: float, seed: int | None) -> ThreadingHTTPServer:
    rng = random.Random(seed)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = json.dumps(completion(body, rng, noise)).encode()
                status = 200
            except Exception as exc:  # a fake server answers every request
                reply = json.dumps(
                    {"error": {"message": str(exc), "type": "server_error"}}
                ).encode()
                status = 500
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11435)
    parser.add_argument("--noise", type=float, default=0.0, help="chance of holding instead")
    parser.add_argument("--seed", type=int, help="seed for --noise (default: random)")
    args = parser.parse_args(argv)
    server = serve(args.host, args.port, args.noise, args.seed)
    sys.stderr.write(f"fake model at http://{args.host}:{server.server_port}/v1\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
