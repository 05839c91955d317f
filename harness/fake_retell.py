"""A fake of Retell's public API: ``POST /v2/create-web-call``, ``GET /v2/get-call/{call_id}``, and
the record of every call.

It keeps Retell's published contract, as PyPI's ``retell-sdk`` (generated from Retell's OpenAPI
spec) describes it: a bearer key; the request of ``call_create_web_call_params``; every call
object written by ``harness.call.call_object`` (``WebCallResponse``); refusals with Retell's
status codes and its ``{"error_message": ...}`` body. The access token is a LiveKit room token,
as Retell's is; the sandbox's media server (``harness.media_server``) accepts it once, within 30
seconds of creation. ``POST /v3/create-web-call`` (the connection payload for Retell's newer
gateway web client) is refused with a message: the sandbox, like the widget, pairs the v2
endpoint with ``retell-client-js-sdk`` 2.x (docs-dev/RETELL.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.call import Call, call_object
from harness.faults import Faults
from harness.webhooks import WebhookSender

TOKEN_TTL_SECONDS = 30.0
# Retell's error bodies, as its OpenAPI spec gives them per status ({"error_message": ...}).
ERROR_MESSAGES = {
    400: "Invalid request format, please check API reference.",
    401: "API key is missing or invalid.",
    402: "Trial has ended, please add payment method.",
    404: "Cannot find requested asset under given api key.",
    422: "Cannot find requested asset under given api key.",
    429: "Account rate limited, please throttle your requests.",
    500: "An unexpected server error occurred.",
}
# The create parameters each request's record keeps, when given (CallCreateWebCallParams' names).
RECORDED_PARAMS = ("agent_version", "metadata", "retell_llm_dynamic_variables")
_V3 = ("the sandbox serves POST /v2/create-web-call, whose token retell-client-js-sdk 2.x joins with; "
       "/v3/create-web-call answers a connection payload for Retell's gateway web client, which it does not simulate")


def error_message(status: int) -> str:
    return ERROR_MESSAGES.get(status) or ERROR_MESSAGES[500 if status >= 500 else 400]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a token cannot join: LiveKit answers 401 with a message like these."""

    message: str


class _Refused(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or error_message(status))
        self.status, self.message = status, message or error_message(status)


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
        return Starlette(routes=[
            Route("/v2/create-web-call", self._create_web_call, methods=["POST"]),
            Route("/v2/get-call/{call_id}", self._get_call, methods=["GET"]),
            Route("/v3/create-web-call", self._v3, methods=["POST"]),
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
                return _error(fault.status, error_message(fault.status), headers)
        status, body, payload = self._create(request.headers.get("authorization", ""), raw)
        # What the call was asked to be created with, as sent: a version tag included, which the
        # call object cannot show (Retell resolves it to the version's number).
        self.requests.append({"status": status, "agent_id": payload.get("agent_id"),
                              **{key: payload[key] for key in RECORDED_PARAMS if key in payload}})
        return JSONResponse(body, status_code=status)

    def _create(self, authorization: str, raw: bytes) -> tuple[int, dict, dict]:
        """(status, body, the request's parameters: none when they were refused)."""
        try:
            self._authorize(authorization)
            payload = _create_params(raw)
        except _Refused as refused:
            return refused.status, {"error_message": refused.message}, {}
        agent_id = payload["agent_id"]
        if agent_id not in self.agents or self.faults.agent(agent_id) == "unknown":
            return 404, {"error_message": error_message(404)}, payload
        call_id = "call_" + secrets.token_hex(12)
        version = payload.get("agent_version")
        call = Call(call_id=call_id, agent_id=agent_id, access_token=self._room_token(call_id), created_at=self.clock(),
                    agent_version=version if isinstance(version, int) else 0,  # the fake's agents have one version, 0
                    metadata=payload.get("metadata"), dynamic_variables=payload.get("retell_llm_dynamic_variables"),
                    notify=self.webhooks.event if self.webhooks is not None else None)
        self.calls[call.call_id] = call
        return 201, call_object(call), payload

    async def _get_call(self, request: Request) -> Response:
        try:
            self._authorize(request.headers.get("authorization", ""))
        except _Refused as refused:
            return _error(refused.status, refused.message)
        call = self.calls.get(request.path_params["call_id"])
        if call is None:
            return _error(404, error_message(404))
        return JSONResponse(call_object(call, analysis=call.is_over))

    async def _v3(self, request: Request) -> Response:
        return _error(404, _V3)

    def _authorize(self, authorization: str) -> None:
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise _Refused(401)

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
        # The signature first: a forged token never reaches the lookup.
        head, _, signature = token.rpartition(".")
        expected = _b64(hmac.new(self.token_secret, head.encode(), hashlib.sha256).digest())
        if not head or not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        return next((c for c in self.calls.values() if hmac.compare_digest(c.access_token, token)), None)

    def check(self, token: str) -> Refusal | None:
        """Why ``token`` cannot join now, or None if it can; changes nothing (``/rtc/v1/validate``)."""
        call = self.call_for(token)
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
        call = self.call_for(token)
        if refusal is not None or call is None:
            if call is not None and call.call_status == "registered" and self._expired(call):
                call.end("registered_call_timeout", "the access token was not used within 30 s")
            return refusal or Refusal("invalid token")
        call.begin()
        return call

    def _expired(self, call: Call) -> bool:
        return self.faults.token_expired or self.clock() - call.created_at > TOKEN_TTL_SECONDS

    def records(self, agents: frozenset[str] | None = None, page_host: str | None = None) -> dict:
        """Everything recorded; ``agents`` keeps only those agents' requests and calls, ``page_host``
        only the bot verifications of tokens solved on that host (so a check of one client among
        a thousand reads its own, not every record)."""
        mine = (lambda agent: True) if agents is None else (lambda agent: agent in agents)
        verifications = list(self.bots.verifications) if self.bots is not None else []
        deliveries = list(self.webhooks.deliveries) if self.webhooks is not None else []
        calls = [c for c in self.calls.values() if mine(c.agent_id)]
        ids = {c.call_id for c in calls}
        return {"requests": [r for r in self.requests if mine(r.get("agent_id"))],
                "calls": [c.record() for c in calls],
                "webhooks": [d for d in deliveries if agents is None or d.get("call_id") in ids],
                "bot_verifications": [v for v in verifications if page_host is None or v.get("page_host") == page_host]}


def _create_params(raw: bytes) -> dict:
    """The body of create-web-call, checked as Retell's ``CallCreateWebCallParams`` types it; 400
    with Retell's message otherwise."""
    try:
        payload = json.loads(raw)
    except ValueError:
        raise _Refused(400) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("agent_id"), str) or not payload["agent_id"]:
        raise _Refused(400)
    version = payload.get("agent_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int | str)
                                or (isinstance(version, int) and version < 0)):
        raise _Refused(400)
    for name in ("metadata", "retell_llm_dynamic_variables", "agent_override"):
        if name in payload and not isinstance(payload[name], dict):
            raise _Refused(400)
    variables = payload.get("retell_llm_dynamic_variables") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise _Refused(400)
    return payload


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error_message": message}, status_code=status, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
