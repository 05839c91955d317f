from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.types import ASGIApp

from harness.fake_retell import FakeRetell
from proxy.app import create_app
from proxy.settings import ProxySettings, Secret
from tests.conftest import Swappable, running, running_on_loop
from tests.releases import manifest_json

T = TypeVar("T")
API_KEY = "key_test_4f1c9a_do_not_leak"
REGISTRY = '''
[[client]]
id = "shop"
name = "Shop"
origins = ["https://shop.example", "https://*.shop.example", "http://localhost:3000"]
agents = ["agent_shop"]
theme = "purple"
position = "bottom-right"
widget_version = "1.0.0"
brand_color = "#0f766e"

[[client]]
id = "bolt"
name = "Bolt"
origins = ["https://bolt.example"]
agents = ["agent_bolt"]
theme = "blue"
position = "bottom-left"
widget_version = "1.0.0"
brand_color = "#b91c1c"
'''


def serving(app: ASGIApp) -> contextlib.AbstractContextManager[int]:
    """Like ``running``, but without uvicorn's proxy headers, as ``python -m proxy serve`` runs:
    the proxy itself decides whom to believe about X-Forwarded-For."""
    return running(app, proxy_headers=False)


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(REGISTRY)
    return path


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[Swappable, str]]:
    """One server for every test's fake upstream (Retell's API, the bot check providers)."""
    app = Swappable()
    with running(app, lifespan="off") as port:
        yield app, f"http://127.0.0.1:{port}"


@pytest.fixture
def serve_upstream(upstream: tuple[Swappable, str]) -> Callable[[ASGIApp], contextlib.AbstractContextManager[str]]:
    """``with serve_upstream(app) as url``: ``app`` is this test's upstream, on the shared server."""
    server, url = upstream

    @contextlib.contextmanager
    def serve(app: ASGIApp) -> Iterator[str]:
        with server.serving(app):
            yield url

    return serve


@pytest.fixture
def fake_retell(upstream: tuple[Swappable, str]) -> Iterator[tuple[FakeRetell, str]]:
    fake = FakeRetell.for_agents(API_KEY, ["agent_shop", "agent_bolt"])
    server, url = upstream
    with server.serving(fake.app()):
        yield fake, url


# A build that published 1.0.0 and 1.2.0, the first to send a bot token.
MANIFEST = manifest_json("1.0.0", "1.2.0", bot_token=("1.2.0",))


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(MANIFEST))
    return path


def settings_for(base_url: str, registry_file: Path, tmp_path: Path, **overrides: Any) -> ProxySettings:
    """Settings for a test proxy: usage in tmp_path, files re-checked on every request."""
    fields: dict[str, Any] = {
        "usage_database": str(tmp_path / "usage.sqlite3"),
        "manifest_path": tmp_path / "manifest.json",
        "reload_interval": 0.0,
    } | overrides
    return ProxySettings(Secret(fields.pop("api_key", API_KEY)), base_url, registry_file, fields.pop("timeout", 5.0), **fields)


