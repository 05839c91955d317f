from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.types import ASGIApp

from harness.server import Server, bind

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running(app: ASGIApp) -> Iterator[int]:
    """Serve ``app`` on a free 127.0.0.1 port in a thread; yield the port; stop it after."""
    server = Server(app, bind())
    started = threading.Event()

    async def main() -> None:
        task = asyncio.create_task(server.run_until_exit())
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        started.set()
        await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(15) and server.ready.is_set(), "server did not start"
    try:
        yield server.port
    finally:
        server.should_exit = True
        thread.join(15)
        server.sock.close()


@pytest.fixture
def site_factory(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the real site_src (and widget) under tmp_path, optionally with edits applied."""

    def make(edit: Callable[[Path], None] | None = None) -> Path:
        root = tmp_path / "site"
        shutil.copytree(REPO / "site_src", root / "site_src")
        shutil.copytree(REPO / "widget", root / "widget")
        if edit is not None:
            edit(root)
        return root

    return make
