from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from harness.fake_retell import TOKEN_TTL_SECONDS, FakeRetell
from tests.conftest import running

KEY = "key_fake_123"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def retell():
    clock = Clock()
    fake = FakeRetell(KEY, frozenset({"agent_one"}), clock=clock)
    with running(fake.app()) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield fake, client, port, clock


def create(client, body=None, key=KEY):
    return client.post("/v2/create-web-call", json={"agent_id": "agent_one"} if body is None else body,
                       headers={"Authorization": f"Bearer {key}"})


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=5))


def test_creates_a_registered_web_call_with_the_documented_fields(retell):
    fake, client, _, _ = retell
    response = create(client, {"agent_id": "agent_one", "metadata": {"order": 7}})
    assert response.status_code == 201
    body = response.json()
    assert body["call_type"] == "web_call" and body["agent_id"] == "agent_one"
    assert body["call_status"] == "registered" and body["metadata"] == {"order": 7}
    assert body["access_token"] and body["call_id"] in fake.calls


@pytest.mark.parametrize("body, key, status", [
    (None, "wrong", 401),
    ({"agent_id": "agent_other"}, KEY, 404),
    ({}, KEY, 400),
    ({"agent_id": "agent_one", "metadata": "x"}, KEY, 400),
    ({"agent_id": "agent_one", "retell_llm_dynamic_variables": {"n": 1}}, KEY, 400),
])
def test_refuses_bad_requests(retell, body, key, status):
    fake, client, _, _ = retell
    response = create(client, body, key)
    assert response.status_code == status and response.json()["error_message"]
    assert fake.calls == {}
    assert fake.requests[-1]["status"] == status


def test_a_call_runs_until_the_client_hangs_up(retell):
    fake, client, port, _ = retell
    call = create(client).json()
    with connect(f"ws://127.0.0.1:{port}/v2/web-call?access_token={call['access_token']}") as ws:
        assert receive(ws) == {"event": "call_started", "call_id": call["call_id"]}
        events = [receive(ws) for _ in range(4)]
        assert [e["event"] for e in events] == ["call_ready", "agent_start_talking", "update", "agent_stop_talking"]
        assert events[2]["transcript"][0]["role"] == "agent"
        assert fake.calls[call["call_id"]].call_status == "ongoing"
        ws.send(json.dumps({"event": "hangup"}))
        assert receive(ws) == {"event": "call_ended", "reason": "user_hangup"}
    assert fake.calls[call["call_id"]].call_status == "ended"


def test_tokens_are_single_use(retell):
    _, client, port, _ = retell
    token = create(client).json()["access_token"]
    with connect(f"ws://127.0.0.1:{port}/v2/web-call?access_token={token}") as ws:
        assert receive(ws)["event"] == "call_started"
    with connect(f"ws://127.0.0.1:{port}/v2/web-call?access_token={token}") as ws:
        assert receive(ws)["event"] == "error"


def test_tokens_expire_after_thirty_seconds(retell):
    fake, client, port, clock = retell
    call = create(client).json()
    clock.now += TOKEN_TTL_SECONDS + 1
    with connect(f"ws://127.0.0.1:{port}/v2/web-call?access_token={call['access_token']}") as ws:
        assert receive(ws) == {"event": "error", "message": "invalid, used or expired access token"}
    assert fake.calls[call["call_id"]].end_reason == "access_token_expired"


def test_records_never_show_tokens_and_the_sdk_is_cross_origin(retell):
    _, client, _, _ = retell
    create(client)
    records = client.get("/__harness/calls").json()
    assert records["calls"][0]["access_token"] is None
    sdk = client.get("/sdk/retell-web-client.js")
    assert sdk.headers["content-type"].startswith("text/javascript")
    assert sdk.headers["access-control-allow-origin"] == "*"
    assert "export class RetellWebClient" in sdk.text
