"""One uvicorn server on sockets bound before it starts, with a readiness event.

``python -m builder serve`` and every origin of the sandbox run on it: ``await run_until_exit()``
serves, ``ready`` is set once it accepts connections, ``should_exit = True`` stops it. Signals are
left to the owner, which may run many servers in one loop and handles Ctrl-C once for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp


def bind(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket; port 0 picks a free one. Connections queue until the server runs.
    Raises ``OSError`` (a busy port, say)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A restart may reuse the port at once, while the last run's connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    def __init__(self, app: ASGIApp, sock: socket.socket | list[socket.socket],
                 on_shutdown: Callable[[], None] | None = None, **options: object) -> None:
        """``sock`` is one listener or several (one server, one app, for many ports: the app sees
        the port in ``scope["server"]``); ``options`` go to ``uvicorn.Config``; ``on_shutdown``
        runs as shutdown begins (to end streams that would otherwise hold their connections open)."""
        super().__init__(uvicorn.Config(app, log_level="warning", lifespan="on", **options))  # type: ignore[arg-type]
        self.sockets = sock if isinstance(sock, list) else [sock]
        self.sock = self.sockets[0]
        self.ready = asyncio.Event()
        self._on_shutdown = on_shutdown
        self._exit = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # uvicorn notices ``should_exit`` at its next tick, up to 0.1 s later, then sleeps another
    # 0.1 s and polls every 0.1 s for connections to close: 0.2-0.3 s per stop. Tests stop a
    # server or two each (a third of the proxy tests' time went there), so here setting it wakes
    # the main loop at once, from any thread, and shutdown polls finely.
    @property
    def should_exit(self) -> bool:
        return getattr(self, "_should_exit", False)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        loop = getattr(self, "_loop", None)
        if value and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._exit.set)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        # uvicorn's loop (a tick every 0.1 s keeps the Date header fresh), woken early by should_exit.
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, polling every 5 ms instead of sleeping 0.1 s steps."""
        if self._on_shutdown is not None:
            self._on_shutdown()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # an idle keep-alive connection closes now, a busy one after its response
        loop = asyncio.get_running_loop()
        grace = self.config.timeout_graceful_shutdown
        give_up = loop.time() + grace if grace is not None else None
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
            if give_up is not None and loop.time() > give_up:
                for task in self.server_state.tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def run_until_exit(self) -> None:
        await self.serve(sockets=self.sockets)
