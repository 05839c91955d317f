"""Fakes of Cloudflare Turnstile and Google reCAPTCHA v3, for the sandbox and the proxy's tests.

The browser loads each provider's script from its real URL (``https://challenges.cloudflare.com/
turnstile/v0/api.js``, ``https://www.google.com/recaptcha/api.js``), reached through Chromium's
host mapping and trusted through the sandbox CA, like Retell's media server. The script has the
provider's API (``turnstile.render`` / ``execute``, ``grecaptcha.ready`` / ``execute``), solves no
visible challenge, and mints a token for the page's host name. ``siteverify`` answers as the
provider does: ``success``, ``hostname``, ``challenge_ts``, and for reCAPTCHA ``action`` and
``score``; a token verifies once.

Faults (``bot`` on the control origin): ``fail`` (siteverify says the token is invalid),
``low-score`` (reCAPTCHA scores 0.1), ``timeout`` (siteverify answers only after 5 s) and
``reused`` (the script hands the page the token it handed out last).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TURNSTILE_HOST = "challenges.cloudflare.com"
RECAPTCHA_HOST = "www.google.com"
HOSTS = (TURNSTILE_HOST, RECAPTCHA_HOST)
TIMEOUT_SECONDS = 5.0  # how late siteverify answers under the "timeout" fault
FAULTS = ("fail", "low-score", "timeout", "reused")

# Each script mints its token from the host it came from, as the real ones talk to theirs.
_TURNSTILE_JS = """(() => {
  const origin = new URL(document.currentScript.src).origin;
  const widgets = new Map();
  let next = 0;
  async function solve(id) {
    const w = widgets.get(id);
    try {
      const res = await fetch(origin + '/turnstile/v0/fake-token', {method: 'POST', mode: 'cors',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({sitekey: w.sitekey})});
      if (!res.ok) throw new Error('HTTP ' + res.status);
      w.token = (await res.json()).token;
      if (w.callback) w.callback(w.token);
    } catch (err) {
      if (w['error-callback']) w['error-callback'](String(err)); else throw err;
    }
  }
  window.turnstile = {
    render(container, options) {
      const id = 'cf-' + (next++);
      widgets.set(id, Object.assign({}, options || {}));
      if (!options || options.execution !== 'execute') solve(id);
      return id;
    },
    execute(id) { for (const [key, w] of widgets) if (key === id || w === id) return solve(key); return solve(id); },
    getResponse(id) { const w = widgets.get(id); return w && w.token; },
    reset(id) { const w = widgets.get(id); if (w) w.token = undefined; },
    remove(id) { widgets.delete(id); },
  };
})();
"""
_RECAPTCHA_JS = """(() => {
  const origin = new URL(document.currentScript.src).origin;
  window.grecaptcha = {
    ready(callback) { setTimeout(callback, 0); },
    async execute(sitekey, options) {
      const res = await fetch(origin + '/recaptcha/api/fake-token', {method: 'POST', mode: 'cors',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({sitekey, action: (options && options.action) || ''})});
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return (await res.json()).token;
    },
  };
})();
"""


@dataclass
class Token:
    provider: str
    sitekey: str
    hostname: str
    action: str
    issued: float
    verified: bool = False


@dataclass
class FakeBots:
    turnstile_secret: str = field(default_factory=lambda: "0x4AAAAAAAsandbox_" + secrets.token_hex(12))
    recaptcha_secret: str = field(default_factory=lambda: "6Lsandbox_" + secrets.token_hex(12))
    fault: Callable[[], str | None] = field(default=lambda: None)
    tokens: dict[str, Token] = field(default_factory=dict)
    verifications: list[dict[str, Any]] = field(default_factory=list)  # what siteverify answered
    _last: dict[str, str] = field(default_factory=dict)  # provider -> the token handed out last

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/turnstile/v0/api.js", lambda r: _script(_TURNSTILE_JS), methods=["GET"]),
            Route("/turnstile/v0/fake-token", self._mint("turnstile"), methods=["POST", "OPTIONS"]),
            Route("/turnstile/v0/siteverify", self._siteverify("turnstile"), methods=["POST"]),
            Route("/recaptcha/api.js", lambda r: _script(_RECAPTCHA_JS), methods=["GET"]),
            Route("/recaptcha/api/fake-token", self._mint("recaptcha"), methods=["POST", "OPTIONS"]),
            Route("/recaptcha/api/siteverify", self._siteverify("recaptcha"), methods=["POST"]),
        ])

    def mint(self, provider: str, sitekey: str, hostname: str, action: str = "") -> str:
        """A token as the provider's script would get it on a page at ``hostname``."""
        if self.fault() == "reused" and provider in self._last:
            return self._last[provider]
        token = f"{provider[:2]}.{secrets.token_urlsafe(48)}"
        self.tokens[token] = Token(provider, sitekey, hostname, action, time.time())
        self._last[provider] = token
        return token

    def _mint(self, provider: str) -> Callable[[Request], Any]:
        async def mint(request: Request) -> Response:
            origin = request.headers.get("origin", "")
            cors = {"Access-Control-Allow-Origin": origin or "*", "Access-Control-Allow-Headers": "Content-Type",
                    "Vary": "Origin"}
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=cors)
            try:
                body = await request.json()
                sitekey, action = str(body["sitekey"]), str(body.get("action", ""))
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"error": "send {\"sitekey\": ...}"}, 400, headers=cors)
            hostname = origin.split("://", 1)[-1].rsplit(":", 1)[0] if origin else ""
            return JSONResponse({"token": self.mint(provider, sitekey, hostname, action)}, headers=cors)

        return mint

    def _siteverify(self, provider: str) -> Callable[[Request], Any]:
        secret = self.turnstile_secret if provider == "turnstile" else self.recaptcha_secret

        async def verify(request: Request) -> Response:
            # application/x-www-form-urlencoded, as the providers take it (no multipart parser needed).
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
            fault = self.fault()
            if fault == "timeout":
                await asyncio.sleep(TIMEOUT_SECONDS)  # a provider that is too slow, not synchronisation
            answer = self._answer(provider, secret, str(form.get("secret", "")), str(form.get("response", "")), fault)
            self.verifications.append({"provider": provider, **answer})
            return JSONResponse(answer)

        return verify

    def _answer(self, provider: str, secret: str, given_secret: str, response: str, fault: str | None) -> dict[str, Any]:
        if given_secret != secret:
            return {"success": False, "error-codes": ["invalid-input-secret"]}
        token = self.tokens.get(response)
        if token is None or token.provider != provider or fault == "fail":
            return {"success": False, "error-codes": ["invalid-input-response"]}
        if token.verified or time.time() - token.issued > 300:
            return {"success": False, "error-codes": ["timeout-or-duplicate"]}
        token.verified = True
        answer: dict[str, Any] = {"success": True, "hostname": token.hostname,
                                  "challenge_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(token.issued))}
        if provider == "recaptcha":
            answer |= {"action": token.action, "score": 0.1 if fault == "low-score" else 0.9}
        else:
            answer |= {"action": "", "cdata": ""}
        return answer


def _script(text: str) -> Response:
    return Response(text, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-store"})
