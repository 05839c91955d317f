"""A stand-in for Retell's media servers, on the host name Retell's SDK dials.

``retell-client-js-sdk`` 2.0.8 connects to ``wss://retell-ai-4ihahnq7.livekit.cloud`` whatever
the page says; Chromium reaches this server under that name through ``--host-resolver-rules``
and trusts its certificate through ``--ignore-certificate-errors-spki-list``. It serves what
livekit-client 2.23 asks of a LiveKit Cloud host:

- ``GET /settings/regions`` (cross-origin, bearer token): no other regions;
- ``/rtc/v1`` (WebSocket): the call, a token accepted once within 30 s of its creation
  (``harness.agent`` runs it);
- ``GET /rtc/v1/validate``: after a refused upgrade, why: 401 with LiveKit's kind of message,
  which the SDK reports as an ``error`` event;
- ``/rtc``, livekit-client's older path, refused with a log line (the client falls back to it
  only when ``/rtc/v1`` is missing, which here it never is).
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from harness import livekit_wire as wire
from harness import loopback
from harness.agent import AgentSession
from harness.fake_retell import FakeRetell, Refusal
from harness.script import Scripts
from harness.speech import Voices

log = logging.getLogger(__name__)

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "authorization, content-type",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "3600",
}


class _DenialNoise(logging.Filter):
    """uvicorn's websockets-sansio logs "ASGI callable returned without completing handshake" after
    every denial response, though the client got it (Kludex/uvicorn#3138, open); a refused token
    is routine here, so that one line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


_NOISE = _DenialNoise()


class MediaServer:
    def __init__(self, fake: FakeRetell, scripts: Scripts, voices: Voices) -> None:
        self.fake = fake
        self.scripts = scripts  # what each agent says (harness.script)
        self.voices = voices  # their lines, spoken ahead of the calls
        self.sessions: dict[str, AgentSession] = {}  # call id -> its live session

    def app(self) -> Starlette:
        loopback.restrict_ice()
        logging.getLogger("uvicorn.error").addFilter(_NOISE)  # a set: adding it twice keeps one
        return Starlette(routes=[
            Route("/settings/regions", self._regions, methods=["GET", "OPTIONS"]),
            Route("/rtc/v1/validate", self._validate, methods=["GET", "OPTIONS"]),
            WebSocketRoute("/rtc/v1", self._rtc),
            WebSocketRoute("/rtc", self._old_rtc),
            Route("/rtc/validate", self._old_validate, methods=["GET"]),
        ])

    async def hang_up(self, call_id: str) -> bool:
        """The agent hangs up the call (``agent_hangup``), if it is live; False if it is not."""
        session = self.sessions.get(call_id)
        if session is None:
            return False
        await session.hang_up()
        return True

    async def _regions(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_CORS)
        # One region, this one: the client connects to the URL it was given. Cached for an hour,
        # so it does not ask again during a call.
        return JSONResponse({"regions": []}, headers={**_CORS, "Cache-Control": "max-age=3600"})

    async def _validate(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_CORS)
        refusal = self.fake.check(request.query_params.get("access_token", ""))
        if refusal is not None:
            return PlainTextResponse(refusal.message, 401, headers=_CORS)
        return PlainTextResponse("success", headers=_CORS)

    async def _rtc(self, websocket: WebSocket) -> None:
        token = websocket.query_params.get("access_token", "")
        planned = self.fake.call_for(token)
        if planned is not None and self.fake.faults.agent(planned.agent_id) == "no-media":
            # As if this agent's media servers were out of reach: the join never happens.
            log.info("call %s: refused, injected fault: agent %s has no media server", planned.call_id, planned.agent_id)
            await websocket.send_denial_response(PlainTextResponse("media server unreachable", 503))
            return
        outcome = self.fake.redeem(token)
        if isinstance(outcome, Refusal):
            log.info("refused a join: %s", outcome.message)
            await websocket.send_denial_response(PlainTextResponse(outcome.message, 401))
            return
        call = outcome
        try:
            join = wire.join_request(websocket.query_params.get("join_request", ""))
        except wire.WireError as exc:
            log.warning("call %s: refused a malformed join: %s", call.call_id, exc)
            call.end("error_unknown", f"malformed join request: {exc}")
            await websocket.send_denial_response(PlainTextResponse(str(exc), 400))
            return
        script = self.scripts.for_agent(call.agent_id)
        self.voices.prepare(script.lines())  # spoken when the script was set; this only checks
        await websocket.accept()
        session = AgentSession(call, script, self.voices, self.fake.faults)
        self.sessions[call.call_id] = session
        try:
            await session.run(websocket, join)
        finally:
            self.sessions.pop(call.call_id, None)

    async def _old_rtc(self, websocket: WebSocket) -> None:
        log.warning("refused a join on /rtc: the sandbox serves livekit-client's /rtc/v1 signalling only; "
                    "a client that falls back to /rtc found /rtc/v1 failing first (see the lines above)")
        await websocket.send_denial_response(PlainTextResponse("this server speaks /rtc/v1 only", 404))

    async def _old_validate(self, request: Request) -> Response:
        return PlainTextResponse("this server speaks /rtc/v1 only", 404)

