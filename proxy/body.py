"""A request body, read up to a limit: refused as soon as it is known to be too large."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def read_body(request: Request, limit: int, setting: str | None = None) -> bytes:
    """The body; ``BodyRefused`` (413) once it exceeds ``limit`` bytes, declared or as it streams,
    naming ``setting`` (the variable that sets the limit) when given; 400 if it ends early."""
    too_large = BodyRefused(413, "body_too_large",
                            f"the body must be at most {limit} bytes" + (f" ({setting})" if setting else ""))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect:
        raise BodyRefused(400, "client_disconnected", "the body ended early") from None
    return bytes(body)
