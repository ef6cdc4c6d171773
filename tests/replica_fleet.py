"""Replicas as an operator runs them: ``tradeloop serve --http`` subprocesses on one PostgreSQL
database, each started, SIGKILLed and restarted by the test, ready when ``/readyz`` says so.

Every life of a replica is recorded (its pid, when it started, when it was killed) so that the
lease owners the database names (``host:pid:random``) can be traced back to a process and a kill.
Used by the failover and partition tests and by ``bench/failover.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0
"""A replica's start on a loaded 2-core machine (imports, migrations check, feature warm-up)."""


@dataclass
class Life:
    """One process of a replica."""

    pid: int
    started: float
    """Wall clock (``time.time()``), the database's clock on this machine."""
    killed: float | None = None


@dataclass
class Replica:
    index: int
    db_url: str
    replay_dir: Path
    log: Path
    env: dict[str, str]
    log_level: str = "WARNING"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    lives: list[Life] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start a new process (on a new free port); ``wait_ready`` waits for it."""
        assert not self.alive, f"replica {self.index} is running"
        self.port = free_port()
        args = ["serve", "--http", "--port", str(self.port), "--replay", str(self.replay_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tradeloop", "--log-level", self.log_level, *args],
                env={**self.env, "TRADELOOP_DB": self.db_url},
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.log.parent,
            )
        self.lives.append(Life(self.process.pid, time.time()))

    def kill(self) -> float:
        """SIGKILL the running process; when (wall clock) it was sent."""
        assert self.process is not None and self.alive
        at = time.time()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.lives[-1].killed = at
        return at

    def stop(self) -> None:
        """SIGTERM (a clean shutdown releases the leases), SIGKILL past a bound."""
        if self.process is None or not self.alive:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Poll ``/readyz`` until 200 (bounded); the seconds it took."""
        start = time.monotonic()
        async with httpx2.AsyncClient(timeout=2.0) as http:
            while True:
                assert self.alive, f"replica {self.index} exited: {self.tail()}"
                try:
                    if (await http.get(self.base_url + "/readyz")).status_code == 200:
                        return time.monotonic() - start
                except httpx2.TransportError:
                    pass
                if time.monotonic() - start > timeout_s:
                    raise AssertionError(f"replica {self.index} not ready in {timeout_s} s")
                await asyncio.sleep(0.1)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Fleet:
    """``count`` replicas of one database, lease time ``ttl_s``; logs in ``folder``."""

    def __init__(
        self,
        count: int,
        db_url: str,
        replay_dir: Path,
        folder: Path,
        *,
        ttl_s: float,
        log_level: str = "WARNING",
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
        env |= {"PYTHONPATH": str(REPO), "TRADELOOP_LEASE_TTL_S": str(ttl_s)}
        self.ttl_s = ttl_s
        self.replicas = [
            Replica(i, db_url, replay_dir, folder / f"replica{i}.log", env, log_level)
            for i in range(count)
        ]

    async def start(self) -> None:
        for replica in self.replicas:
            replica.start()
        await asyncio.gather(*(r.wait_ready() for r in self.replicas))

    def stop(self) -> None:
        """SIGTERM every replica at once, then wait for each."""
        for replica in self.replicas:
            if replica.alive:
                assert replica.process is not None
                replica.process.terminate()
        for replica in self.replicas:
            replica.stop()

    def life_of(self, owner: str) -> tuple[Replica, Life]:
        """The replica process a lease owner (``host:pid:random``) names."""
        pid = int(owner.split(":")[-2])
        for replica in self.replicas:
            for life in replica.lives:
                if life.pid == pid:
                    return replica, life
        raise KeyError(f"no replica process has pid {pid} ({owner})")

    def logs(self) -> str:
        return "\n".join(r.log.read_text(errors="replace") for r in self.replicas if r.log.exists())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