class _ProxyHost:
    """One uvicorn server (as ``serving`` runs it) that serves one test's proxy app after another's.

    Stopping a uvicorn server costs 0.2 s (its 0.1 s tick, then its 0.1 s pause for connections),
    and the proxy tests started a hundred. Each test still gets a new app, made from its own
    settings, with its lifespan run on the server's loop as uvicorn runs it: opened when it is
    put in; when it is taken out, once the requests in progress have finished, closed (which
    flushes its usage rows). Only the listening socket outlives the test."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.app: ASGIApp | None = None
        self.busy = 0
        self.port, self.loop = stack.enter_context(running_on_loop(self, proxy_headers=False, lifespan="off"))
        self.idle = self._on_loop(self._event())

    @staticmethod
    async def _event() -> asyncio.Event:
        event = asyncio.Event()
        event.set()
        return event

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(15)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "a request arrived between tests"
        self.busy += 1
        self.idle.clear()
        try:
            await self.app(scope, receive, send)
        finally:
            self.busy -= 1
            if not self.busy:
                self.idle.set()

    @contextlib.contextmanager
    def serving(self, app: ASGIApp) -> Iterator[int]:
        lifespan = self._on_loop(_Lifespan.start(app))
        self.app = app
        try:
            yield self.port
        finally:
            try:
                self._on_loop(asyncio.wait_for(self.idle.wait(), 10))
            finally:
                self.app = None
                self._on_loop(lifespan.stop())


class _Lifespan:
    """An ASGI app's lifespan, driven as uvicorn drives it (``lifespan="on"``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self.task = asyncio.create_task(app(scope, self.inbox.get, self.outbox.put))

    @classmethod
    async def start(cls, app: ASGIApp) -> _Lifespan:
        lifespan = cls(app)
        await lifespan._step("startup")
        return lifespan

    async def stop(self) -> None:
        await self._step("shutdown")
        await self.task

    async def _step(self, step: str) -> None:
        await self.inbox.put({"type": f"lifespan.{step}"})
        answer = asyncio.ensure_future(self.outbox.get())
        await asyncio.wait({answer, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            await self.task  # raises what the app raised
            raise AssertionError(f"the app's lifespan ended without answering its {step}")
        message = answer.result()
        assert message["type"] == f"lifespan.{step}.complete", f"the proxy did not {step}: {message}"


class _ProxyHosts:
    """This process's proxy hosts: a test takes an idle one (or starts one more) per proxy."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.idle: list[_ProxyHost] = []

    @contextlib.contextmanager
    def serving(self, app: ASGIApp) -> Iterator[int]:
        host = self.idle.pop() if self.idle else _ProxyHost(self.stack)
        try:
            with host.serving(app) as port:
                yield port
        finally:
            self.idle.append(host)


@pytest.fixture(scope="session")
def proxy_hosts() -> Iterator[_ProxyHosts]:
    with contextlib.ExitStack() as stack:
        yield _ProxyHosts(stack)


@pytest.fixture
def proxy_factory(registry_file: Path, manifest_file: Path, tmp_path: Path,
                  proxy_hosts: _ProxyHosts) -> Iterator[Callable[..., httpx.Client]]:
    """Start a proxy against ``base_url`` (on a host of ``proxy_hosts``) and return a client for it."""
    with contextlib.ExitStack() as stack:
        def make(base_url: str, **overrides: Any) -> httpx.Client:
            settings = settings_for(base_url, registry_file, tmp_path, **overrides)
            port = stack.enter_context(proxy_hosts.serving(create_app(settings)))
            return stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}"))

        yield make


@pytest.fixture
def proxy(proxy_factory, fake_retell) -> httpx.Client:
    return proxy_factory(fake_retell[1])


@pytest.fixture(scope="module")
def shared_proxy(upstream: tuple[Swappable, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One proxy for a module's tests of what the default proxy answers, against each test's
    ``fake_retell`` (take it too, even to see no call reach Retell: without it the upstream
    answers 500): stopping a proxy costs uvicorn's 0.2 s, and the parametrized refusals were a
    proxy each. Its budgets are generous, so tests sharing it never spend each other's; a test
    about budgets, usage rows, logs, metrics, settings or Retell's failures (the proxy remembers a
    busy Retell) starts its own."""
    folder = tmp_path_factory.mktemp("shared-proxy")
    (folder / "clients.toml").write_text(REGISTRY)
    (folder / "manifest.json").write_text(json.dumps(MANIFEST))
    settings = settings_for(upstream[1], folder / "clients.toml", folder,
                            rate_limit_ip="100000/minute", rate_limit_agent="100000/minute")
    with serving(create_app(settings)) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client


@contextlib.contextmanager
def killed_proxy(tmp_path: Path, registry_file: Path, retell_url: str, nofile: int | None = None,
                 **environ: str) -> Iterator[int]:
    """``python -m proxy serve`` in its own process with a SQLite usage database in ``tmp_path``;
    yields its port once it serves, and kills it with SIGKILL on the way out (no shutdown, no
    flush: what the test finds on disk afterwards is what a crash leaves). ``nofile`` caps its
    open files (RLIMIT_NOFILE), as a small server's would be."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    from serving import bind
    from tests.conftest import REPO

    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "RETELL_API_KEY": API_KEY, "RETELL_BASE_URL": retell_url, "PROXY_REGISTRY": str(registry_file),
           "PROXY_USAGE_DB": str(tmp_path / "usage.sqlite3"), "PYTHONPATH": str(REPO), **environ}
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, preexec_fn=limit if nofile else None)
    reader = None
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving on http" in line:
                break
        else:
            pytest.fail("the proxy did not start")
        # Keep reading its log, so a full pipe never stalls the proxy mid-test.
        reader = threading.Thread(target=proc.stderr.read, daemon=True)
        reader.start()
        yield port
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if reader is not None:
            reader.join(10)  # the pipe ends with the process
        if proc.stderr is not None:
            proc.stderr.close()
