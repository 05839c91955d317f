"""Run a program's servers until Ctrl-C, the same way in every command that serves.

The event loop runs on a thread of its own and the main thread keeps the signals: uvicorn
installs its own handlers only on the main thread, one server at a time, each replacing the
last, so with many servers in one loop Ctrl-C would stop only the newest. Here the first Ctrl-C
(or SIGTERM) sets ``Shutdown.requested`` and a second sets ``Shutdown.forced``; the program stops
its servers in response.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

from serving.server import Server

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_WAKE_S = 0.25


@dataclass(frozen=True)
class Shutdown:
    """What the person at the terminal asked for: to stop, then to stop now."""

    requested: asyncio.Event = field(default_factory=asyncio.Event)
    forced: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self, *servers: Server) -> None:
        """Until a stop is asked for, or one of ``servers`` stops on its own (a failed lifespan)."""
        waits = {asyncio.create_task(self.requested.wait()), *(asyncio.create_task(s.wait()) for s in servers)}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()


def run(main: Callable[[Shutdown], Coroutine[Any, Any, T]]) -> T:
    """``main(shutdown)`` on a new event loop in a thread, until it returns; its result, or its
    exception raised here. Must be called from the main thread."""
    loop = asyncio.new_event_loop()
    shutdown = Shutdown()
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: loop) as runner:
                outcome.append(runner.run(main(shutdown)))
        except BaseException as exc:  # handed to the main thread below
            failure.append(exc)

    signals: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)
        event = shutdown.requested if len(signals) == 1 else shutdown.forced
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to stop
            loop.call_soon_threadsafe(event.set)

    previous = {signum: signal.signal(signum, interrupt) for signum in _SIGNALS}
    try:
        thread = threading.Thread(target=serve, name="serving")
        thread.start()
        # CPython runs signal handlers on the main thread only, when it wakes; the kernel may hand
        # a Ctrl-C to any thread, and one given to the loop's thread (or a worker's) does not
        # interrupt a join without a timeout: `builder serve` then never stopped. Waking every
        # quarter second runs such a handler; one given to this thread interrupts the wait at once.
        while thread.is_alive():
            thread.join(_WAKE_S)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failure:
        raise failure[0]
    return outcome[0]
