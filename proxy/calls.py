"""Calls as Retell's webhooks describe them: one event row per call and event, kept durably.

A row holds only what billing needs (times, duration, why the call ended, its cost), never the
transcript or the caller's words. Rows are joined to the create that minted the call through
``call_id``: the usage row of that create says which client, agent and origin it was for.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from proxy.usage import Store, open_store

EVENTS = ("call_started", "call_ended", "call_analyzed")
_CALL_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_REASON = re.compile(r"^[a-z0-9_]{1,64}$")


class InvalidEvent(ValueError):
    """A signed delivery whose body is not a call event we can store; the message says why."""


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One delivery of one event; a tuple in the order of ``usage.EVENT_COLUMNS``."""

    call_id: str
    event: str
    received: float  # seconds since the epoch, on the proxy's clock
    agent_id: str
    start_ms: int | None  # Retell's start_timestamp, milliseconds since the epoch
    end_ms: int | None
    duration_ms: int | None
    disconnection_reason: str | None
    cost_cents: float | None  # call_cost.combined_cost: Retell reports cents

    def row(self) -> tuple[Any, ...]:
        return (self.call_id, self.event, self.received, self.agent_id, self.start_ms, self.end_ms,
                self.duration_ms, self.disconnection_reason, self.cost_cents)


def parse_event(payload: object, received: float | None = None) -> CallEvent | None:
    """The call event in a webhook body (already JSON-decoded); None for an event type we do not
    keep (Retell also sends transcript and transfer events); ``InvalidEvent`` for anything else."""
    if not isinstance(payload, dict):
        raise InvalidEvent("the body must be a JSON object with 'event' and 'call'")
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        raise InvalidEvent("'event' must be the event's name, such as \"call_ended\"")
    if event not in EVENTS:
        return None
    call = payload.get("call")
    if not isinstance(call, dict):
        raise InvalidEvent("'call' must be Retell's call object")
    call_id = call.get("call_id")
    if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
        raise InvalidEvent("'call.call_id' must be 1 to 128 letters, digits, '_' or '-'")
    agent_id = call.get("agent_id", "")
    if not isinstance(agent_id, str) or len(agent_id) > 128:
        raise InvalidEvent("'call.agent_id' must be a string of at most 128 characters")
    start, end = _millis(call, "start_timestamp"), _millis(call, "end_timestamp")
    duration = _millis(call, "duration_ms")
    if duration is None and start is not None and end is not None:
        duration = max(0, end - start)
    reason = call.get("disconnection_reason")
    if reason is not None and not (isinstance(reason, str) and _REASON.fullmatch(reason)):
        raise InvalidEvent("'call.disconnection_reason' must be a reason such as \"user_hangup\"")
    return CallEvent(call_id, event, time.time() if received is None else received, agent_id, start, end,
                     duration, reason, _cost(call.get("call_cost")))


def _millis(call: dict, name: str) -> int | None:
    value = call.get(name)
    if value is None:
        return None
    # bool is an int in Python, never a time in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 10**15 or value != value:
        raise InvalidEvent(f"'call.{name}' must be a whole number of milliseconds")
    return int(value)


def _cost(cost: object) -> float | None:
    if cost is None:
        return None
    if not isinstance(cost, dict):
        raise InvalidEvent("'call.call_cost' must be an object")
    combined = cost.get("combined_cost")
    if combined is None:
        return None
    if isinstance(combined, bool) or not isinstance(combined, int | float) or not math.isfinite(combined) or combined < 0:
        raise InvalidEvent("'call.call_cost.combined_cost' must be a cost in cents, zero or more")
    return float(combined)


class EventLog:
    """Stores events, each committed before ``add`` returns: the webhook answers 204 only then.

    One connection, used by one thread at a time (the webhook's writes are few: a handful per
    call), so a slow disk or a locked SQLite file never holds the event loop.
    """

    def __init__(self, database: str) -> None:
        self._database = database
        self._store: Store | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._store = open_store(self._database)

    async def add(self, event: CallEvent) -> bool:
        """True if the event is new, False if this call's event was stored before."""
        return await asyncio.to_thread(self._add, event)

    def _add(self, event: CallEvent) -> bool:
        with self._lock:
            try:
                if self._store is None:
                    self._store = open_store(self._database)
                return self._store.add_event(event.row())
            except Exception:
                # The connection may be the broken part: the next delivery opens a new one.
                self._discard()
                raise

    def _discard(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            finally:
                self._store = None

    def close(self) -> None:
        with self._lock:
            self._discard()
