"""Strict CORS: an origin is allowed only when the registry lists it exactly or by pattern."""

from __future__ import annotations

from starlette.datastructures import Headers

from proxy.refusal import Refusal
from registry import Origin, Registry, parse_origin

ALLOWED_METHOD = "POST"
ALLOWED_HEADERS = frozenset({"content-type"})
MAX_AGE_SECONDS = 600
# What a page may read from our answers: how long to wait, and its rate-limit budget.
EXPOSED_HEADERS = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, X-Request-Id"


class OriginRefused(Refusal):
    """Why a request's origin is not allowed (403); the message is safe to send to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(403, "origin_not_allowed", message)


def allowed_origin(headers: Headers, registry: Registry) -> Origin | None:
    """The request's origin if the registry allows it, None if it sent none; else ``OriginRefused``."""
    values = headers.getlist("origin")
    if not values:
        return None
    if len(values) > 1:
        raise OriginRefused("more than one Origin header")
    try:
        origin = parse_origin(values[0])
    except ValueError:
        raise OriginRefused("this origin is not allowed to use the widget") from None
    if registry.client_for_origin(origin) is None:
        raise OriginRefused("this origin is not allowed to use the widget")
    return origin


def response_headers(origin: Origin) -> dict[str, str]:
    # The allowed origin is echoed exactly; never "*", and never an origin we refused.
    # Retry-After and the RateLimit headers are exposed so the widget can say how long to wait.
    return {"Access-Control-Allow-Origin": str(origin), "Access-Control-Expose-Headers": EXPOSED_HEADERS, "Vary": "Origin"}


def preflight_headers(origin: Origin) -> dict[str, str]:
    return response_headers(origin) | {
        "Access-Control-Allow-Methods": ALLOWED_METHOD,
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
    }


def preflight_problem(headers: Headers) -> str | None:
    """Why a preflight asks for more than the endpoint allows, or None when it is acceptable."""
    method = headers.get("access-control-request-method", "")
    if method != ALLOWED_METHOD:
        return f"only {ALLOWED_METHOD} is allowed"
    requested = {h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()}
    if not requested <= ALLOWED_HEADERS:
        return "only the Content-Type header is allowed"
    return None
