"""A paper strategy decided by Claude, end to end: a local HTTP server speaks the Messages API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.decision.fake_anthropic import message, tool_use
from tests.services.helpers import replay_request
from tradeloop.services.models import ReplaySpec
from tradeloop.services.strategies import StrategyService
from tradeloop.settings import Settings
from tradeloop.trading.models import CycleStatus, LLMModelConfig

SENTINEL = "sk-ant-SENTINEL-0123456789"


class MessagesAPI(BaseHTTPRequestHandler):
    """Opens a BTC long on odd requests and closes it on even ones."""

    bodies: list[dict] = []
    keys: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        MessagesAPI.bodies.append(body)
        bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
        MessagesAPI.keys.append(self.headers.get("x-api-key") or bearer)
        n = len(MessagesAPI.bodies)
        action = "open_long" if n % 2 else "close_long"
        plan = {
            "rationale": f"cycle {n}: {action}",
            "items": [
                {
                    "symbol": "BTC-USDT",
                    "action": action,
                    "quantity": 0.01,
                    "leverage": 1,
                    "confidence": 0.6,
                    "rationale": "test plan",
                }
            ],
        }
        reply = message([tool_use(plan)], cache_read_input_tokens=900 if n > 1 else 0)
        payload = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def messages_api() -> Iterator[str]:
    MessagesAPI.bodies, MessagesAPI.keys = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), MessagesAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_an_llm_strategy_runs_20_replayed_cycles_and_stores_each_prompt_and_reply(
    tmp_path: Path, shared_data: Path, messages_api: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINEL)
    caplog.set_level("DEBUG")
    request = replay_request(composer="llm").model_copy(
        update={"llm_model_config": LLMModelConfig(base_url=messages_api, max_retries=0)}
    )
    settings = Settings(db_path=tmp_path / "llm.db", shutdown_grace_s=5)
    async with StrategyService.open(settings) as svc:
        sid = (await svc.create(request, replay=ReplaySpec(data_dir=str(shared_data)))).strategy_id
        results = [await svc.run_cycle_now(sid) for _ in range(20)]
        stored = [await svc.get_cycle(r.compose_id) for r in results]
        digest = await svc.get_digest(sid)

    assert len(MessagesAPI.bodies) == 20
    assert [r.status for r in results] == [CycleStatus.OK] * 20
    assert sum(len(r.tx_results) for r in results) == 20
    for cycle, body in zip(stored, MessagesAPI.bodies, strict=True):
        content = body["messages"][0]["content"]
        sent = content if isinstance(content, str) else content[0]["text"]
        assert cycle.raw["prompt"]["user"] == sent
        assert cycle.raw["reply"]["rationale"].startswith("cycle ")
        assert cycle.usage is not None and cycle.usage.cost_usd > 0
    assert digest.llm_cost_usd == pytest.approx(sum(c.usage.cost_usd for c in stored))
    assert set(MessagesAPI.keys) == {SENTINEL}  # the key goes to the API and nowhere else
    assert SENTINEL.encode() not in (tmp_path / "llm.db").read_bytes()
    wal = tmp_path / "llm.db-wal"
    assert not wal.exists() or SENTINEL.encode() not in wal.read_bytes()
    assert SENTINEL not in caplog.text
    cycle_lines = [
        r.getMessage() for r in caplog.records if r.levelname == "INFO" and "compose_id=" in r.msg
    ]
    assert len(cycle_lines) == 20  # one INFO line per cycle, with what the model cost
    assert all("llm_cost_usd=" in line for line in cycle_lines)
