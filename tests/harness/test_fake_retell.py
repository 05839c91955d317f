from __future__ import annotations

import base64
import json

import httpx
import pytest

from harness.call import Call
from harness.fake_retell import TOKEN_TTL_SECONDS, FakeRetell, Refusal
from tests.conftest import Swappable, running

KEY = "key_fake_123"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server():
    """One server for the module, each test's own fake served through it (a stop costs 0.2 s)."""
    app = Swappable()
    with running(app, lifespan="off") as port:
        yield app, port


@pytest.fixture
def retell(server):
    clock = Clock()
    fake = FakeRetell(KEY, frozenset({"agent_one"}), clock=clock)
    app, port = server
    with app.serving(fake.app()), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield fake, client, port, clock


def create(client, body=None, key=KEY):
    return client.post("/v2/create-web-call", json={"agent_id": "agent_one"} if body is None else body,
                       headers={"Authorization": f"Bearer {key}"})


def test_creates_a_registered_web_call_with_the_documented_fields(retell):
    fake, client, _, _ = retell
    response = create(client, {"agent_id": "agent_one", "metadata": {"order": 7}})
    assert response.status_code == 201
    body = response.json()
    assert body["call_type"] == "web_call" and body["agent_id"] == "agent_one"
    assert body["call_status"] == "registered" and body["metadata"] == {"order": 7}
    assert body["access_token"] and body["call_id"] in fake.calls


def test_records_what_each_call_was_created_with(retell):
    fake, client, _, _ = retell
    given = {"agent_version": "prod", "metadata": {"client_id": "shop"}, "retell_llm_dynamic_variables": {"client_name": "Shop"}}
    body = create(client, {"agent_id": "agent_one", **given, "current_state": None}).json()
    assert fake.requests[-1] == {"status": 201, "agent_id": "agent_one", **given}
    # The call object has the version as a number (the fake's agents have one, 0), and the rest as given.
    assert body["agent_version"] == 0 and body["metadata"] == given["metadata"]
    assert body["retell_llm_dynamic_variables"] == given["retell_llm_dynamic_variables"]
    assert create(client, {"agent_id": "agent_one", "agent_version": 3}).json()["agent_version"] == 3
    assert fake.requests[-1] == {"status": 201, "agent_id": "agent_one", "agent_version": 3}


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


def test_the_access_token_is_a_signed_room_token_that_joins_once_within_thirty_seconds(retell):
    fake, client, _, clock = retell
    body = create(client).json()
    header, claims, _ = body["access_token"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert decoded["video"]["room"] == body["call_id"] and decoded["video"]["roomJoin"] is True
    assert decoded["exp"] - decoded["nbf"] == TOKEN_TTL_SECONDS
    assert fake.check(body["access_token"]) is None
    call = fake.redeem(body["access_token"])
    assert isinstance(call, Call) and call.call_status == "ongoing" and call.start_timestamp
    assert isinstance(fake.redeem(body["access_token"]), Refusal)  # once

    late = create(client).json()
    clock.now += TOKEN_TTL_SECONDS + 0.5
    assert "expired" in fake.redeem(late["access_token"]).message
    assert fake.calls[late["call_id"]].disconnection_reason == "registered_call_timeout"


def test_a_forged_or_altered_token_is_refused(retell):
    fake, client, _, _ = retell
    token = create(client).json()["access_token"]
    head, _, signature = token.rpartition(".")
    for forged in ("", "x.y.z", head + "." + signature[::-1], head.replace("e", "f", 1) + "." + signature):
        assert isinstance(fake.redeem(forged), Refusal)


def test_records_never_show_tokens(retell):
    fake, client, _, _ = retell
    create(client)
    assert fake.records()["calls"][0]["access_token"] is None
    assert client.post("/__harness/calls").status_code in (404, 405)  # the control origin has the records


def test_records_keep_only_the_agents_and_host_asked_for():
    from harness.bots import FakeBots

    bots = FakeBots()
    fake = FakeRetell(KEY, frozenset({"agent_one", "agent_two"}), bots=bots)
    with running(fake.app()) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        create(client, {"agent_id": "agent_one"})
        create(client, {"agent_id": "agent_two"})
    bots.verifications += [{"page_host": "one.localhost", "success": True}, {"page_host": "two.localhost", "success": True}]
    mine = fake.records(frozenset({"agent_two"}), page_host="two.localhost")
    assert [r["agent_id"] for r in mine["requests"]] == ["agent_two"] and [c["agent_id"] for c in mine["calls"]] == ["agent_two"]
    assert mine["bot_verifications"] == [{"page_host": "two.localhost", "success": True}]
    assert len(fake.records()["requests"]) == 2 and len(fake.records()["bot_verifications"]) == 2
