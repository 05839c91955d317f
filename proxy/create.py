"""``POST /api/create-web-call``: every check in order, each refusal (a ``Refusal``) with its own status and code.

Order: origin (cheap, in memory), media type and body, agent binding, what the client's registry
entry lets a page ask (its page variables, its consent: ``validation.check_for``), the client's
bot check (a Turnstile or reCAPTCHA token, verified at the provider), the client's minutes this month, then
every budget at once (client IP, client and agent, the client's calls today: one decision, one
Redis round trip), and only then Retell. Each step that refuses ends the request there, so a
refused request never reaches the upstream.

Work that costs something is charged to the caller's IP budget before it is done: a refused
origin or body (a usage tally, a log line), a missing or wrong server token (each guess), a bot
check (a call to the provider), an upstream call. An IP whose budget is spent is answered 429
before any of it. The client's own budgets (its agent's calls, its day) are charged only by
requests that reach Retell, so an attacker cannot spend them without passing every check.
"""

from __future__ import annotations

import hmac
import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy import cors
from proxy.body import read_body
from proxy.logs import annotate
from proxy.quota import seconds_to_next_month
from proxy.ratelimit import Decision, client_ip, ip_key
from proxy.refusal import Refusal
from proxy.state import ProxyState
from proxy.upstream import UpstreamError, create_web_call
from proxy.usage import UsageRow, anonymise_ip
from proxy.validation import CreateRequest, check_for, parse_create
from registry import Client, Origin, Registry

log = logging.getLogger("proxy.create")
# One answer for an unknown agent and for another client's agent, so ids cannot be probed.
AGENT_REFUSED = "this agent is not available on this website"
NO_ORIGIN = "requests must come from a browser page on a registered origin"
QUOTA_REFUSED = "this website's assistant has used its calls for now; it will be available again later"


class _Attempt:
    """What we learnt about one request so far: for the answer, the usage row and the metrics."""

    def __init__(self) -> None:
        self.origin: Origin | None = None
        self.client = "-"
        self.agent = "-"
        self.ip = ""  # the address, as the bot check providers want it
        self.ip_key = ""  # its budget's name (an IPv6 address's network): limits, usage rows, logs
        self.call_id = ""  # Retell's, once the call is created
        self.consent_hash: str | None = None  # the consent text in force, for a client that asks consent
        self.headers: dict[str, str] = {"Cache-Control": "no-store"}


