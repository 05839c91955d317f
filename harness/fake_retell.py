"""A fake of Retell's public API: ``POST /v2/create-web-call``, a call channel and the call SDK.

It follows the documented v2 contract (bearer key, known agents, 201 with ``call_type``,
``access_token``, ``call_id``, ``agent_id`` and ``call_status``). Access tokens are single-use
and expire 30 seconds after creation. Every request and call is recorded for tests at
``GET /__harness/calls``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from harness.faults import Faults

TOKEN_TTL_SECONDS = 30.0
_SDK = Path(__file__).parent / "static" / "retell-web-client.js"
# What the fake agent says once the call starts, so the widget has a transcript to show.
_GREETING = "Hello! Thanks for calling. How can I help you today?"


@dataclass
class Call:
    call_id: str
    agent_id: str
    access_token: str
    created_at: float
    call_status: str = "registered"
    end_reason: str | None = None
    metadata: dict | None = None
    transcript: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeRetell:
    api_key: str
    agents: frozenset[str]
    clock: Callable[[], float] = time.monotonic
    calls: dict[str, Call] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)  # every create attempt, refused or not
    faults: Faults = field(default_factory=Faults)  # what the control origin asked us to break

    @classmethod
    def for_agents(cls, api_key: str, agents: Iterable[str]) -> FakeRetell:
        return cls(api_key, frozenset(agents))

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v2/create-web-call", self._create_web_call, methods=["POST"]),
            WebSocketRoute("/v2/web-call", self._web_call),
            Route("/sdk/retell-web-client.js", self._sdk, methods=["GET"]),
            Route("/__harness/calls", self._records, methods=["GET"]),
        ])

    async def _create_web_call(self, request: Request) -> Response:
        raw = await request.body()
        fault = self.faults.create
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)  # injected latency, not synchronisation
            if fault.status is not None:
                self.requests.append({"status": fault.status, "agent_id": None, "fault": True})
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                return JSONResponse({"error_message": "injected fault"}, fault.status, headers)
        status, body = self._create(request.headers.get("authorization", ""), raw)
        self.requests.append({"status": status, "agent_id": body.get("agent_id")})
        return JSONResponse(body, status_code=status)

    def _create(self, authorization: str, raw: bytes) -> tuple[int, dict]:
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return 401, {"error_message": "Unauthorized: missing or invalid API key"}
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400, {"error_message": "Request body is not valid JSON"}
        if not isinstance(payload, dict) or not isinstance(payload.get("agent_id"), str):
            return 400, {"error_message": "agent_id is required and must be a string"}
        for name in ("metadata", "retell_llm_dynamic_variables"):
            if name in payload and not isinstance(payload[name], dict):
                return 400, {"error_message": f"{name} must be an object"}
        variables = payload.get("retell_llm_dynamic_variables") or {}
        if not all(isinstance(v, str) for v in variables.values()):
            return 400, {"error_message": "retell_llm_dynamic_variables values must be strings"}
        agent_id = payload["agent_id"]
        if agent_id not in self.agents:
            return 404, {"error_message": f"Agent {agent_id} not found", "agent_id": agent_id}
        call = Call(
            call_id="call_" + secrets.token_hex(12),
            agent_id=agent_id,
            access_token="eyFake." + secrets.token_urlsafe(24),
            created_at=self.clock(),
            metadata=payload.get("metadata"),
        )
        self.calls[call.call_id] = call
        body = {
            "call_type": "web_call",
            "access_token": call.access_token,
            "call_id": call.call_id,
            "agent_id": agent_id,
            "call_status": call.call_status,
        }
        for name in ("metadata", "retell_llm_dynamic_variables"):
            if name in payload:
                body[name] = payload[name]
        return 201, body

    def redeem(self, token: str) -> Call | None:
        """The registered call for a fresh, unused token; a token works once, within 30 s."""
        call = next((c for c in self.calls.values() if hmac.compare_digest(c.access_token, token)), None)
        if call is None or call.call_status != "registered":
            return None
        if self.faults.token_expired or self.clock() - call.created_at > TOKEN_TTL_SECONDS:
            call.call_status, call.end_reason = "error", "access_token_expired"
            return None
        call.call_status = "ongoing"
        return call

    async def _web_call(self, websocket: WebSocket) -> None:
        await websocket.accept()
        call = self.redeem(websocket.query_params.get("access_token", ""))
        if call is None:
            await websocket.send_json({"event": "error", "message": "invalid, used or expired access token"})
            await websocket.close(code=4001)
            return
        try:
            await websocket.send_json({"event": "call_started", "call_id": call.call_id})
            await websocket.send_json({"event": "call_ready"})
            if self.faults.call_drop:
                # The connection is lost mid-call: no call_ended, just a closed socket.
                call.call_status, call.end_reason = "error", "dropped"
                await websocket.close(code=1011)
                return
            await websocket.send_json({"event": "agent_start_talking"})
            call.transcript.append({"role": "agent", "content": _GREETING})
            await websocket.send_json({"event": "update", "transcript": call.transcript})
            await websocket.send_json({"event": "agent_stop_talking"})
            while True:
                message = await websocket.receive_json()
                if message.get("event") == "hangup":
                    call.call_status, call.end_reason = "ended", "user_hangup"
                    await websocket.send_json({"event": "call_ended", "reason": call.end_reason})
                    await websocket.close()
                    return
        except WebSocketDisconnect:
            call.call_status, call.end_reason = "ended", "client_disconnected"
        except ValueError:
            call.call_status, call.end_reason = "error", "malformed_message"
            await websocket.close(code=1003)

    async def _sdk(self, request: Request) -> Response:
        if self.faults.sdk_fail:
            return Response("injected fault", 503, headers={"Cache-Control": "no-store"})
        # Module scripts are fetched with CORS, so the SDK must be readable from every origin.
        # no-store: a test that makes the SDK fail must not be served a cached copy.
        return FileResponse(_SDK, media_type="text/javascript",
                            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

    def records(self) -> dict:
        return {"requests": self.requests, "calls": [asdict(c) | {"access_token": None} for c in self.calls.values()]}

    async def _records(self, request: Request) -> Response:
        return JSONResponse(self.records())
