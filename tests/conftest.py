from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
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


class Sandbox:
    def __init__(self, state: dict) -> None:
        self.state = state

    def client(self, client_id: str) -> dict:
        return next(c for c in self.state["clients"] if c["id"] == client_id)

    def local(self, name: str) -> str:
        # Python cannot resolve *.localhost, so it talks to the port on 127.0.0.1 directly.
        return f"http://127.0.0.1:{self.state['ports'][name]}"

    def retell_records(self) -> dict:
        return httpx.get(self.local("control") + "/calls").json()

    def set_faults(self, faults: dict) -> None:
        response = httpx.post(self.local("control") + "/faults", json=faults)
        assert response.status_code == 200, response.text

    def clear_faults(self) -> None:
        assert httpx.delete(self.local("control") + "/faults").status_code == 200


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_file = tmp_path_factory.mktemp("sandbox") / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "--state", str(state_file)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    # A watchdog, not a sleep: if the sandbox never says it is ready, end it so the read below stops.
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    output = []
    for line in process.stdout:  # type: ignore[union-attr]
        output.append(line)
        if line.startswith("sandbox ready"):
            break
    watchdog.cancel()
    if not state_file.exists():
        process.kill()
        rest, _ = process.communicate()  # also closes the pipe
        pytest.fail("the sandbox did not start:\n" + "".join(output) + rest)
    try:
        yield Sandbox(json.loads(state_file.read_text()))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, "".join(output) + rest
        assert "sandbox stopped" in rest


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Callable[[dict], None]]:
    """Inject sandbox faults for one test; they are cleared afterwards whatever happens."""
    yield sandbox.set_faults
    sandbox.clear_faults()
