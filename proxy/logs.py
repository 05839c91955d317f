"""Structured JSON logs, and the request id that ties a response to its log lines."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_access = logging.getLogger("proxy.access")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_access_fields: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar("access_fields", default=None)
# A caller's own id is kept only when it is short and plain, so it cannot forge log lines.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# LogRecord's own attributes; everything else on a record came in through ``extra=``.
# (uvicorn adds "color_message", a copy of the message with terminal colours.)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def annotate(**fields: object) -> None:
    """Add fields to the current request's access line: one line per request, not one per fact."""
    current = _access_fields.get()
    if current is not None:
        current.update(fields)


class JsonFormatter(logging.Formatter):
    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once a second, not once a line
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        entry = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            # The exception's type only: a traceback could quote request data or headers.
            entry["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else "unknown"
        return json.dumps(entry, default=str)


class RequestId:
    """Gives every HTTP request an id (``X-Request-Id``), visible to every log line it causes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = incoming if _INCOMING_ID.fullmatch(incoming) else secrets.token_hex(8)
        token = request_id.set(rid)
        fields: dict[str, object] = {}
        fields_token = _access_fields.set(fields)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                # Vary: Origin on every response, so no cache serves one origin's answer to another.
                if not any(k.lower() == b"vary" for k, _ in headers):
                    headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _access.info("%s %s %d", scope["method"], scope["path"][:200], status, extra={
                "method": scope["method"], "path": scope["path"][:200], "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2), **fields})
            _access_fields.reset(fields_token)
            request_id.reset(token)
