"""``/healthz`` and ``/readyz``: alive while serving; ready while the database answers (and, on
PostgreSQL, leases renew), 503 with the reason when it does not."""

from __future__ import annotations

import httpx2

from tests.store_backends import StoreTarget
from tradeloop.server.app import build_server
from tradeloop.server.transports import http_app
from tradeloop.store.postgres.db import PgDatabase


async def test_healthz_answers_and_readyz_says_ready_then_names_a_database_cut(
    store_target: StoreTarget,
) -> None:
    server = build_server(store_target.settings(), warm_up_join_s=0)
    app = http_app(server)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
            alive, ready = await c.get("/healthz"), await c.get("/readyz")
            assert server.app_state is not None
            service = await server.app_state.service()
            rows = service.store.rows
            if isinstance(rows, PgDatabase):
                rows.pool.terminate()  # the database connection is cut
            else:
                await rows.close()  # type: ignore[attr-defined]
            cut = await c.get("/readyz")
            still_alive = await c.get("/healthz")
    assert (alive.status_code, alive.text) == (200, "ok\n")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert cut.status_code == 503 and cut.text.startswith("not ready: database unreachable")
    assert still_alive.status_code == 200
