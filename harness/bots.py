"""Fakes of Cloudflare Turnstile and Google reCAPTCHA v3, for the sandbox and the proxy's tests.

The browser loads each provider's script from its real URL (``https://challenges.cloudflare.com/
turnstile/v0/api.js``, ``https://www.google.com/recaptcha/api.js``), reached through Chromium's
host mapping and trusted through the sandbox CA, like Retell's media server. The script has the
provider's API (``turnstile.render`` / ``execute``, ``grecaptcha.ready`` / ``execute``), solves no
visible challenge, and mints a token for the page's host name. ``siteverify`` answers as the
provider does: ``success``, ``hostname``, ``challenge_ts``, and for reCAPTCHA ``action`` and
``score``; a token verifies once.

Faults (``bot`` on the control origin): ``fail`` (siteverify says the token is invalid),
``low-score`` (reCAPTCHA scores 0.1), ``timeout`` (siteverify answers only after ``slow`` seconds) and
``reused`` (the script hands the page the token it handed out last).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

TURNSTILE_HOST = "challenges.cloudflare.com"
RECAPTCHA_HOST = "www.google.com"
HOSTS = (TURNSTILE_HOST, RECAPTCHA_HOST)
SLOW_SECONDS = 2.0  # how late siteverify answers under the "timeout" fault (the sandbox proxy waits 1 s)
SITE_KEY = "sandbox-site-key"  # the public site key of every sandbox client with a bot check

# Each script gets its token from a hidden frame on the provider's own origin, as the real ones
# do: the frame's page knows the host it is embedded in (from the Referer the browser sends) and
# posts the token to its parent. So a page's CSP needs the provider in script-src and frame-src,
# exactly as with the real providers, and nothing in connect-src.
_FRAME_JS = """
  const origin = new URL(document.currentScript.src).origin;
  let next = 0;
  function fromFrame(path, params) {
    return new Promise((resolve, reject) => {
      const id = 'f' + (next++) + '-' + Math.random().toString(36).slice(2);
      const frame = document.createElement('iframe');
      frame.style.cssText = 'display:none';
      frame.title = 'bot check';
      frame.src = origin + path + '?' + new URLSearchParams(Object.assign({id}, params));
      function done(event) {
        if (event.origin !== origin || !event.data || event.data.id !== id) return;
        window.removeEventListener('message', done);
        frame.remove();
        if (event.data.token) resolve(event.data.token); else reject(new Error(event.data.error || 'no token'));
      }
      window.addEventListener('message', done);
      frame.onerror = () => reject(new Error('the bot check frame did not load'));
      document.body.append(frame);
    });
  }
"""
_TURNSTILE_JS = "(() => {" + _FRAME_JS + """
  const widgets = new Map();
  async function solve(id) {
    const w = widgets.get(id);
    try {
      w.token = await fromFrame('/turnstile/v0/frame', {sitekey: w.sitekey});
      if (w.callback) w.callback(w.token);
    } catch (err) {
      if (w['error-callback']) w['error-callback'](String(err)); else throw err;
    }
  }
  window.turnstile = {
    render(container, options) {
      const id = 'cf-' + widgets.size;
      widgets.set(id, Object.assign({}, options || {}));
      if (!options || options.execution !== 'execute') solve(id);
      return id;
    },
    execute(id) { return solve(id); },
    getResponse(id) { const w = widgets.get(id); return w && w.token; },
    reset(id) { const w = widgets.get(id); if (w) w.token = undefined; },
    remove(id) { widgets.delete(id); },
  };
})();
"""
_RECAPTCHA_JS = "(() => {" + _FRAME_JS + """
  window.grecaptcha = {
    ready(callback) { setTimeout(callback, 0); },
    execute(sitekey, options) { return fromFrame('/recaptcha/api/frame', {sitekey, action: (options && options.action) || ''}); },
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
    slow: float = SLOW_SECONDS
    tokens: dict[str, Token] = field(default_factory=dict)
    verifications: list[dict[str, Any]] = field(default_factory=list)  # what siteverify answered
    _last: dict[str, str] = field(default_factory=dict)  # provider -> the token handed out last

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/turnstile/v0/api.js", lambda r: _script(_TURNSTILE_JS), methods=["GET"]),
            Route("/turnstile/v0/frame", self._frame("turnstile"), methods=["GET"]),
            Route("/turnstile/v0/siteverify", self._siteverify("turnstile"), methods=["POST"]),
            Route("/recaptcha/api.js", lambda r: _script(_RECAPTCHA_JS), methods=["GET"]),
            Route("/recaptcha/api/frame", self._frame("recaptcha"), methods=["GET"]),
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

    def _frame(self, provider: str) -> Callable[[Request], Any]:
        async def frame(request: Request) -> Response:
            # The page that embeds the frame: the browser sends its origin as the Referer.
            referer = urlsplit(request.headers.get("referer", ""))
            params = request.query_params
            token = self.mint(provider, params.get("sitekey", ""), referer.hostname or "", params.get("action", ""))
            message = json.dumps({"id": params.get("id", ""), "token": token}).replace("<", "\\u003c")
            return HTMLResponse(f"<!doctype html><script>parent.postMessage({message}, '*')</script>",
                                headers={"Cache-Control": "no-store"})

        return frame

    def _siteverify(self, provider: str) -> Callable[[Request], Any]:
        secret = self.turnstile_secret if provider == "turnstile" else self.recaptcha_secret

        async def verify(request: Request) -> Response:
            # application/x-www-form-urlencoded, as the providers take it (no multipart parser needed).
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
            fault = self.fault()
            if fault == "timeout":
                await asyncio.sleep(self.slow)  # a provider that is too slow, not synchronisation
            answer = self._answer(provider, secret, str(form.get("secret", "")), str(form.get("response", "")), fault)
            token = self.tokens.get(str(form.get("response", "")))
            self.verifications.append({"provider": provider, "page_host": token.hostname if token else None, **answer})
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
