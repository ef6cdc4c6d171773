"""The real ``tradeloop serve --http`` for crash tests, started fast by a fork server.

``python -m tests.live.serve_worker`` imports the server once, then reads one JSON command per
line on stdin: ``{"env": {...}, "port": N}`` forks a child that runs ``tradeloop serve --http
--port N`` (``tradeloop.cli.main``, the console script's own entry point) with that environment,
and reports ``{"event": "forked", "pid": ...}`` then, when the child ends,
``{"event": "exit", "pid": ..., "signal": ..., "code": ...}`` as JSON lines on stdout. Forking
after the imports makes a restart cost a fraction of a second; the child is still its own
process, killed by SIGKILL from outside or by a named crash point from inside. Nothing is faked
but the venue, which the child reaches through ``TRADELOOP_EXCHANGE_URL_BINANCE`` (loopback).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import ccxt.async_support  # noqa: F401  imported once, before forking
import uvicorn  # noqa: F401

import tradeloop.server.app  # noqa: F401
import tradeloop.services.strategies  # noqa: F401
from tradeloop import cli
from tradeloop.trading.features.warmup import warm_up


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _child(env: dict[str, str], port: int, log: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)  # the server logs to stderr
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # stdout belongs to the fork server's protocol
    try:
        code = cli.main(["serve", "--http", "--port", str(port)])
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        code = 70
    os._exit(code)


def _fork_server() -> None:
    for line in sys.stdin:
        command = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(command["env"], command["port"], command["log"])
        emit("forked", pid=pid)
        _, status = os.waitpid(pid, 0)
        killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        emit("exit", pid=pid, signal=killed_by, code=code, sigkill=killed_by == signal.SIGKILL)


if __name__ == "__main__":
    warm_up()  # pandas-ta's numba compilation, paid once: every child starts warm
    _fork_server()
