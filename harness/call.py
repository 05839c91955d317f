"""One call as the fake Retell keeps it, and Retell's call object for it.

``call_object`` is the one place the call object is written: create-web-call's answer, get-call
and every webhook's ``call`` use it, and tests validate it against ``WebCallResponse`` in PyPI's
``retell-sdk`` (Retell's OpenAPI spec). ``record`` adds what only the sandbox knows (what the
media server measured) for the control origin, and never the access token.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.transcript import Transcript

log = logging.getLogger(__name__)

CENTS_PER_MINUTE = 7.0  # the fake's price; Retell reports costs in cents
# What a call's end is called in Retell's call object; an error_... reason (or a token never
# used) makes the status "error".
ERROR_ENDINGS = ("registered_call_timeout",)


@dataclass
class Call:
    call_id: str
    agent_id: str
    access_token: str
    created_at: float  # on the fake's clock, for the token's 30 s
    agent_version: int = 0  # the agent version the call runs, as Retell resolves it
    call_status: str = "registered"  # then ongoing, and ended or error, as in Retell's call object
    disconnection_reason: str | None = None  # user_hangup, agent_hangup, inactivity, error_..., as Retell reports it
    detail: str | None = None  # why the call ended, in words, when it was not a plain hang-up
    start_timestamp: int | None = None  # milliseconds since the epoch
    end_timestamp: int | None = None
    metadata: dict | None = None  # as created; omitted from the call object when not given
    dynamic_variables: dict[str, str] | None = None  # retell_llm_dynamic_variables, as created
    transcript: Transcript = field(default_factory=Transcript)
    turn_latencies_ms: list[float] = field(default_factory=list)  # the visitor stops -> the agent's audio starts
    barge_ins: list[dict] = field(default_factory=list)  # the visitor spoke over the agent: when, and how soon it stopped
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

    @property
    def is_over(self) -> bool:
        return self.call_status in ("ended", "error")

    def begin(self) -> None:
        self.call_status, self.start_timestamp = "ongoing", now_ms()
        if self.notify is not None:
            self.notify("call_started", self)

    def end(self, reason: str, detail: str | None = None) -> None:
        """Ends the call once; later reasons (a socket closing after a hang-up) are ignored."""
        if self.is_over:
            return
        self.call_status = "error" if reason.startswith("error_") or reason in ERROR_ENDINGS else "ended"
        self.disconnection_reason, self.detail = reason, detail
        self.end_timestamp = now_ms()
        self.ended.set()
        log.info("call %s %s: %s%s", self.call_id, self.call_status, reason, f" ({detail})" if detail else "")
        if self.notify is not None:
            self.notify("call_ended", self)

    def record(self) -> dict:
        """The control origin's view: the call object without its token, and what the sandbox measured."""
        return {
            "start_timestamp": None, "end_timestamp": None, "duration_ms": None, "disconnection_reason": None,
            **call_object(self, analysis=True),
            "access_token": None,
            "detail": self.detail,
            "turn_latencies_ms": list(self.turn_latencies_ms),
            "barge_ins": copy.deepcopy(self.barge_ins),
            "microphone": copy.deepcopy(self.microphone),
            "agent_audio_frames": self.agent_audio_frames,
            "ice": copy.deepcopy(self.ice),
        }


def now_ms() -> int:
    return int(time.time() * 1000)


def call_object(call: Call, *, analysis: bool = False) -> dict[str, Any]:
    """Retell's call object (``WebCallResponse``) as it stands: the fields a registered call has,
    then its start, then once it is over its end, transcript, cost and latency; ``analysis``
    adds ``call_analysis`` (the call_ended webhook has all but that)."""
    body: dict[str, Any] = {
        "call_type": "web_call",
        "access_token": call.access_token,
        "call_id": call.call_id,
        "agent_id": call.agent_id,
        "agent_version": call.agent_version,
        "call_status": call.call_status,
    }
    # As Retell: metadata and dynamic variables appear only when the create gave them.
    if call.metadata is not None:
        body["metadata"] = copy.deepcopy(call.metadata)
    if call.dynamic_variables is not None:
        body["retell_llm_dynamic_variables"] = dict(call.dynamic_variables)
    if call.start_timestamp is not None:
        body["start_timestamp"] = call.start_timestamp
    if not call.is_over:
        return body
    body |= {
        "end_timestamp": call.end_timestamp,
        "disconnection_reason": call.disconnection_reason,
        "transcript": call.transcript.text(),
        "transcript_object": call.transcript.objects(),
    }
    if call.duration_ms is not None:
        body["duration_ms"] = call.duration_ms
        body["call_cost"] = _cost(call.duration_ms)
    if call.turn_latencies_ms:
        body["latency"] = {"e2e": _percentiles(call.turn_latencies_ms)}
    if analysis:
        body["call_analysis"] = _analysis(call)
    return body


def _cost(duration_ms: int) -> dict[str, Any]:
    seconds = duration_ms / 1000
    per_second = CENTS_PER_MINUTE / 60
    cost = round(seconds * per_second, 4)
    return {
        "combined_cost": cost,  # cents
        "total_duration_seconds": round(seconds, 3),
        "total_duration_unit_price": per_second,  # cents per second
        "product_costs": [{"product": "sandbox_voice", "unit_price": per_second, "cost": cost}],
    }


def _percentiles(values: list[float]) -> dict[str, Any]:
    """Retell's latency summary: percentiles, extremes, count and every value, in milliseconds."""
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)], 1)

    return {"p50": at(50), "p90": at(90), "p95": at(95), "p99": at(99), "min": round(ordered[0], 1),
            "max": round(ordered[-1], 1), "num": len(ordered), "values": [round(v, 1) for v in values]}


def _analysis(call: Call) -> dict[str, Any]:
    heard = len(call.transcript.lines("user"))
    return {"call_summary": f"A sandbox call: the agent spoke {len(call.transcript.lines('agent'))} times and heard "
                            f"the visitor {heard} times; it ended with {call.disconnection_reason}.",
            "call_successful": call.call_status == "ended", "in_voicemail": False,
            "user_sentiment": "Neutral" if heard else "Unknown"}
