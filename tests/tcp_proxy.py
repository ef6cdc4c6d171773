"""A TCP proxy the test controls, between one replica and PostgreSQL, to cut the replica from
its database the ways a network does:

- ``stall``: every byte stops, both ways, on every connection, and new connections hang; nothing
  is closed, so neither side notices (a partition: packets go nowhere, TCP keeps retrying).
  ``heal`` lets the held bytes through again, as TCP delivers them when the network returns.
- ``close``: every connection is closed cleanly (FIN to both sides) and new ones are closed as
  soon as accepted, until ``heal``.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.replica_fleet import free_port

CHUNK = 65536


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._open = asyncio.Event()
        self._open.set()
        self._closing = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._close_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def stall(self) -> None:
        self._open.clear()

    def close(self) -> None:
        self._closing = True
        self._close_all()

    def heal(self) -> None:
        self._closing = False
        self._open.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.close()
            return
        await self._open.wait()  # stalled: the client's connect hangs after the handshake
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream}
        for src, dst in ((reader, upstream), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await self._open.wait()
                data = await src.read(CHUNK)
                if not data:
                    break
                await self._open.wait()  # cut while reading: hold this chunk until healed
                dst.write(data)
                await dst.drain()
        dst.close()
        self._writers.discard(dst)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
