"""The fake Retell's webhooks: signed ``call_started``, ``call_ended`` and ``call_analyzed`` events,
delivered to the sandbox's proxy as Retell delivers them, and on request delivered badly.

A delivery is a POST of ``{"event": ..., "call": {...}}`` signed as Retell signs it
(``X-Retell-Signature: v=<ms>,d=<hex HMAC-SHA256(api key, body + ms)>``), and tried again, up to
three times, while the receiver is unreachable or answers 5xx. The ``webhooks`` fault makes the next events
``forged`` (signed with another key), ``stale`` (signed 10 minutes ago), ``duplicate`` (each sent
twice), ``reorder`` (a call's start sent after its end) or ``off``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.call import Call, call_object

log = logging.getLogger("harness.webhooks")
_ATTEMPTS = 3  # Retell tries a delivery up to three times
_RETRY_SECONDS = 0.5


def sign(body: bytes, key: str, at_ms: int | None = None) -> str:
    """``X-Retell-Signature`` for ``body``, as Retell's servers (and SDKs' ``sign``) make it."""
    stamp = int(time.time() * 1000) if at_ms is None else at_ms
    return f"v={stamp},d={hmac.new(key.encode(), body + str(stamp).encode(), hashlib.sha256).hexdigest()}"


def payload(event: str, call: Call) -> dict[str, Any]:
    """Retell's webhook body: the event and the call object, as get-call would answer it then
    (``call_ended`` has every field but ``call_analysis``; ``call_analyzed`` adds it)."""
    return {"event": event, "call": call_object(call, analysis=event == "call_analyzed")}


@dataclass
class WebhookSender:
    """Delivers the fake's events to ``url`` (the proxy), signed with ``key``."""

    url: str
    key: str
    ca_file: str | None = None  # the sandbox CA, when the proxy is on TLS (its certificate names 127.0.0.1)
    mode: Callable[[], str | None] = lambda: None  # the current ``webhooks`` fault
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # every attempt and its answer
    _held: dict[str, bytes] = field(default_factory=dict)  # reorder: call_started, until the call ends
    _reported: dict[str, asyncio.Event] = field(default_factory=dict)  # per call: its end's deliveries are done
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None

    def event(self, event: str, call: Call) -> None:
        """Called by the call as it starts and ends; the delivery runs on the event loop."""
        mode = self.mode()
        if mode == "off":
            if event == "call_ended":
                self.reported(call.call_id).set()  # nothing to wait for
            return
        body = json.dumps(payload(event, call), separators=(",", ":")).encode()
        bodies = [body]
        if mode == "reorder":
            if event == "call_started":
                self._held[call.call_id] = body
                return
            if event == "call_ended" and call.call_id in self._held:
                bodies = [body, self._held.pop(call.call_id)]
        if mode == "duplicate":
            bodies = [b for b in bodies for _ in (0, 1)]
        if event == "call_ended":
            bodies.append(json.dumps(payload("call_analyzed", call), separators=(",", ":")).encode())
        self._start(self._deliver_all(bodies, mode, self.reported(call.call_id) if event == "call_ended" else None))

    def reported(self, call_id: str) -> asyncio.Event:
        """Set once the deliveries of the call's end (and its analysis) have been answered or given up."""
        return self._reported.setdefault(call_id, asyncio.Event())

    def _start(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:
            work.close()  # no loop (a unit test of the call alone): nothing to deliver to
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_all(self, bodies: list[bytes], mode: str | None, done: asyncio.Event | None) -> None:
        try:
            for body in bodies:  # in order: "reorder" means the order they were sent in
                await self.deliver(body, mode)
        finally:
            if done is not None:
                done.set()

    async def deliver(self, body: bytes, mode: str | None = None) -> int | None:
        """POST ``body``, retried as Retell retries; the last status, or None if never answered."""
        key = "forged-" + self.key if mode == "forged" else self.key
        at = int(time.time() * 1000) - (10 * 60 * 1000 if mode == "stale" else 0)
        signature = sign(body, key, at)
        status: int | None = None
        sent = json.loads(body)
        event, call_id = sent.get("event"), (sent.get("call") or {}).get("call_id")
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = await self._http().post(
                    self.url, content=body, headers={"Content-Type": "application/json", "X-Retell-Signature": signature})
                status = response.status_code
            except httpx.HTTPError as exc:
                status = None
                log.info("webhook %s not delivered (%s)", event, type(exc).__name__)
            self.deliveries.append({"event": event, "call_id": call_id, "status": status, "attempt": attempt, "mode": mode})
            if status is not None and (200 <= status < 300 or status in (400, 401, 404, 413, 415)):
                return status  # answered; a refusal is not retried (it would be refused again)
            await asyncio.sleep(_RETRY_SECONDS)  # Retell's back-off, not synchronisation
        return status

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
            self._client = httpx.AsyncClient(timeout=10.0, verify=verify)  # Retell waits 10 s
        return self._client

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
