"""The sandbox's control origin: tests read what the fake Retell saw and inject faults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.fake_retell import FakeRetell
from harness.faults import FaultError, Faults
from harness.media_server import MediaServer
from harness.script import ScriptError, parse


class Restartable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Control:
    """The control origin's app over the fakes: ``proxy`` and ``media_origin`` are restarted for
    faults that need it, and ``relist`` rewrites the proxy's registry copy."""

    def __init__(self, fake: FakeRetell, proxy: Restartable, media: MediaServer, media_origin: Restartable | None = None,
                 relist: Callable[[tuple[str, ...], dict[str, dict[str, object]]], None] | None = None) -> None:
        self._fake, self._proxy, self._media, self._media_origin, self._relist = fake, proxy, media, media_origin, relist

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/agents/{agent_id}", self._agent, methods=["GET", "PUT", "DELETE"]),
            Route("/calls", self._calls, methods=["GET"]),
            Route("/calls/{call_id}", self._call, methods=["GET"]),
            Route("/calls/{call_id}/hangup", self._hang_up, methods=["POST"]),
            Route("/faults", self._faults, methods=["GET", "POST", "DELETE"]),
        ])

    async def _apply(self, faults: Faults) -> None:
        previous, self._fake.faults = self._fake.faults, faults
        registry_changed = (faults.unlisted, faults.overrides()) != (previous.unlisted, previous.overrides())
        if self._relist is not None and registry_changed:
            self._relist(faults.unlisted, faults.overrides())  # the proxy re-reads its registry copy at the next request
        if faults.proxy_down or faults.rate_limit != previous.rate_limit:
            # The proxy reads its limit when it starts; a restart also empties its limiter.
            await self._proxy.stop()
        if not faults.proxy_down:
            await self._proxy.start()
        if self._media_origin is not None:
            # Retell's media servers out of reach: the browser's connections are refused.
            await (self._media_origin.stop() if faults.media_down else self._media_origin.start())

    async def _calls(self, request: Request) -> Response:
        # ?agent= (repeatable) keeps those agents' requests and calls; ?page_host= the bot
        # verifications of tokens solved on that host.
        agents = request.query_params.getlist("agent")
        return JSONResponse(self._fake.records(frozenset(agents) if agents else None, request.query_params.get("page_host")))

    async def _call(self, request: Request) -> Response:
        # ?wait=ended answers once the call has ended (the browser may see its end first),
        # ?wait=reported once its end's webhooks have been delivered to the proxy (answered or
        # given up), or 408 after ?timeout= seconds (default 10).
        fake = self._fake
        record = fake.calls.get(request.path_params["call_id"])
        if record is None:
            return JSONResponse({"error": f"no call {request.path_params['call_id']!r}"}, status_code=404)
        wait = request.query_params.get("wait")
        if wait not in (None, "ended", "reported"):
            return JSONResponse({"error": "wait is 'ended' or 'reported'"}, status_code=400)
        if wait is not None:
            try:
                timeout = min(float(request.query_params.get("timeout", "10")), 60.0)
                await asyncio.wait_for(record.ended.wait(), timeout)
                if wait == "reported" and fake.webhooks is not None:
                    await asyncio.wait_for(fake.webhooks.reported(record.call_id).wait(), timeout)
            except ValueError:
                return JSONResponse({"error": "timeout must be seconds"}, status_code=400)
            except TimeoutError:
                return JSONResponse({"error": f"the call has not {'ended' if not record.ended.is_set() else 'been reported'}",
                                     "call": record.record()}, status_code=408)
        delivered = fake.webhooks.deliveries if fake.webhooks is not None else []
        return JSONResponse(record.record() | {"webhooks": [d for d in delivered if d["call_id"] == record.call_id]})

    async def _hang_up(self, request: Request) -> Response:
        # The agent ends the call (a signalling leave), as Retell's agent does when it is done.
        call_id = request.path_params["call_id"]
        if await self._media.hang_up(call_id):
            return JSONResponse({"call_id": call_id, "hung_up": True})
        return JSONResponse({"error": f"no call {call_id!r} is in progress"}, status_code=404)

    async def _faults(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(asdict(self._fake.faults))
        if request.method == "DELETE":
            await self._apply(Faults())
            return JSONResponse(asdict(self._fake.faults))
        try:
            parsed = Faults.parse(await request.json())
        except ValueError as exc:  # FaultError, or a body that is not JSON
            message = str(exc) if isinstance(exc, FaultError) else "the body must be JSON"
            return JSONResponse({"error": message}, status_code=400)
        await self._apply(parsed)
        return JSONResponse(asdict(self._fake.faults))

    async def _agent(self, request: Request) -> Response:
        # GET: the script the agent runs; PUT: replace it (the file's table for one agent, as
        # JSON), spoken before the answer; DELETE: back to the --agents file's, or the default.
        agent_id = request.path_params["agent_id"]
        if agent_id not in self._fake.agents:
            return JSONResponse({"error": f"agent {agent_id!r} is not an agent of any client in the registry"}, status_code=404)
        scripts = self._media.scripts
        if request.method == "PUT":
            try:
                script = parse({"agent": {agent_id: await request.json()}})[agent_id]
            except ScriptError as exc:
                return JSONResponse({"error": "; ".join(exc.errors)}, status_code=400)
            except ValueError:
                return JSONResponse({"error": "the body must be JSON: one agent's script"}, status_code=400)
            await asyncio.to_thread(self._media.voices.prepare, script.lines())
            scripts.overrides[agent_id] = script
        elif request.method == "DELETE":
            scripts.overrides.pop(agent_id, None)
        return JSONResponse(scripts.for_agent(agent_id).table())
