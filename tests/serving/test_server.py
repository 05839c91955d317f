import asyncio
import contextlib

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving import Server, ServerFailed, bind
from tests.conftest import run_async


def _app(events: list[str], fail: bool = False) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app):
        if fail:
            raise RuntimeError("no database")
        events.append("startup")
        yield
        events.append("shutdown")

    async def home(request):
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", home)], lifespan=lifespan)


def test_a_server_serves_once_started_and_runs_its_lifespan_around_it():
    events: list[str] = []

    async def main() -> tuple[int, str]:
        server = Server(_app(events), bind())
        await server.start()
        assert server.uvicorn.started and events == ["startup"]
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{server.port}/")
        await server.stop()
        return response.status_code, response.text

    assert run_async(main()) == (200, "hello")
    assert events == ["startup", "shutdown"]


def test_one_server_serves_one_app_on_several_ports():
    async def main() -> list[str]:
        server = Server(_app([]), [bind(), bind()])
        await server.start()
        async with httpx.AsyncClient() as client:
            texts = [(await client.get(f"http://127.0.0.1:{s.getsockname()[1]}/")).text for s in server.sockets]
        await server.stop()
        return texts

    assert run_async(main()) == ["hello", "hello"]


def test_a_failing_lifespan_is_a_server_failed_not_an_exit():
    async def main() -> None:
        with bind() as sock:  # uvicorn closes its sockets only when it stops, not when it fails to start
            await Server(_app([], fail=True), sock).start()

    with pytest.raises(ServerFailed, match="failed to start"):
        run_async(main())


def test_a_forced_stop_does_not_wait_for_a_request_in_progress():
    async def main() -> bool:
        arrived, hang, force = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def slow(request):
            arrived.set()
            await hang.wait()  # a request that never ends on its own
            return PlainTextResponse("late")

        server = Server(Starlette(routes=[Route("/", slow)]), bind(), lifespan="off")
        await server.start()
        async with httpx.AsyncClient() as client:
            request = asyncio.create_task(client.get(f"http://127.0.0.1:{server.port}/"))
            await arrived.wait()
            stopping = asyncio.create_task(server.stop(force))
            done, _ = await asyncio.wait({stopping}, timeout=0.5)
            graceful_waited = not done
            force.set()
            await asyncio.wait_for(stopping, 5)
            hang.set()
            with contextlib.suppress(httpx.HTTPError):
                await request
        return graceful_waited

    assert run_async(main()) is True
