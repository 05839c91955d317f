import json
from dataclasses import replace

import pytest

from proxy.refusal import Refusal
from proxy.validation import MAX_METADATA_BYTES, CreateRequest, InvalidBody, check_for, parse_create
from registry import Client, Consent, FrozenMap, OriginPattern, parse_origin


def parse(payload) -> CreateRequest:
    return parse_create(json.dumps(payload).encode())


CLIENT = Client("shop", "Shop", (OriginPattern.parse("https://shop.example"),), ("agent_a",), "purple", "bottom-right",
                "1.0.0", "#0f766e")
SHOP = parse_origin("https://shop.example")
THEIRS = {"client_id": "shop", "origin": "https://shop.example"}


def test_keeps_only_the_fields_it_checked():
    wanted = parse({"agent_id": "agent_a", "metadata": {"page": "/pricing"}, "retell_llm_dynamic_variables": {"name": "Ada"},
                    "call_type": "phone_call", "override_agent_id": "agent_b", "api_key": "x"})
    client = replace(CLIENT, page_variables=("name",))
    assert wanted.upstream_body(client, SHOP) == {"agent_id": "agent_a", "metadata": {"page": "/pricing", **THEIRS},
                                                  "retell_llm_dynamic_variables": {"name": "Ada"}}
    assert parse({"agent_id": "agent_a"}).upstream_body(CLIENT, SHOP) == {"agent_id": "agent_a", "metadata": THEIRS}


def test_the_registry_sets_variables_version_and_metadata():
    consent = Consent("Calls are recorded.", "https://shop.example/privacy")
    client = replace(CLIENT, variables=FrozenMap({"client_name": "Shop"}), page_variables=("customer_name",),
                     agent_versions=FrozenMap({"agent_a": "prod"}), consent=consent)
    wanted = parse({"agent_id": "agent_a", "retell_llm_dynamic_variables": {"customer_name": "Ada"}, "metadata": {"p": 1},
                    "consent_hash": consent.hash})
    check_for(wanted, client)
    assert wanted.upstream_body(client, SHOP) == {
        "agent_id": "agent_a", "agent_version": "prod",
        "retell_llm_dynamic_variables": {"customer_name": "Ada", "client_name": "Shop"},
        "metadata": {"p": 1, **THEIRS, "consent_hash": consent.hash}}
    # A server holding the credential has no origin: the key is there, empty.
    assert parse({"agent_id": "agent_a"}).upstream_body(replace(client, consent=None), None)["metadata"] == \
        {"client_id": "shop", "origin": None}
    # The fixed variables win even if a page's got through.
    forged = CreateRequest("agent_a", dynamic_variables={"client_name": "Evil"})
    assert forged.upstream_body(client, SHOP)["retell_llm_dynamic_variables"] == {"client_name": "Shop"}


@pytest.mark.parametrize("variables, key", [({"client_name": "Evil"}, "client_name"), ({"customer_name": "Ada", "x": "y"}, "x")])
def test_a_variable_the_client_does_not_list_is_refused_by_name(variables, key):
    client = replace(CLIENT, variables=FrozenMap({"client_name": "Shop"}), page_variables=("customer_name", "page_path"))
    with pytest.raises(InvalidBody) as info:
        check_for(parse({"agent_id": "agent_a", "retell_llm_dynamic_variables": variables}), client)
    assert (info.value.status, info.value.code) == (400, "variable_not_allowed")
    assert info.value.message == (f"retell_llm_dynamic_variables: '{key}' is not a variable this website's pages may set "
                                  "(they may set: customer_name, page_path)")
    with pytest.raises(InvalidBody, match=r"\(they may set: none\)"):
        check_for(parse({"agent_id": "agent_a", "retell_llm_dynamic_variables": {"a": "b"}}), CLIENT)


@pytest.mark.parametrize("sent, words", [
    (None, "this website asks the visitor's consent first"),
    (Consent("Calls were recorded.", "https://x.example").hash, "not the hash of this website's current consent text"),  # stale
    ("0" * 64, "not the hash of this website's current consent text"),  # forged
])
def test_a_client_with_consent_needs_the_hash_of_its_current_text(sent, words):
    client = replace(CLIENT, consent=Consent("Calls are recorded.", "https://shop.example/privacy"))
    with pytest.raises(Refusal) as info:
        check_for(parse({"agent_id": "agent_a", "consent_hash": sent}), client)
    assert (info.value.status, info.value.code) == (403, "consent_required")
    assert words in info.value.message and "the visitor must agree to the current consent text" in info.value.message
    # Without consent, a well-formed hash is ignored.
    check_for(parse({"agent_id": "agent_a", "consent_hash": "0" * 64}), CLIENT)


