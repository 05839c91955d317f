"""Retell's call object, checked with Retell's own code: every body the fake Retell sends validates
against the models of PyPI's retell-sdk (generated from Retell's OpenAPI spec), and Retell's own
Python client works against the fake.

retell-sdk's package init costs 3.5 s of CPU, so every test that needs it lives here, in one module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from builder.sdk import MEDIA_HOST
from harness.call import Call, call_object
from harness.certificates import issue
from harness.fake_retell import FakeRetell
from harness.media_server import MediaServer
from harness.script import Script, Scripts
from harness.transcript import Transcript
from harness.webhooks import payload
from proxy.app import create_app
from tests.conftest import run_async, running
from tests.harness.livekit_client import ToneVoices, joined
from tests.proxy.conftest import API_KEY, REGISTRY, settings_for

ORIGIN = "https://shop.example"


@pytest.fixture(scope="module")
def retell() -> Any:
    import retell  # here, not at import: collecting must not pay for it

    return retell


def valid(model: Any, body: dict) -> Any:
    """``body`` as ``model``: every required field there, every value of the right type and
    literal, and not one key the model does not know, at any depth."""
    from pydantic import BaseModel

    parsed = model.model_validate(body)

    def walk(value: object, where: str) -> None:
        if isinstance(value, BaseModel):
            assert not value.model_extra, f"{where}: keys Retell's model does not have: {sorted(value.model_extra)}"
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")

    walk(parsed, model.__name__)
    return parsed


def ended_call() -> Call:
    call = Call("call_contract", "agent_shop", "eyJ.token.sig", 0.0, agent_version=3, metadata={"order": 7},
                dynamic_variables={"customer_name": "Ada"})
    call.begin()
    transcript: Transcript = call.transcript
    greeting = transcript.begin("agent", "Hello there!")
    transcript.say(greeting, 2, 0.2, 0.9)
    answer = transcript.begin("user", "Book me in.")
    transcript.say(answer, 3, 1.4, 2.1)
    call.turn_latencies_ms += [512.0, 498.5]
    call.end("inactivity", "the visitor said nothing")
    return call


def test_every_call_object_the_fake_sends_is_retells_web_call_response(retell):
    from retell.types.web_call_response import WebCallResponse

    fake = FakeRetell.for_agents(API_KEY, ["agent_shop"])
    status, created, _ = fake._create(f"Bearer {API_KEY}", b'{"agent_id": "agent_shop", "agent_version": 2, '
                                                           b'"metadata": {"a": 1}, "retell_llm_dynamic_variables": {"x": "y"}}')
    assert status == 201
    registered = valid(WebCallResponse, created)
    assert (registered.call_status, registered.agent_version, registered.metadata) == ("registered", 2, {"a": 1})
    assert registered.retell_llm_dynamic_variables == {"x": "y"}
    bare = valid(WebCallResponse, fake._create(f"Bearer {API_KEY}", b'{"agent_id": "agent_shop"}')[1])
    # As Retell: metadata and dynamic variables only when the create gave them.
    assert bare.metadata is None and "retell_llm_dynamic_variables" not in bare.model_fields_set

    call = ended_call()
    body = valid(WebCallResponse, call_object(call, analysis=True))
    assert body.call_status == "ended" and body.disconnection_reason == "inactivity"
    assert body.transcript == "Agent: Hello there!\nUser: Book me in.\n"
    assert [(u.role, u.content, [w.word for w in u.words]) for u in body.transcript_object] == [
        ("agent", "Hello there!", ["Hello", "there!"]), ("user", "Book me in.", ["Book", "me", "in."])]
    assert body.transcript_object[1].words[0].start == 1.4
    assert body.call_cost.combined_cost >= 0 and body.call_cost.product_costs[0].unit_price == pytest.approx(7 / 60)
    assert body.latency.e2e.num == 2 and body.latency.e2e.values == [512.0, 498.5]
    assert body.call_analysis.user_sentiment == "Neutral"

    # Every webhook's call: the start has no end; the end has all but the analysis.
    started = Call("call_started_only", "agent_shop", "eyJ.t.s", 0.0)
    started.begin()
    assert valid(WebCallResponse, payload("call_started", started)["call"]).end_timestamp is None
    ended = payload("call_ended", call)["call"]
    assert "call_analysis" not in valid(WebCallResponse, ended).model_fields_set and ended["transcript"]
    assert valid(WebCallResponse, payload("call_analyzed", call)["call"]).call_analysis is not None
    # A token never used: Retell's own reason, and still its call object.
    timed_out = Call("call_never", "agent_shop", "eyJ.t.s", 0.0)
    timed_out.end("registered_call_timeout")
    assert valid(WebCallResponse, payload("call_ended", timed_out)["call"]).call_status == "error"


@pytest.fixture
def stack(tmp_path: Path):
    """The fake Retell, a proxy in front of it and the media server, as the sandbox wires them."""
    registry = tmp_path / "clients.toml"
    registry.write_text(REGISTRY)
    fake = FakeRetell.for_agents(API_KEY, ["agent_shop"])
    media = MediaServer(fake, Scripts({"agent_shop": Script("Hello!")}), ToneVoices())
    certificates = issue(tmp_path, [MEDIA_HOST])
    with running(fake.app()) as retell_port, \
            running(create_app(settings_for(f"http://127.0.0.1:{retell_port}", registry, tmp_path)), proxy_headers=False) as proxy, \
            running(media.app(), **certificates.uvicorn_options()) as media_port:
        yield fake, f"http://127.0.0.1:{retell_port}", f"http://127.0.0.1:{proxy}", media_port, str(certificates.ca_file)


def test_retells_python_client_retrieves_a_call_made_through_the_proxy_before_and_after_it_ran(retell, stack):
    from retell.types.web_call_response import WebCallResponse

    fake, base_url, proxy, media_port, ca = stack
    created = httpx.post(proxy + "/api/create-web-call", json={"agent_id": "agent_shop"}, headers={"Origin": ORIGIN})
    assert created.status_code == 201, created.text
    call_id, token = created.json()["call_id"], created.json()["access_token"]
    client = retell.Retell(api_key=API_KEY, base_url=base_url, max_retries=0)
    before = client.call.retrieve(call_id)
    assert isinstance(before, WebCallResponse) and before.call_status == "registered" and before.agent_id == "agent_shop"

    async def run_the_call() -> None:
        async with joined(media_port, token, ca) as session:
            await session.until(lambda: "agent_stop_talking" in session.events())
            assert client.call.retrieve(call_id).call_status == "ongoing"
            await session.leave()
            await asyncio.wait_for(fake.calls[call_id].ended.wait(), 10)

    run_async(run_the_call())
    after = client.call.retrieve(call_id)
    assert after.call_status == "ended" and after.disconnection_reason == "user_hangup"
    assert after.transcript == "Agent: Hello!\n" and after.duration_ms and after.call_analysis is not None
    valid(WebCallResponse, httpx.get(f"{base_url}/v2/get-call/{call_id}", headers={"Authorization": f"Bearer {API_KEY}"}).json())

    with pytest.raises(retell.AuthenticationError):
        retell.Retell(api_key="key_wrong", base_url=base_url, max_retries=0).call.retrieve(call_id)
    with pytest.raises(retell.NotFoundError):
        client.call.retrieve("call_unknown")


def test_retell_sdk_still_creates_web_calls_on_v3_which_the_sandbox_refuses_with_a_reason(retell, stack):
    """The pairing docs-dev/RETELL.md describes: the proxy calls /v2/create-web-call, whose token
    retell-client-js-sdk 2.x joins with; retell-sdk's create_web_call posts to /v3 (the gateway
    web client's payload). When retell-sdk changes that, this test fails: read that page again."""
    _, base_url, _, _, _ = stack
    client = retell.Retell(api_key=API_KEY, base_url=base_url, max_retries=0)
    with pytest.raises(retell.NotFoundError) as refused:
        client.call.create_web_call(agent_id="agent_shop")
    assert refused.value.response.url.path == "/v3/create-web-call"
    assert "gateway web client" in refused.value.response.json()["error_message"]
    from retell.types.create_web_call_response import CreateWebCallResponse

    assert CreateWebCallResponse.model_fields["transport"].annotation.__args__ == ("gateway",)
