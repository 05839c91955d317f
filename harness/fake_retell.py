"""A fake of Retell's public API: ``POST /v2/create-web-call``, and the record of every call.

It follows the documented v2 contract (bearer key, known agents, 201 with ``call_type``,
``access_token``, ``call_id``, ``agent_id`` and ``call_status``). The access token is a LiveKit
room token, as Retell's is; the sandbox's media server (``harness.media_server``) accepts it
once, within 30 seconds of creation. What each call did is kept as Retell's call object keeps it
(``disconnection_reason``, ``start_timestamp``, ``duration_ms``) plus what the media server
measured; the control origin's ``GET /calls`` shows it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
import copy
from dataclasses import dataclass, field, fields
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.faults import Faults
from harness.webhooks import WebhookSender

log = logging.getLogger("harness.media")

TOKEN_TTL_SECONDS = 30.0


@dataclass
class Call:
    call_id: str
    agent_id: str
    access_token: str
    created_at: float  # on the fake's clock, for the token's 30 s
    call_status: str = "registered"  # then ongoing, and ended or error, as in Retell's call object
    disconnection_reason: str | None = None  # user_hangup, agent_hangup, error_..., as Retell reports it
    detail: str | None = None  # why the call ended, in words, when it was not a plain hang-up
    start_timestamp: int | None = None  # milliseconds since the epoch
    end_timestamp: int | None = None
    metadata: dict | None = None
    transcript: list[dict[str, str]] = field(default_factory=list)
    microphone: dict | None = None  # what the media server heard from the caller (harness.voice)
    agent_audio_frames: int = 0  # 20 ms frames of the agent's voice sent, speech and silence
    ice: dict | None = None  # every address the server's ICE gathered, accepted, dropped and paired
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)  # set by end()
    # Told "call_started" and "call_ended" as they happen: the webhooks (harness.webhooks).
    notify: Callable[[str, Call], None] | None = field(default=None, repr=False, compare=False)

    @property
    def duration_ms(self) -> int | None:
        if self.start_timestamp is None or self.end_timestamp is None:
            return None
        return self.end_timestamp - self.start_timestamp

    def begin(self) -> None:
        self.call_status, self.start_timestamp = "ongoing", _now_ms()
        if self.notify is not None:
            self.notify("call_started", self)

    def end(self, reason: str, detail: str | None = None) -> None:
        """Ends the call once; later reasons (a socket closing after a hang-up) are ignored."""
        if self.call_status in ("ended", "error"):
            return
        self.call_status = "error" if reason.startswith("error_") or reason == "registered_call_timeout" else "ended"
        self.disconnection_reason, self.detail = reason, detail
        self.end_timestamp = _now_ms()
        self.ended.set()
        log.info("call %s %s: %s%s", self.call_id, self.call_status, reason, f" ({detail})" if detail else "")
        if self.notify is not None:
            self.notify("call_ended", self)

    def record(self) -> dict:
        # Never the token: it is a credential, even in a sandbox.
        values = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name not in ("ended", "notify")}
        return values | {"access_token": None, "duration_ms": self.duration_ms}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a token cannot join: LiveKit answers 401 with a message like these."""

    message: str


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class FakeRetell:
    api_key: str
    agents: frozenset[str]
    clock: Callable[[], float] = time.monotonic
    calls: dict[str, Call] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)  # every create attempt, refused or not
    faults: Faults = field(default_factory=Faults)  # what the control origin asked us to break
    # Signs the room tokens, as a LiveKit API secret does; the sandbox's media server checks it.
    token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    webhooks: WebhookSender | None = None  # where call events go, signed with the API key
    bots: Any = None  # the bot check providers' fakes (harness.bots.FakeBots), for the records

    @classmethod
    def for_agents(cls, api_key: str, agents: Iterable[str]) -> FakeRetell:
        return cls(api_key, frozenset(agents))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v2/create-web-call", self._create_web_call, methods=["POST"])])

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
        if agent_id not in self.agents or self.faults.agent(agent_id) == "unknown":
            return 404, {"error_message": f"Agent {agent_id} not found", "agent_id": agent_id}
        call_id = "call_" + secrets.token_hex(12)
        call = Call(call_id=call_id, agent_id=agent_id, access_token=self._room_token(call_id),
                    created_at=self.clock(), metadata=payload.get("metadata"),
                    notify=self.webhooks.event if self.webhooks is not None else None)
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

    def _room_token(self, call_id: str) -> str:
        """A LiveKit access token (HS256 JWT) for the call's room, as Retell returns one."""
        now = int(time.time())
        claims = {
            "iss": "APIsandbox", "sub": "caller_" + call_id.removeprefix("call_"), "nbf": now,
            "exp": now + int(TOKEN_TTL_SECONDS), "jti": secrets.token_hex(8),
            "video": {"room": call_id, "roomJoin": True, "canPublish": True, "canSubscribe": True, "canPublishData": True},
        }
        segments = [_b64(json.dumps(part, separators=(",", ":")).encode()) for part in ({"alg": "HS256", "typ": "JWT"}, claims)]
        signature = hmac.new(self.token_secret, ".".join(segments).encode(), hashlib.sha256).digest()
        return ".".join([*segments, _b64(signature)])

    def call_for(self, token: str) -> Call | None:
        """The call a genuine token belongs to (whatever its state), or None."""
        return self._call_for(token)

    def _call_for(self, token: str) -> Call | None:
        # The signature first: a forged token never reaches the lookup.
        head, _, signature = token.rpartition(".")
        expected = _b64(hmac.new(self.token_secret, head.encode(), hashlib.sha256).digest())
        if not head or not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        return next((c for c in self.calls.values() if hmac.compare_digest(c.access_token, token)), None)

    def check(self, token: str) -> Refusal | None:
        """Why ``token`` cannot join now, or None if it can; changes nothing (``/rtc/v1/validate``)."""
        call = self._call_for(token)
        if call is None:
            return Refusal("invalid token: signature is invalid or the token is unknown")
        if call.call_status != "registered" and call.disconnection_reason != "registered_call_timeout":
            return Refusal("invalid token: this token was already used to join its call")
        if call.disconnection_reason == "registered_call_timeout" or self._expired(call):
            return Refusal("invalid token: token is expired (exp)")
        return None

    def redeem(self, token: str) -> Call | Refusal:
        """The registered call for a fresh, unused token, now ongoing; a token works once, within 30 s."""
        refusal = self.check(token)
        call = self._call_for(token)
        if refusal is not None or call is None:
            if call is not None and call.call_status == "registered" and self._expired(call):
                call.end("registered_call_timeout", "the access token was not used within 30 s")
            return refusal or Refusal("invalid token")
        call.begin()
        return call

    def _expired(self, call: Call) -> bool:
        return self.faults.token_expired or self.clock() - call.created_at > TOKEN_TTL_SECONDS

    def records(self) -> dict:
        return {"requests": self.requests, "calls": [c.record() for c in self.calls.values()],
                "webhooks": list(self.webhooks.deliveries) if self.webhooks is not None else [],
                "bot_verifications": list(self.bots.verifications) if self.bots is not None else []}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
