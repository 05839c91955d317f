"""What a client's registry entry sets on its calls, through a running proxy: page variables
allow-listed, fixed variables and agent versions added, reserved metadata, consent."""

import json
import sqlite3

import pytest

from registry import Consent
from tests.proxy.conftest import REGISTRY
from tests.releases import manifest_json

SHOP = "https://shop.example"
BOLT = "https://bolt.example"
ENDPOINT = "/api/create-web-call"
CONSENT = Consent("Calls are recorded and transcribed. Agree?", "https://shop.example/privacy")
# The shop pins a release that sends page variables and asks consent; bolt keeps 1.0.0.
CONFIGURED = REGISTRY.replace('widget_version = "1.0.0"\nbrand_color = "#0f766e"', f'''widget_version = "2.9.0"
brand_color = "#0f766e"
variables = {{ client_name = "Shop", city = "Köln" }}
page_variables = ["customer_name", "page_path"]
agent_versions = {{ agent_shop = "prod" }}
consent = {{ text = "{CONSENT.text}", url = "{CONSENT.url}" }}
max_calls_per_day = 1''').replace('name = "Bolt"', 'name = "Bolt"\nagent_versions = { agent_bolt = 3 }')


@pytest.fixture
def registry_file(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text(CONFIGURED)
    return path


# 2.9.0 sends page variables and asks consent.
MANIFEST = manifest_json("1.0.0", "2.9.0", features={"2.9.0": ("bot-token", "consent", "dynamic-variables")})


@pytest.fixture
def manifest_file(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(MANIFEST))
    return path


def shop_body(**fields):
    return {"agent_id": "agent_shop", "consent_hash": CONSENT.hash, **fields}


REFUSED = [
    (shop_body(retell_llm_dynamic_variables={"customer_name": "Ada", "role": "admin"}), 400, "variable_not_allowed",
     "'role' is not a variable this website's pages may set (they may set: customer_name, page_path)"),
    (shop_body(retell_llm_dynamic_variables={"client_name": "Evil Corp"}), 400, "variable_not_allowed", "'client_name'"),
    (shop_body(metadata={"client_id": "bolt"}), 400, "metadata_reserved", "metadata key 'client_id' is reserved"),
    (shop_body(metadata={"origin": "https://bank.example"}), 400, "metadata_reserved", "metadata key 'origin'"),
    (shop_body(metadata={"consent_hash": CONSENT.hash}), 400, "metadata_reserved", "metadata key 'consent_hash'"),
    (shop_body(agent_version=7), 400, "agent_version_not_allowed", "a page may not choose it"),
    (shop_body(agent_version="prod"), 400, "agent_version_not_allowed", "agent_versions"),
    (shop_body(consent_hash="not-a-hash"), 400, "invalid_consent_hash", "lowercase hex SHA-256"),
    ({"agent_id": "agent_shop"}, 403, "consent_required", "the visitor must agree to the current consent text"),
    (shop_body(consent_hash=Consent("Calls are recorded. Agree?", CONSENT.url).hash), 403, "consent_required",
     "not the hash of this website's current consent text"),  # stale: the text changed since
    (shop_body(consent_hash="f" * 64), 403, "consent_required", "the visitor must agree"),  # forged
]


def test_refused_before_any_budget_and_before_retell(proxy_factory, fake_retell):
    # One call a day for the shop, one an hour for its agent: a refusal that spent either would
    # leave the good create at the end refused. (One proxy for every case: each costs its stop.)
    proxy = proxy_factory(fake_retell[1], rate_limit_agent="1/hour")
    for body, status, code, words in REFUSED:
        response = proxy.post(ENDPOINT, json=body, headers={"Origin": SHOP})
        assert (response.status_code, response.json()["error"]) == (status, code), body
        assert words in response.json()["message"], body
        assert response.headers["access-control-allow-origin"] == SHOP
    assert fake_retell[0].requests == []
    assert proxy.post(ENDPOINT, json=shop_body(), headers={"Origin": SHOP}).status_code == 201


def test_a_create_carries_the_registrys_variables_version_and_metadata(proxy_factory, fake_retell, tmp_path):
    proxy = proxy_factory(fake_retell[1])
    body = shop_body(retell_llm_dynamic_variables={"customer_name": "Ada", "page_path": "/pricing"}, metadata={"page": "/"})
    response = proxy.post(ENDPOINT, json=body, headers={"Origin": SHOP})
    assert response.status_code == 201, response.text
    call = fake_retell[0].calls[response.json()["call_id"]]
    assert call.dynamic_variables == {"customer_name": "Ada", "page_path": "/pricing", "client_name": "Shop", "city": "Köln"}
    assert call.metadata == {"page": "/", "client_id": "shop", "origin": SHOP, "consent_hash": CONSENT.hash}
    assert fake_retell[0].requests[-1]["agent_version"] == "prod"  # a tag, as the registry pins it
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        rows = db.execute("SELECT client, call_id, consent_hash FROM usage WHERE outcome = 'created'").fetchall()
    assert rows == [("shop", call.call_id, CONSENT.hash)]


def test_a_client_without_page_variables_or_consent(proxy_factory, fake_retell, tmp_path):
    proxy = proxy_factory(fake_retell[1])
    refused = proxy.post(ENDPOINT, json={"agent_id": "agent_bolt", "retell_llm_dynamic_variables": {"name": "Ada"}},
                         headers={"Origin": BOLT})
    assert refused.status_code == 400 and refused.json()["message"].endswith("(they may set: none)")
    # A consent hash is ignored where no consent is asked (a remembered agreement, say).
    response = proxy.post(ENDPOINT, json={"agent_id": "agent_bolt", "consent_hash": "0" * 64}, headers={"Origin": BOLT})
    assert response.status_code == 201
    call = fake_retell[0].calls[response.json()["call_id"]]
    assert call.agent_version == 3 and call.dynamic_variables is None  # no variables: the field is left out
    assert call.metadata == {"client_id": "bolt", "origin": BOLT}
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        assert db.execute("SELECT consent_hash FROM usage WHERE outcome = 'created'").fetchall() == [(None,)]


def test_a_server_with_the_credential_follows_the_same_rules(proxy_factory, fake_retell):
    from proxy.settings import Secret

    token = "server-token-0123456789abcdef"
    proxy = proxy_factory(fake_retell[1], server_token=Secret(token))
    headers = {"Authorization": f"Bearer {token}"}
    refused = proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"] == "consent_required"
    assert fake_retell[0].requests == []
    response = proxy.post(ENDPOINT, json=shop_body(), headers=headers)
    assert response.status_code == 201
    assert fake_retell[0].calls[response.json()["call_id"]].metadata == {"client_id": "shop", "origin": None,
                                                                         "consent_hash": CONSENT.hash}
