import json

import pytest

from proxy.validation import MAX_METADATA_BYTES, CreateRequest, InvalidBody, parse_create


def parse(payload) -> CreateRequest:
    return parse_create(json.dumps(payload).encode())


def test_keeps_only_the_fields_it_checked():
    wanted = parse({"agent_id": "agent_a", "metadata": {"page": "/pricing"}, "retell_llm_dynamic_variables": {"name": "Ada"},
                    "call_type": "phone_call", "override_agent_id": "agent_b", "api_key": "x"})
    assert wanted.upstream_body() == {"agent_id": "agent_a", "metadata": {"page": "/pricing"},
                                      "retell_llm_dynamic_variables": {"name": "Ada"}}
    assert parse({"agent_id": "agent_a"}).upstream_body() == {"agent_id": "agent_a"}


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
])
def test_every_rule_has_a_code_and_a_clear_message(body, code, words):
    with pytest.raises(InvalidBody) as info:
        parse_create(body)
    assert info.value.code == code
    assert words in info.value.message


def test_null_optional_fields_are_left_out():
    assert parse({"agent_id": "agent_a", "metadata": None, "retell_llm_dynamic_variables": None}).upstream_body() == {"agent_id": "agent_a"}
