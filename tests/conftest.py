from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pickle
import re
import shutil
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.types import ASGIApp

from harness.launch import SandboxFailed, launched
from harness.state import SandboxClient, SandboxState
from serving import Server, bind

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


# The modules with the longest single items (a registry check of five clients, a conversation of
# ten turns in real time, the benchmarks' smoke runs), run first: the workers then even out on
# short tests at the end, instead of one worker still on a long item while the other has nothing
# left.
_LONG_FIRST = ("tests/harness/test_check.py", "tests/e2e/test_conversation.py", "tests/bench/test_smoke.py")


def _share_the_default_tls_context() -> None:
    """Every httpx client a test makes builds its own default TLS context, loading certifi's
    roots: 45 ms of CPU each, hundreds of times in a run (the proxy keeps one per process itself:
    ``proxy.upstream.default_tls``). The tests' clients share one per process instead; a client
    given its own ``verify`` (the sandbox's CA) is unchanged. Should httpx move the function,
    clients just build their own."""
    from httpx._transports import default

    build = getattr(default, "create_ssl_context", None)
    if build is None:
        return
    shared: list[ssl.SSLContext] = []

    def create(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert is not None:
            return build(verify=verify, cert=cert, trust_env=trust_env)
        if not shared:
            shared.append(build(verify=True, trust_env=trust_env))
        return shared[0]

    default.create_ssl_context = create


_share_the_default_tls_context()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def first(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return _LONG_FIRST.index(path) if path in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=first)  # stable: every module keeps its order, and stays in one piece


def pytest_configure(config: pytest.Config) -> None:
    # Keep a screenshot of every failed browser test under test-results/, unless the command line
    # asks otherwise. Its Playwright trace comes from tests/e2e/conftest.py: the plugin's own
    # traces record a screenshot per frame, which cost a quarter of the suite's time in real calls.
    if config.pluginmanager.hasplugin("playwright"):
        if config.option.screenshot == "off":
            config.option.screenshot = "only-on-failure"


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a fresh thread: Playwright's sync API keeps an event loop running on
    the main thread for the rest of the session, where ``asyncio.run`` would refuse to start."""
    result: list[T] = []
    failure: list[BaseException] = []

    def main() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def once_per_run(factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], T]) -> T:
    """``compute(folder)``'s picklable result, computed once for the whole pytest run: the xdist
    workers that need it take turns on a lock, and only the first computes (in ``folder``, shared
    by every worker); the others read its result. A module-scoped fixture would run once per
    worker that steals one of its tests, so an expensive one (a registry check) ran two or three
    times at once, each slower for the others."""
    root = factory.getbasetemp()
    shared = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / f"once-{name}"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "result.pickle"
        if not done.exists():
            result = compute(shared / "work")
            done.write_bytes(pickle.dumps(result))
            return result
        return pickle.loads(done.read_bytes())


@contextlib.contextmanager
def running(app: ASGIApp, **options: object) -> Iterator[int]:
    """Serve ``app`` on a free 127.0.0.1 port in a thread; yield the port; stop it after.
    ``options`` go to uvicorn's Config."""
    with running_on_loop(app, **options) as (port, _):
        yield port


@contextlib.contextmanager
def running_on_loop(app: ASGIApp, **options: object) -> Iterator[tuple[int, asyncio.AbstractEventLoop]]:
    """``running``, yielding the server's event loop too, for work that must run on it."""
    sock = bind()
    server = Server(app, sock, **options)
    started = threading.Event()
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        try:
            await server.start()
        finally:
            started.set()
        await server.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        assert started.wait(15) and server.uvicorn.started, "server did not start"
        yield server.port, loops[0]
    finally:
        server.uvicorn.should_exit = True  # uvicorn reads it at its next tick, from any thread
        thread.join(15)
        sock.close()


class Swappable:
    """An ASGI app that passes every request to the app a test puts in ``app``: one server serves
    test after test. Stopping a uvicorn server costs 0.2 s (its 0.1 s tick, then a 0.1 s wait for
    connections); the proxy tests stopped a fake upstream after every test. Serve it with
    ``lifespan="off"``: the apps put in have no startup work."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "a request arrived between tests"
        await self.app(scope, receive, send)

    @contextlib.contextmanager
    def serving(self, app: ASGIApp) -> Iterator[None]:
        self.app = app
        try:
            yield
        finally:
            self.app = None


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
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        # Python cannot resolve *.localhost or *.test, so it talks to each port on 127.0.0.1,
        # trusting the sandbox's own CA over HTTPS (its certificate names 127.0.0.1 too).
        verify = ssl.create_default_context(cafile=state.ca_file) if state.ca_file else True
        self.http = httpx.Client(verify=verify, timeout=10)

    def client(self, client_id: str) -> SandboxClient:
        return self.state.client(client_id)

    def local(self, name: str) -> str:
        return self.state.local(name)

    def retell_records(self) -> dict:
        return self.http.get(self.local("control") + "/calls").json()

    def ended_call(self, call_id: str) -> dict:
        """The fake Retell's record of a call once the media server has seen it end: a page sees
        its own hang-up at once, the server a moment later."""
        response = self.http.get(self.local("control") + f"/calls/{call_id}", params={"wait": "ended"}, timeout=15)
        assert response.status_code == 200, response.text
        return response.json()

    def reported_call(self, call_id: str) -> dict:
        """The call's record once its end's webhooks have been answered by the proxy (or given up)."""
        response = self.http.get(self.local("control") + f"/calls/{call_id}", params={"wait": "reported"}, timeout=15)
        assert response.status_code == 200, response.text
        return response.json()

    def calls_per_client(self) -> dict[str, tuple[int, int, float, float]]:
        """The proxy's usage page, as numbers: client -> (created, connected, minutes, cost in USD)."""
        page = self.http.get(self.local("proxy") + "/usage", params={"since": "24h"},
                             headers={"Authorization": f"Bearer {self.state.admin_token}"})
        assert page.status_code == 200, page.text
        rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td><td>([\d.]+)</td><td>([\d.]+)</td></tr>", page.text)
        return {c: (int(a), int(b), float(m), float(usd)) for c, a, b, m, usd in rows}

    def ended_calls(self, before: dict) -> list[dict]:
        """Every call made since ``before`` (a ``retell_records()``), each once it has ended."""
        known = {c["call_id"] for c in before["calls"]}
        return [self.ended_call(c["call_id"]) for c in self.retell_records()["calls"] if c["call_id"] not in known]

    def set_faults(self, faults: dict) -> None:
        response = self.http.post(self.local("control") + "/faults", json=faults)
        assert response.status_code == 200, response.text

    def clear_faults(self) -> None:
        assert self.http.delete(self.local("control") + "/faults").status_code == 200

    def set_script(self, agent_id: str, script: dict) -> None:
        """Gives the agent this script (the --agents file's table for one agent, as JSON)."""
        response = self.http.put(self.local("control") + f"/agents/{agent_id}", json=script)
        assert response.status_code == 200, response.text

    def clear_script(self, agent_id: str) -> None:
        assert self.http.delete(self.local("control") + f"/agents/{agent_id}").status_code == 200


@contextlib.contextmanager
def start_sandbox(folder: Path, *args: str) -> Iterator[Sandbox]:
    """Run the real ``python -m harness`` CLI until it says it is ready; Ctrl-C it afterwards."""
    try:
        with launched(folder, *args, cwd=REPO) as state:
            sandbox = Sandbox(state)
            try:
                yield sandbox
            finally:
                sandbox.http.close()
    except SandboxFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running_sandbox:
        yield running_sandbox


@pytest.fixture(scope="session")
def sandbox_https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # *.test is a real-looking domain: unlike *.localhost, plain http on it is not a secure context.
    with start_sandbox(tmp_path_factory.mktemp("sandbox-https"), "--https", "--domain", "test") as running_sandbox:
        yield running_sandbox


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Callable[[dict], None]]:
    """Inject sandbox faults for one test; they are cleared afterwards whatever happens."""
    yield sandbox.set_faults
    sandbox.clear_faults()


@pytest.fixture
def agent_script(sandbox: Sandbox) -> Iterator[Callable[[str, dict], None]]:
    """``agent_script(agent_id, script)`` for one test; every agent is back on its own afterwards."""
    scripted: list[str] = []

    def give(agent_id: str, script: dict) -> None:
        sandbox.set_script(agent_id, script)
        scripted.append(agent_id)

    yield give
    for agent_id in scripted:
        sandbox.clear_script(agent_id)