@pytest.mark.parametrize("body, code, words", [
    (b"", "invalid_json", "not valid JSON"),
    (b"NaN", "invalid_json", "not valid JSON"),
    (b'{"agent_id": Infinity}', "invalid_json", "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json", "not valid JSON"),
    (b"1" * 5000, "invalid_json", "not valid JSON"),  # past Python's int digit limit
    (b'"agent_a"', "invalid_body", "JSON object"),
    (b"null", "invalid_body", "JSON object"),
    (b"{}", "invalid_agent_id", "agent_id"),
    (b'{"agent_id": ""}', "invalid_agent_id", "agent_id"),
    (b'{"agent_id": ["agent_a"]}', "invalid_agent_id", "agent_id"),
    (json.dumps({"agent_id": "a" * 129}).encode(), "invalid_agent_id", "1-128"),
    (b'{"agent_id": "agent a"}', "invalid_agent_id", "agent_id"),
    (b'{"agent_id": "agent_a", "metadata": "x"}', "invalid_metadata", "JSON object"),
    (b'{"agent_id": "agent_a", "metadata": [1]}', "invalid_metadata", "JSON object"),
    (b'{"agent_id": "agent_a", "metadata": {"a": {"b": {"c": {"d": {"e": 1}}}}}}', "invalid_metadata", "nest"),
    (b'{"agent_id": "agent_a", "metadata": {"__proto__": {"admin": true}}}', "invalid_metadata", "__proto__"),
    (b'{"agent_id": "agent_a", "metadata": {"a": [{"constructor": {"prototype": 1}}]}}', "invalid_metadata", "constructor"),
    (json.dumps({"agent_id": "agent_a", "metadata": {"k": "x" * MAX_METADATA_BYTES}}).encode(), "invalid_metadata", "bytes"),
    (b'{"agent_id": "agent_a", "retell_llm_dynamic_variables": "x"}', "invalid_dynamic_variables", "object"),
    (b'{"agent_id": "agent_a", "retell_llm_dynamic_variables": {"n": 1}}', "invalid_dynamic_variables", "strings"),
    (b'{"agent_id": "agent_a", "retell_llm_dynamic_variables": {"__proto__": "x"}}', "invalid_dynamic_variables", "identifiers"),
    (b'{"agent_id": "agent_a", "retell_llm_dynamic_variables": {"a b": "x"}}', "invalid_dynamic_variables", "identifiers"),
    (json.dumps({"agent_id": "agent_a", "retell_llm_dynamic_variables": {"v": "x" * 513}}).encode(), "invalid_dynamic_variables", "bytes"),
    (json.dumps({"agent_id": "agent_a", "retell_llm_dynamic_variables": {f"v{i}": "x" for i in range(33)}}).encode(),
     "invalid_dynamic_variables", "at most 32"),
    (b'{"agent_id": "agent_a", "agent_version": 3}', "agent_version_not_allowed",
     "agent_version is set per agent in the registry (agent_versions); a page may not choose it"),
    (b'{"agent_id": "agent_a", "agent_version": "prod"}', "agent_version_not_allowed", "agent_versions"),
    (b'{"agent_id": "agent_a", "metadata": {"client_id": "bolt"}}', "metadata_reserved",
     "metadata key 'client_id' is reserved: the proxy sets it on every call"),
    (b'{"agent_id": "agent_a", "metadata": {"page": "/", "origin": "https://bank.example"}}', "metadata_reserved",
     "metadata key 'origin' is reserved"),
    (b'{"agent_id": "agent_a", "metadata": {"consent_hash": "x"}}', "metadata_reserved", "metadata key 'consent_hash'"),
    (b'{"agent_id": "agent_a", "consent_hash": "yes"}', "invalid_consent_hash",
     "consent_hash must be the lowercase hex SHA-256 of the consent text (64 characters)"),
    (json.dumps({"agent_id": "agent_a", "consent_hash": "A" * 64}).encode(), "invalid_consent_hash", "lowercase hex"),
    (b'{"agent_id": "agent_a", "consent_hash": true}', "invalid_consent_hash", "consent_hash"),
])
def test_every_rule_has_a_code_and_a_clear_message(body, code, words):
    with pytest.raises(InvalidBody) as info:
        parse_create(body)
    assert info.value.code == code
    assert words in info.value.message


def test_null_optional_fields_are_left_out():
    wanted = parse({"agent_id": "agent_a", "metadata": None, "retell_llm_dynamic_variables": None, "agent_version": None,
                    "consent_hash": None})
    assert wanted.upstream_body(CLIENT, SHOP) == {"agent_id": "agent_a", "metadata": THEIRS}
