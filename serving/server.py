"""One uvicorn server on sockets bound before it starts, with an explicit lifecycle.

``await server.start()`` returns once it serves (or raises ``ServerFailed``), ``await
server.stop()`` once it has stopped. Only uvicorn's public API is used: ``Config``,
``Server.serve(sockets=...)``, ``started``, ``should_exit`` and ``force_exit``. Signals are the
caller's (``serving.run``): uvicorn listens to them only on the main thread, and a process that
runs many servers in one loop must stop them all on one Ctrl-C.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.types import ASGIApp

# What every server of ours runs with unless told otherwise: the app's lifespan (it opens and
# closes resources), and uvicorn's warnings only (its access log is the proxy's own business).
_DEFAULTS: dict[str, Any] = {"log_level": "warning", "lifespan": "on"}


class ServerFailed(RuntimeError):
    """The server stopped while starting: its log says why."""


def config(app: ASGIApp | str, **options: Any) -> uvicorn.Config:
    """uvicorn's ``Config`` with the defaults above; ``options`` are ``Config``'s."""
    return uvicorn.Config(app, **(_DEFAULTS | options))  # type: ignore[arg-type]


class Server:
    def __init__(self, app: ASGIApp, sockets: socket.socket | Sequence[socket.socket], **options: Any) -> None:
        """``sockets``: one listener or several (one app for many ports: it sees the port in
        ``scope["server"]``); ``options`` go to ``uvicorn.Config``. uvicorn closes the sockets as it
        stops: to serve on those ports again, bind them again for a new ``Server``."""
        self.sockets = [sockets] if isinstance(sockets, socket.socket) else list(sockets)
        self._ready = asyncio.Event()
        # uvicorn calls callback_notify at its first tick, as soon as it serves (and every
        # timeout_notify seconds after): the one public signal that startup is over.
        self.uvicorn = uvicorn.Server(config(app, callback_notify=self._notify, **options))
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.sockets[0].getsockname()[1]

    async def _notify(self) -> None:
        self._ready.set()

    async def start(self) -> None:
        """Serve in a task of the running loop; return once it serves."""
        if self._task is not None:
            raise RuntimeError("a Server starts once; make another to serve again")
        self._task = asyncio.create_task(self._serve())
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if not self._ready.is_set() and not self.uvicorn.should_exit:
            await self._task  # raises ServerFailed
            raise ServerFailed(f"the server on port {self.port} stopped while starting; see the log above")

    async def _serve(self) -> None:
        try:
            await self.uvicorn.serve(sockets=self.sockets)
        except SystemExit:
            # uvicorn exits the process when the app's lifespan startup fails; here that is one
            # server failing to start, which its owner reports.
            raise ServerFailed(f"the app on port {self.port} failed to start; see the log above") from None

    async def stop(self, force: asyncio.Event | None = None) -> None:
        """Stop accepting, let the requests in progress finish, run the lifespan's shutdown.
        ``force``, once set, stops waiting for connections (a second Ctrl-C)."""
        self.uvicorn.should_exit = True
        if self._task is None:
            return
        if force is not None:
            forced = asyncio.create_task(force.wait())
            await asyncio.wait({self._task, forced}, return_when=asyncio.FIRST_COMPLETED)
            forced.cancel()
            self.uvicorn.force_exit = force.is_set()
        await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self) -> None:
        """Until the server stops, whoever stopped it."""
        if self._task is not None:
            await asyncio.wait({self._task})
