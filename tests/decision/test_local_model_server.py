"""The openai provider against a real local HTTP server speaking chat completions (the fake model
of ``tradeloop.testing.fake_model``): no key, a real socket, the SDK's own client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.decision.test_llm_composer import make_context
from tests.decision.test_providers import openai_request
from tradeloop.testing.fake_model import serve
from tradeloop.trading.decision.prompt_based import LlmComposer


@pytest.fixture
def local_url() -> Iterator[str]:
    server = serve("127.0.0.1", 0, noise=0.0, seed=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_a_keyless_local_server_answers_with_a_valid_plan(
    local_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    request = openai_request(
        base_url=local_url, model_id="fake-local", price={"input": 0, "output": 0}
    )
    composer = LlmComposer(request)
    try:
        result = await composer.compose(make_context())
    finally:
        await composer.aclose()
    assert result.skipped_reason is None and result.raw is not None
    assert result.raw["attempts"] == 1 and result.raw["model"] == "fake-local"
    assert result.usage is not None and result.usage.cost_usd == 0.0
    assert result.usage.input_tokens > 0
