"""The per-client checks of ``python -m harness check`` that need no browser: Python talks to the
sandbox as a client's page and Retell's media server would be talked to, over loopback.

- ``origins``: the proxy answers a CORS preflight from each of the client's origins;
- ``calls``: each agent gets a token from a create with the client's origin (with its page
  variables, its consent hash and a bot token solved for its host, as its page sends them), the media server lets that
  token join its call (a LiveKit signalling join over WebSocket; no WebRTC), the leave is
  recorded as ``user_hangup``, and the call carries the client's registry fields;
- ``config``: what a page may ask is the registry's (an unlisted page variable, a missing consent);
- ``hostile``: a preflight and a create from a foreign origin are refused, and reach nobody;
- ``bot``: a create without a bot token is refused, and the provider verified this client's.

Each raises ``Failed`` with the reason in plain words.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import websockets
from livekit.protocol import rtc

import registry
from builder.snippet import page_variables
from harness import livekit_wire as wire
from harness.state import SandboxState

CREATE_PATH = "/api/create-web-call"  # the proxy's endpoint, as the sandbox serves it
_JOIN_TIMEOUT = 10.0
_TOKEN = re.compile(r'"token":\s*"([^"]+)"')


class Failed(Exception):
    """A check's failure, in plain words."""


@dataclass(frozen=True, slots=True)
class Control:
    http: httpx.AsyncClient
    state: SandboxState

    def local(self, name: str) -> str:
        return self.state.local(name)

    async def records(self, agents: tuple[str, ...] = (), page_host: str | None = None) -> dict:
        params = [("agent", a) for a in agents] + ([("page_host", page_host)] if page_host else [])
        return (await self.http.get(self.local("control") + "/calls", params=params)).json()

    async def ended(self, call_id: str) -> dict:
        response = await self.http.get(self.local("control") + f"/calls/{call_id}", params={"wait": "ended"})
        if response.status_code != 200:
            raise Failed(f"the fake Retell never saw call {call_id} end")
        return response.json()


def _host(origin: str) -> str:
    return origin.split("://", 1)[1].rsplit(":", 1)[0]


