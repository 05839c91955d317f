"""A sample ``call_ended`` webhook, signed as Retell signs it, and its delivery to a proxy
(``python -m proxy send-test-webhook URL``), so an operator can test a deployed proxy's webhook
URL and key without making a call.

The body is Retell's webhook: ``{"event": "call_ended", "call": <call object>}``, the call with the
fields of retell-sdk's ``WebCallResponse`` model that a ``call_ended`` carries (tests/proxy checks
it against the model). Its call id is always the same and no client's agent made it, so a proxy
stores it once however often it is sent, as an unattributed call of one second and no cost.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from proxy.webhook import sign

CALL_ID = "call_send_test_webhook"
AGENT_ID = "agent_send_test_webhook"
PATH = "/api/retell-webhook"


def call_ended(now_ms: int) -> dict:
    """Retell's ``call_ended`` body for a one-second web call that ended at ``now_ms``."""
    start = now_ms - 1000
    return {
        "event": "call_ended",
        "call": {
            "call_type": "web_call",
            "access_token": "",  # Retell sends the call's join token; a test has none to give
            "call_id": CALL_ID,
            "agent_id": AGENT_ID,
            "agent_version": 1,
            "call_status": "ended",
            "start_timestamp": start,
            "end_timestamp": now_ms,
            "duration_ms": 1000,
            "disconnection_reason": "user_hangup",
            "transcript": "Agent: This is a test webhook from python -m proxy send-test-webhook.\n",
            "transcript_object": [],
            "call_cost": {"product_costs": [], "total_duration_seconds": 1, "total_duration_unit_price": 0,
                          "combined_cost": 0},
            "metadata": {"sent_by": "python -m proxy send-test-webhook"},
        },
    }


@dataclass(frozen=True, slots=True)
class Answer:
    url: str
    status: int
    body: str


class NotSent(Exception):
    """The webhook could not be delivered (a bad URL, no connection, TLS, a timeout)."""


def webhook_url(url: str) -> str:
    """``url`` as given, or with the proxy's webhook path when it names only the proxy's origin."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotSent(f"the URL must be an absolute http(s) URL, such as https://proxy.example.com{PATH}; got {url!r}")
    if parts.path in ("", "/"):
        return f"{parts.scheme}://{parts.netloc}{PATH}"
    return url


def send(url: str, key: str, *, cafile: str | None = None, timeout: float = 10.0,
         now_ms: int | None = None) -> Answer:
    """POST the signed sample to ``url``; return the proxy's answer, or raise ``NotSent``."""
    target = webhook_url(url)
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    body = json.dumps(call_ended(stamp), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Retell-Signature": sign(body, key, stamp)}
    try:
        verify = ssl.create_default_context(cafile=cafile) if cafile else True
    except (OSError, ssl.SSLError) as exc:
        raise NotSent(f"--cacert {cafile}: {exc}") from None
    try:
        with httpx.Client(timeout=timeout, verify=verify) as client:
            response = client.post(target, content=body, headers=headers)
    except httpx.TimeoutException:
        raise NotSent(f"{target} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        # ConnectError and friends: the host is down, the port closed, the name unknown, TLS refused.
        raise NotSent(f"could not reach {target}: {exc or type(exc).__name__}") from None
    return Answer(target, response.status_code, response.text)
