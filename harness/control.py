"""The sandbox's control origin: tests read what the fake Retell saw and inject faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.fake_retell import FakeRetell
from harness.faults import FaultError, Faults


def control_app(fake: FakeRetell, set_proxy_up: Callable[[bool], Awaitable[None]]) -> Starlette:
    async def apply(faults: Faults) -> None:
        fake.faults = faults
        await set_proxy_up(not faults.proxy_down)

    async def calls(request: Request) -> Response:
        return JSONResponse(fake.records())

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(asdict(fake.faults))
        if request.method == "DELETE":
            await apply(Faults())
            return JSONResponse(asdict(fake.faults))
        try:
            parsed = Faults.parse(await request.json())
        except ValueError as exc:  # FaultError, or a body that is not JSON
            message = str(exc) if isinstance(exc, FaultError) else "the body must be JSON"
            return JSONResponse({"error": message}, status_code=400)
        await apply(parsed)
        return JSONResponse(asdict(fake.faults))

    return Starlette(routes=[
        Route("/calls", calls, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
    ])
