"""A TCP proxy that delays every chunk it forwards, to simulate a network between servers.

On one machine the two databases talk over loopback with no latency, which flatters a design
that makes many round trips. Production's MicroMasters and MITx Online databases sit on
different hosts, so the benchmark can put the source behind this proxy: each chunk of bytes
waits `delay_ms` before being forwarded, in each direction, while keeping the order.
"""

import asyncio
import contextlib
import threading


class LatencyProxy:
    """Listen on a free loopback port; forward to (host, port) with a delay each way."""

    def __init__(self, host: str, port: int, delay_ms: float):
        self.target = (host, port)
        self.delay = delay_ms / 1000
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._server = None
        self._writers: set = set()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self):
        """Close the listener and every connection, so nothing is left half-open."""
        self._server.close()
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _serve(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer):
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader, writer):
        """Forward chunks in order, each delivered `delay` after it arrived."""
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while True:
                due, chunk = await queue.get()
                if chunk is None:
                    break
                wait = due - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                await queue.put((asyncio.get_running_loop().time() + self.delay, chunk))
        await queue.put((0, None))
        with contextlib.suppress(ConnectionError):
            await sender
            writer.close()
