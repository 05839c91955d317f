"""Bot checks: a Cloudflare Turnstile or reCAPTCHA v3 token, verified at the provider's
``siteverify`` before a create spends any budget or reaches Retell.

A client opts in in the registry (``bot_check``, ``bot_site_key``, for reCAPTCHA
``bot_min_score``); the secret keys come from the proxy's environment only. A token is accepted
once: it must be new to this proxy, the provider must say it is valid, it must have been solved
on the page's own host name, and a reCAPTCHA token must carry the widget's action and a score of
at least the client's minimum.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx

from proxy.refusal import Refusal
from proxy.settings import Secret
from registry import Origin

log = logging.getLogger("proxy.botcheck")
ACTION = "start_call"  # the reCAPTCHA action the widget executes
_SEEN_SECONDS = 600  # longer than either provider keeps a token valid (Turnstile: 300 s; reCAPTCHA: 120 s)
# Tokens remembered at most. Past it the oldest are forgotten early; the provider still refuses a
# token it has verified once ("timeout-or-duplicate"), and every check has cost its caller's IP
# budget, so filling the memory is slow and gains nothing. 32 bytes a digest: about 10 MB.
SEEN_MAX = 100_000
_ENV = {"turnstile": "PROXY_TURNSTILE_SECRET", "recaptcha": "PROXY_RECAPTCHA_SECRET"}


class BotRefused(Refusal):
    """The request may not go on: ``status`` 403 for a failed check, 503 for a provider away."""


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    secret: Secret | None
    verify_url: str


class BotChecker:
    def __init__(self, providers: dict[str, Provider], http: httpx.AsyncClient, timeout: float,
                 clock=time.monotonic) -> None:
        self._providers, self._http, self._timeout, self._clock = providers, http, timeout, clock
        # Token digest -> when it may be forgotten. Every token is kept as long, so insertion order
        # is expiry order: forgetting is popping from the front, O(1) per check.
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    async def check(self, provider: str, token: str | None, origin: Origin | None, min_score: float | None,
                    client_id: str, remote_ip: str) -> None:
        """Return if the token passes; raise ``BotRefused`` with the reason otherwise."""
        if not token:
            raise _failed("this website requires a bot check, and the request carries no bot_token")
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        self._forget(now)
        if digest in self._seen:
            raise _failed("this bot check token was already used; each call needs a new one")
        self._seen[digest] = now + _SEEN_SECONDS  # before the provider answers: two racing uses cannot both pass
        settings = self._providers[provider]
        if settings.secret is None:
            log.error("client %s requires %s, but %s is not set", client_id, provider, _ENV[provider],
                      extra={"outcome": "bot_check_unavailable"})
            raise BotRefused(503, "bot_check_unavailable", "the bot check is not configured on the server; try again later")
        answer = await self._verify(settings, token, remote_ip, client_id)
        if answer.get("success") is not True:
            codes = answer.get("error-codes") or []
            if "timeout-or-duplicate" in codes:
                raise _failed("the bot check expired or was already used; please try again")
            raise _failed("the bot check failed; please try again")
        hostname = answer.get("hostname")
        if origin is not None and hostname != origin.host:
            raise _failed("the bot check was solved on another website")
        if provider == "recaptcha":
            if answer.get("action") != ACTION:
                raise _failed("the bot check was made for another action")
            score = answer.get("score")
            if not isinstance(score, int | float) or score < (0.5 if min_score is None else min_score):
                raise _failed("the bot check rated this visit as automated")

    async def _verify(self, provider: Provider, token: str, remote_ip: str, client_id: str) -> dict:
        assert provider.secret is not None
        form = {"secret": provider.secret.reveal(), "response": token}
        if remote_ip and remote_ip != "unknown":
            form["remoteip"] = remote_ip
        try:
            response = await self._http.post(provider.verify_url, data=form, timeout=self._timeout)
            response.raise_for_status()
            answer = response.json()
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            return answer
        except (httpx.HTTPError, ValueError) as exc:
            # The secret is in the form, never in the exception's text: only the type is logged.
            log.error("bot check provider %s did not answer usably (%s); refusing the create",
                      provider.name, type(exc).__name__, extra={"outcome": "bot_check_unavailable", "client": client_id})
            raise BotRefused(503, "bot_check_unavailable",
                             "the bot check service is not answering; please try again in a moment") from None

    def _forget(self, now: float) -> None:
        seen = self._seen
        while seen and (len(seen) >= SEEN_MAX or next(iter(seen.values())) <= now):
            seen.popitem(last=False)

    @property
    def remembered(self) -> int:
        return len(self._seen)


def _failed(message: str) -> BotRefused:
    return BotRefused(403, "bot_check_failed", message)
