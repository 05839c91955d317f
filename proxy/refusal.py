"""A request the proxy will not serve, and the one answer it gets: ``{"error": code, "message": ...}``.

Every check that can refuse (the origin, the body, the bot check, the budgets, Retell) raises a
``Refusal``; the endpoint that called it adds what it knows about the request (CORS, budgets,
``Cache-Control``) and answers with ``Refusal.response``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store"}


class Refusal(Exception):
    """A status, a stable error code for programs, a message safe to show the caller, and the
    headers only this refusal has (``Retry-After``, ``WWW-Authenticate``, ``Allow``)."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        """The answer, with the request's ``headers`` and then the refusal's own."""
        return JSONResponse({"error": self.code, "message": self.message}, status_code=self.status,
                            headers={**(headers or {}), **self.headers})
