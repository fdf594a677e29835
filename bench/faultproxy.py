"""A small TCP fault proxy on loopback, for the chaos harness (bench/chaos.py): the services
reach Redis and PostgreSQL through it, and the harness can slow or cut the way.

    proxy = FaultProxy(listen_port, target_port).start()
    proxy.slow(0.2)   # every chunk waits 200 ms each way
    proxy.cut()       # existing connections dropped, new ones closed at once
    proxy.heal()      # pass again
    proxy.stop()

It runs its own asyncio loop in a daemon thread, so the harness's own code stays plain.
Toxiproxy would do this, but it is not packaged here; this is all the harness needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

CHUNK = 65536


class FaultProxy:
    """``127.0.0.1:listen`` forwarded to ``127.0.0.1:target``, in mode pass, slow or cut."""

    def __init__(self, listen: int, target: int) -> None:
        self.listen, self.target = listen, target
        self.latency = 0.0
        self.cutting = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.refused = 0  # connections closed at once while cut

    # --- control, from any thread ---------------------------------------------------------

    def start(self) -> FaultProxy:
        self.thread.start()
        self._call(self._serve()).result(timeout=10)
        return self

    def slow(self, latency: float) -> None:
        """Every chunk, each way, waits ``latency`` seconds before it is passed on."""
        self.latency, self.cutting = latency, False

    def cut(self) -> None:
        """Drop every connection now, and close each new one at once, until ``heal``."""
        self.cutting = True
        self._call(self._drop_all()).result(timeout=10)

    def heal(self) -> None:
        self.latency, self.cutting = 0.0, False

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._close()).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def _call(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    # --- the loop's side -------------------------------------------------------------------

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.listen)

    async def _close(self) -> None:
        if self.server is not None:
            self.server.close()
        await self._drop_all()

    async def _drop_all(self) -> None:
        for writer in list(self.links):
            writer.transport.abort()  # a reset, as a broken network shows it
        self.links.clear()

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.cutting:
            self.refused += 1
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.links.update((client_w, server_w))
        try:
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        finally:
            for writer in (client_w, server_w):
                self.links.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while not self.cutting:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if self.latency:
                    await asyncio.sleep(self.latency)
                if self.cutting:
                    break
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