async def preflight(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    try:
        origin = cors.allowed_origin(request.headers, state.registry())
    except cors.OriginRefused as refusal:
        return refusal.response()
    if origin is None:
        return Refusal(403, "origin_not_allowed", NO_ORIGIN).response()
    if problem := cors.preflight_problem(request.headers):
        return Refusal(403, "preflight_refused", problem).response(cors.response_headers(origin))
    return Response(status_code=204, headers=cors.preflight_headers(origin))


async def create(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    attempt = _Attempt()
    try:
        response = await _create(request, state, attempt)
        outcome = "created"
    except Refusal as refusal:
        response = refusal.response(attempt.headers)
        outcome = refusal.code
    state.metrics.requests.labels(outcome, attempt.client).inc()
    annotate(outcome=outcome, client=attempt.client, agent=attempt.agent, ip=attempt.ip_key)
    if state.usage is not None:
        await _record(state, request, attempt, outcome, response.status_code)
    return response


async def _create(request: Request, state: ProxyState, attempt: _Attempt) -> Response:
    registry = state.registry()
    attempt.ip = client_ip(request.client.host if request.client else None,
                           request.headers.getlist("x-forwarded-for"), state.settings.trusted_proxies)
    attempt.ip_key = ip_key(attempt.ip, state.settings.ipv6_prefix)
    try:
        attempt.origin = cors.allowed_origin(request.headers, registry)
    except cors.OriginRefused:
        # No CORS headers: the browser must not let a refused page read anything.
        await _charge_ip(state, attempt)
        raise
    if attempt.origin is None and not await _server_credential(request, state, attempt):
        raise Refusal(403, "origin_not_allowed", NO_ORIGIN)
    # Browsers are budgeted per IP. A server holding the credential calls for many visitors
    # from one address, so only the client's budgets apply to it.
    ip = attempt.ip_key if attempt.origin is not None else None
    if attempt.origin is not None:
        attempt.headers |= cors.response_headers(attempt.origin)
    try:
        client, agent_id, wanted = await _bound_request(request, state, registry, attempt)
    except Refusal:
        # Refused before its budgets were known, a browser's attempt still costs its IP's budget
        # (one round trip, as for any request): a flood of junk is limited like anything else.
        if ip is not None:
            await _charge_ip(state, attempt)
        raise
    attempt.client = client.id
    if client.bot_check is not None and attempt.origin is not None and state.bots is not None:
        # Asking the provider is work: the IP pays for it first, and a spent IP asks nobody. A
        # failed check spends nothing of the client's own budgets. (A server holding the
        # credential is not a browser, and has no token to show.)
        await _charge_ip(state, attempt)
        ip = None  # charged
        await state.bots.check(client.bot_check, wanted.bot_token, attempt.origin, client.bot_min_score,
                               client.id, attempt.ip)
    if client.max_minutes_per_month is not None and state.minutes is not None:
        used = await state.minutes.minutes(client.id)
        if used is not None and used >= client.max_minutes_per_month:
            wait = seconds_to_next_month(time.time())
            raise Refusal(429, "quota_exceeded", QUOTA_REFUSED, {"Retry-After": str(wait)})
    # Every budget of the create, decided and charged together: one Redis round trip.
    calls_per_day = client.max_calls_per_day
    budgets = state.limits.budgets(ip=ip, client_agent=(client.id, agent_id), calls_per_day=calls_per_day)
    _apply(attempt, await state.limits.decide(budgets))

    try:
        call = await create_web_call(state.upstream, wanted.upstream_body(client, attempt.origin), state.settings.upstream_timeout,
                                     lambda result, seconds: state.metrics.upstream.labels(result).observe(seconds))
    except UpstreamError:
        if calls_per_day is not None:
            # Retell made no call, so the day's count gives it back (only on this failure path).
            await state.limits.refund(budgets[-1])
        raise
    attempt.call_id = call.call_id
    attempt.consent_hash = client.consent.hash if client.consent is not None else None
    return JSONResponse({"access_token": call.access_token, "call_id": call.call_id}, status_code=201, headers=attempt.headers)


async def _charge_ip(state: ProxyState, attempt: _Attempt) -> None:
    """Charge the request to its IP's budget alone; refuse it (429) if that budget is spent."""
    _apply(attempt, await state.limits.decide(state.limits.budgets(ip=attempt.ip_key)))


async def _bound_request(request: Request, state: ProxyState, registry: Registry, attempt: _Attempt) -> tuple[Client, str, CreateRequest]:
    """The body, parsed, and the client its agent belongs to (refused unless that client is the
    origin's, and unless the body asks only what that client's registry entry allows)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Refusal(415, "unsupported_media_type", "send the body as application/json")
    # A body too large or too slow (BodyRefused) or one breaking a rule (InvalidBody) is a Refusal too.
    body = await read_body(request, state.settings.max_body_bytes, deadline=state.settings.body_timeout)
    wanted = parse_create(body)
    attempt.agent = wanted.agent_id
    client = registry.client_for_agent(wanted.agent_id)
    if client is None or (attempt.origin is not None and not client.allows(attempt.origin)):
        raise Refusal(403, "agent_not_allowed", AGENT_REFUSED)
    check_for(wanted, client)
    return client, wanted.agent_id, wanted


def _apply(attempt: _Attempt, decision: Decision | None) -> None:
    """Show the tightest budget; refuse when one is spent. None: the limiter is down."""
    verdict = decision.shown if decision is not None else None
    if verdict is None:
        return
    attempt.headers |= verdict.headers()
    if verdict.allowed:
        return
    if verdict.kind == "calls_per_day":
        raise Refusal(429, "quota_exceeded", QUOTA_REFUSED)
    raise Refusal(429, "rate_limited", f"too many requests; try again in {max(1, verdict.reset)} seconds")


async def _server_credential(request: Request, state: ProxyState, attempt: _Attempt) -> bool:
    """Whether a request without an Origin holds the server token. Each wrong or missing one is
    charged to the IP's budget, and an IP that has spent it is refused before its token is even
    compared: guessing is as limited as anything else. The right one costs nothing."""
    token = state.settings.server_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if token is not None and scheme.lower() == "bearer" and given:
        _apply(attempt, await state.limits.decide(state.limits.budgets(ip=attempt.ip_key), dry=True))
        if hmac.compare_digest(given.encode(), token.reveal().encode()):
            attempt.headers = {"Cache-Control": "no-store"}  # the IP's headers are not this request's
            return True
    await _charge_ip(state, attempt)
    return False


async def _record(state: ProxyState, request: Request, attempt: _Attempt, outcome: str, status: int) -> None:
    assert state.usage is not None
    origin = str(attempt.origin) if attempt.origin else "-"
    if outcome != "created":
        # Tallied per TALLY_SECONDS: storage must not grow with a flood's rate. Only what the registry
        # knows goes into the key; an agent id or origin a caller made up would make every row new.
        agent = attempt.agent if state.registry().client_for_agent(attempt.agent) is not None else "-"
        state.usage.tally(UsageRow(time.time(), attempt.client, agent, origin, outcome, status, anonymise_ip(attempt.ip_key), ""))
        return
    row = UsageRow(time.time(), attempt.client, attempt.agent, origin, outcome, status, anonymise_ip(attempt.ip_key),
                   request.headers.get("user-agent", "")[:256], attempt.call_id, consent_hash=attempt.consent_hash)
    wait = state.settings.usage_commit_wait
    # Wait for the commit so an answered request is on disk, but never longer than the
    # configured bound: a slow database delays answers a little, it never stops them.
    committed = state.usage.record(row, wait or None)
    if wait and await committed is False:
        log.warning("usage commit is slow; answering before it", extra={"backlog": state.usage.backlog})