async def origins(control: Control, client: registry.Client) -> None:
    """Each of the client's sandbox origins passes the proxy's CORS preflight."""
    for origin in [control.state.origins[client.id]]:  # the sandbox gives a client one origin
        answer = await control.http.options(control.local("proxy") + CREATE_PATH, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        if answer.status_code != 204 or answer.headers.get("access-control-allow-origin") != origin:
            raise Failed(f"the proxy refused the preflight from {origin}: {answer.status_code} {_error(answer)}")


def _error(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    return f"{body.get('error', '')}: {body.get('message', '')}".strip(": ") if isinstance(body, dict) else str(body)[:200]


async def bot_token(control: Control, client: registry.Client, origin: str) -> str:
    """A token as the provider's frame mints it for a page on ``origin`` (the fake's own frame)."""
    path = "/turnstile/v0/frame" if client.bot_check == "turnstile" else "/recaptcha/api/frame"
    params = {"id": "check", "sitekey": client.bot_site_key or "", "action": "start_call"}
    answer = await control.http.get(control.local("bots-internal") + path, params=params, headers={"Referer": origin + "/"})
    found = _TOKEN.search(answer.text)
    if answer.status_code != 200 or found is None:
        raise Failed(f"the {client.bot_check} fake minted no token: {answer.status_code}")
    return found.group(1)


async def mint(control: Control, client: registry.Client, agent: str, origin: str) -> dict:
    """A create as the client's page sends it; the proxy's answer (access_token, call_id)."""
    body: dict = {"agent_id": agent}
    if client.page_variables:
        body["retell_llm_dynamic_variables"] = page_variables(client)
    if client.consent is not None:
        body["consent_hash"] = client.consent.hash
    if client.bot_check:
        body["bot_token"] = await bot_token(control, client, origin)
    answer = await control.http.post(control.local("proxy") + CREATE_PATH, json=body, headers={"Origin": origin})
    if answer.status_code != 201:
        raise Failed(f"agent {agent}: the proxy minted no token for {origin}: {answer.status_code} {_error(answer)}")
    return answer.json()


async def join(state: SandboxState, token: str) -> None:
    """Joins the call with ``token`` on the media server as livekit-client does (its /rtc/v1
    signalling, the join in the URL), reads the join response, and leaves."""
    query = urlencode({"access_token": token, "join_request": wire.encode_join_request(rtc.JoinRequest())})
    context = ssl.create_default_context()
    # The sandbox's own certificate on loopback; the browser's calls check it (by its key).
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        async with websockets.connect(f"wss://127.0.0.1:{state.media.port}/rtc/v1?{query}", ssl=context,
                                      server_hostname=state.media.host, open_timeout=_JOIN_TIMEOUT) as socket:
            first = rtc.SignalResponse.FromString(await _within(socket.recv()))
            if first.WhichOneof("message") != "join":
                raise Failed(f"the media server's first frame was {first.WhichOneof('message')!r}, not a join response")
            await socket.send(rtc.SignalRequest(leave=rtc.LeaveRequest(reason=1)).SerializeToString())
    except websockets.InvalidStatus as exc:
        said = exc.response.body.decode("utf-8", "replace")[:200] if exc.response.body else ""
        raise Failed(f"the media server refused its token: {exc.response.status_code} {said}".rstrip()) from None
    except (OSError, websockets.WebSocketException, TimeoutError) as exc:
        raise Failed(f"the media server could not be joined: {type(exc).__name__}: {exc}") from None


async def _within(coroutine):  # noqa: ANN001, ANN202
    return await asyncio.wait_for(coroutine, _JOIN_TIMEOUT)


async def calls(control: Control, client: registry.Client) -> None:
    """Each agent mints a token from the client's origin, and the media server accepts it."""
    origin = control.state.origins[client.id]
    for agent in client.agents:
        created = await mint(control, client, agent, origin)
        try:
            await join(control.state, created["access_token"])
        except Failed as failed:
            raise Failed(f"agent {agent}: {failed}") from None
        record = await control.ended(created["call_id"])
        if record["agent_id"] != agent:
            raise Failed(f"agent {agent}: the call went to {record['agent_id']!r}")
        if record["disconnection_reason"] != "user_hangup":
            raise Failed(f"agent {agent}: the leave was recorded as {record['disconnection_reason']!r}, not 'user_hangup'")
        await configured(control, record, client, agent)


async def configured(control: Control, record: dict, client: registry.Client, agent: str) -> None:
    """The call carries what the registry fixes for the client: its variables, its agent's version,
    and (in Retell's own record) whose call it was."""
    given = record.get("retell_llm_dynamic_variables") or {}
    wrong = {k: given.get(k) for k, v in client.variables.items() if given.get(k) != v}
    if wrong:
        raise Failed(f"agent {agent}: the call was created without the client's fixed variables: {wrong}")
    if (record.get("metadata") or {}).get("client_id") != client.id:
        raise Failed(f"agent {agent}: Retell's record of the call does not name the client in its metadata")
    version = client.agent_versions.get(agent)
    if isinstance(version, int) and record.get("agent_version") != version:
        raise Failed(f"agent {agent}: the call runs agent version {record.get('agent_version')}, not {version}")
    if isinstance(version, str):  # a tag: Retell's call object shows the number it resolved to
        sent = [r.get("agent_version") for r in (await control.records((agent,)))["requests"]]
        if version not in sent:
            raise Failed(f"agent {agent}: no call was created with agent version {version!r}")


async def agent_requests(control: Control, client: registry.Client) -> int:
    # An agent belongs to one client (the registry refuses a shared one), and one client's checks
    # run one after another: the fake's requests for these agents are this check's alone.
    return len((await control.records(tuple(client.agents)))["requests"])


def _unlisted(client: registry.Client) -> str:
    """A page variable the client does not list."""
    return next(key for n in range(len(client.page_variables) + 1)
                if (key := f"harness_check_unlisted_{n}") not in client.page_variables)


async def config(control: Control, client: registry.Client) -> None:
    """What a page may ask is the registry's: a page variable the client does not list is refused,
    and a client that asks consent mints no token without the current text's hash. Neither
    reaches Retell."""
    before = await agent_requests(control, client)
    proxy, headers = control.local("proxy") + CREATE_PATH, {"Origin": control.state.origins[client.id]}
    body: dict = {"agent_id": client.agents[0], "retell_llm_dynamic_variables": {_unlisted(client): "x"}}
    if client.consent is not None:
        body["consent_hash"] = client.consent.hash  # so that the refusal is the variable's
    answer = await control.http.post(proxy, json=body, headers=headers)
    if answer.status_code != 400 or answer.json().get("error") != "variable_not_allowed":
        raise Failed(f"a page variable the client does not list was answered {answer.status_code}, not 400 variable_not_allowed")
    if client.consent is not None:
        for sent, what in ((None, "without"), ("0" * 64, "with a stale")):
            answer = await control.http.post(proxy, json={"agent_id": client.agents[0], **({"consent_hash": sent} if sent else {})},
                                             headers=headers)
            if answer.status_code != 403 or answer.json().get("error") != "consent_required":
                raise Failed(f"a create {what} consent hash was answered {answer.status_code}, not 403 consent_required")
    if await agent_requests(control, client) != before:
        raise Failed("a refused create reached Retell")


async def hostile(control: Control, client: registry.Client) -> None:
    """The client's page copied onto a foreign origin: its preflight and its creates (each agent,
    with everything the real page sends) are refused, and none reaches Retell."""
    before = await agent_requests(control, client)
    foreign = control.state.hostile
    answer = await control.http.options(control.local("proxy") + CREATE_PATH, headers={
        "Origin": foreign, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    if answer.status_code == 204 or "access-control-allow-origin" in answer.headers:
        raise Failed(f"the proxy answered a preflight from a foreign origin with {answer.status_code}")
    for agent in client.agents:
        body = {"agent_id": agent} | ({"consent_hash": client.consent.hash} if client.consent else {})
        answer = await control.http.post(control.local("proxy") + CREATE_PATH, json=body, headers={"Origin": foreign})
        if answer.status_code == 201:
            raise Failed("the proxy minted a token for a copy of the page on a foreign origin")
        if answer.status_code != 403 or "access-control-allow-origin" in answer.headers:
            raise Failed(f"a create from a foreign origin was answered {answer.status_code}, not 403 without CORS headers")
    if await agent_requests(control, client) != before:
        raise Failed("a copy of the page on a foreign origin reached Retell (the proxy asked for a call)")


async def bot(control: Control, client: registry.Client) -> None:
    """A create without a bot token is refused, and the provider verified a token solved for this
    client's host (the ``calls`` check's creates sent one each)."""
    origin = control.state.origins[client.id]
    body = {"agent_id": client.agents[0]} | ({"consent_hash": client.consent.hash} if client.consent else {})
    bare = await control.http.post(control.local("proxy") + CREATE_PATH, json=body, headers={"Origin": origin})
    if bare.status_code != 403 or bare.json().get("error") != "bot_check_failed":
        raise Failed(f"a create without a bot token was answered {bare.status_code}, not 403 bot_check_failed")
    answers = (await control.records(tuple(client.agents), page_host=_host(origin)))["bot_verifications"]
    if not any(v.get("success") for v in answers):
        raise Failed(f"no {client.bot_check} token for this client's host was verified by the provider")
