import hashlib
from pathlib import Path

import pytest

import registry
from registry import Consent
from tests.registry.test_clients import GOOD, write
from tests.releases import release

# A client with every call field, on a release that can honour them all.
CALLS = '''variables = { client_name = "Acme Dental", city = "Köln" }
page_variables = ["customer_name", "page_path"]
agent_versions = { agent_a = 3 }
language = "de"
consent = { text = "Calls are recorded. Agree?", url = "https://acme.example/privacy" }'''
FULL = release("2.9.0", "bot-token", "consent", "dynamic-variables", languages=("en", "es", "de"))
BARE = release("2.1.0", languages=("en", "es", "de"))


def releases(*extra):
    return {r.version: r for r in (FULL, BARE, release("1.0.0"), *extra)}


def with_fields(fields: str, version: str = "2.9.0") -> str:
    text = GOOD.replace('widget_version = "1.0.0"', f'widget_version = "{version}"', 1)
    return text.replace('name = "Acme"', f'name = "Acme"\n{fields}')


def test_the_call_fields_load_and_default_to_nothing(tmp_path):
    acme, bolt = registry.load(write(tmp_path, with_fields(CALLS)), releases()).clients
    assert dict(acme.variables) == {"client_name": "Acme Dental", "city": "Köln"}
    assert acme.page_variables == ("customer_name", "page_path")
    assert dict(acme.agent_versions) == {"agent_a": 3}
    assert acme.language == "de"
    assert acme.consent == Consent("Calls are recorded. Agree?", "https://acme.example/privacy")
    assert (dict(bolt.variables), bolt.page_variables, dict(bolt.agent_versions), bolt.language, bolt.consent) == \
        ({}, (), {}, None, None)
    # Immutable, and the client is still a hashable value.
    with pytest.raises(TypeError):
        acme.variables["client_name"] = "x"  # type: ignore[index]
    assert len({acme, bolt}) == 2


def test_the_consent_hash_is_the_hex_sha256_of_the_utf8_text():
    consent = Consent("Wir zeichnen Anrufe auf. Einverstanden? ✓", "https://acme.example/datenschutz")
    assert consent.hash == hashlib.sha256(consent.text.encode("utf-8")).hexdigest()
    assert len(consent.hash) == 64 and consent.hash == consent.hash.lower()
    # The same as the widget's crypto.subtle.digest of TextEncoder's bytes, for a known text.
    assert Consent("abc", "https://x.example").hash == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_dump_reads_back_to_the_same_clients(tmp_path):
    fields = CALLS.replace('"Acme Dental"', '"Acme \\"Dental\\" 😀\\u007f\\nline"').replace(
        "agent_a = 3", 'agent_a = "prod-2"')
    loaded = registry.load(write(tmp_path, with_fields(fields)), releases())
    again = registry.load(write(tmp_path, registry.dump(loaded)), releases())
    assert again == loaded
    assert again.clients[0].variables["client_name"] == 'Acme "Dental" 😀\x7f\nline'
    assert again.clients[0].agent_versions["agent_a"] == "prod-2"


def test_sub_tables_are_read_and_their_problems_found_at_their_header(tmp_path):
    # A sub-table ends its client's own keys, so it comes after them.
    first, second = with_fields("").split("[[client]]")[1:]
    text = "[[client]]" + first + "[client.variables]\nclient_name = 7\n\n[[client]]" + second
    path = write(tmp_path, text)
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases())
    line = text.splitlines().index("[client.variables]") + 1
    assert info.value.errors == [f"{path}:{line}: client 'client-a': variable 'client_name' must be a string, not 7"]


@pytest.mark.parametrize("fields, key, message", [
    ('variables = "Acme"', "variables",
     "'variables' must be a table of names to strings, as variables = { name = \"...\" }"),
    ('variables = { "1st" = "x" }', "variables",
     "variable name '1st' is malformed (letters, digits and '_', not starting with a digit, at most 64)"),
    ('variables = { "client name" = "x" }', "variables", "variable name 'client name' is malformed"),
    (f'variables = {{ {"v" * 65} = "x" }}', "variables", f"variable name '{'v' * 65}' is malformed"),
    ('variables = { constructor = "x" }', "variables",
     "variable name 'constructor' is malformed (a name JavaScript objects reserve)"),
    ('variables = { client_name = 7 }', "variables", "variable 'client_name' must be a string, not 7"),
    (f'variables = {{ client_name = "{"x" * 501}" }}', "variables",
     "variable 'client_name' is 501 characters long; at most 500"),
    ("variables = { " + ", ".join(f'v{i} = "x"' for i in range(33)) + " }", "variables",
     "'variables' has 33 entries; at most 32"),
    ('page_variables = "customer_name"', "page_variables", "'page_variables' must be a list of variable names"),
    ('page_variables = [1]', "page_variables", "'page_variables' must be a list of variable names"),
    ('page_variables = ["page-path"]', "page_variables", "page variable name 'page-path' is malformed"),
    ('page_variables = ["__proto__"]', "page_variables",
     "page variable name '__proto__' is malformed (a name JavaScript objects reserve)"),
    ('page_variables = ["a", "b", "a"]', "page_variables", "page variable 'a' is listed twice"),
    ('page_variables = [' + ", ".join(f'"v{i}"' for i in range(33)) + "]", "page_variables",
     "'page_variables' has 33 names; at most 32"),
    ('variables = { client_name = "Acme" }\npage_variables = ["client_name"]', "page_variables",
     "'client_name' is a fixed variable; it cannot also be set by the page"),
    ('agent_versions = 3', "agent_versions",
     "'agent_versions' must be a table of agent ids to versions, as agent_versions = { agent_x = 3 }"),
    ('agent_versions = { agent_b1 = 3 }', "agent_versions",
     "agent_versions names 'agent_b1', which is not one of this client's agents"),
    ('agent_versions = { agent_a = -1 }', "agent_versions",
     "agent_versions.agent_a must be a version number (0 or more) or a tag of 1 to 128 characters, not -1"),
    ('agent_versions = { agent_a = 1.5 }', "agent_versions", "agent_versions.agent_a must be a version number"),
    ('agent_versions = { agent_a = true }', "agent_versions", "not True"),
    ('agent_versions = { agent_a = "" }', "agent_versions", "not ''"),
    ('agent_versions = { agent_a = " " }', "agent_versions", "not ' '"),
    (f'agent_versions = {{ agent_a = "{"t" * 129}" }}', "agent_versions", "a tag of 1 to 128 characters"),
    ('agent_versions = { agent_a = [3] }', "agent_versions", "not [3]"),
    ('language = "German"', "language", "'language' must be a language code such as 'de' or 'pt-BR', not 'German'"),
    ('language = "DE"', "language", "not 'DE'"),
    ('language = 49', "language", "not 49"),
    ('consent = "yes"', "consent",
     "'consent' must be a table with 'text' and 'url' only, as consent = { text = \"...\", url = \"https://...\" }"),
    ('consent = { text = "Agree?" }', "consent", "'consent' must be a table with 'text' and 'url' only"),
    ('consent = { text = "Agree?", url = "https://a.example", version = 2 }', "consent",
     "'consent' must be a table with 'text' and 'url' only"),
    ('consent = { text = " ", url = "https://a.example" }', "consent", "consent.text must be a non-empty string"),
    ('consent = { text = 7, url = "https://a.example" }', "consent", "consent.text must be a non-empty string"),
    (f'consent = {{ text = "{"x" * 1001}", url = "https://a.example" }}', "consent",
     "consent.text is 1001 characters long; at most 1000"),
    ('consent = { text = "Agree?", url = "http://a.example/privacy" }', "consent",
     "consent.url must be an absolute https URL, not 'http://a.example/privacy'"),
    ('consent = { text = "Agree?", url = "/privacy" }', "consent", "consent.url must be an absolute https URL"),
    ('consent = { text = "Agree?", url = "javascript:alert(1)" }', "consent", "consent.url must be an absolute https URL"),
    ('consent = { text = "Agree?", url = "https://a.example/pri vacy" }', "consent", "consent.url must be an absolute https URL"),
])
def test_each_bad_value_is_refused_at_its_line(tmp_path, fields, key, message):
    text = with_fields(fields)
    path = write(tmp_path, text)
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases())
    line = next(i + 1 for i, row in enumerate(text.splitlines()) if row.startswith(f"{key} ="))
    (error,) = info.value.errors
    assert error.startswith(f"{path}:{line}: client 'client-a': ") and message in error, error


@pytest.mark.parametrize("fields, key, message", [
    ('page_variables = ["customer_name"]', "page_variables",
     "page_variables needs a widget release with the 'dynamic-variables' feature; release 2.1.0 does not have it"),
    ('consent = { text = "Agree?", url = "https://a.example" }', "consent",
     "consent needs a widget release with the 'consent' feature; release 2.1.0 does not have it"),
    ('language = "fr"', "language", "language 'fr' needs a widget release whose strings know it; release 2.1.0 knows en, es, de"),
])
def test_a_field_the_pinned_release_cannot_honour_is_refused(tmp_path, fields, key, message):
    text = with_fields(fields, version="2.1.0")
    path = write(tmp_path, text)
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases())
    line = next(i + 1 for i, row in enumerate(text.splitlines()) if row.startswith(f"{key} ="))
    assert info.value.errors == [f"{path}:{line}: client 'client-a': {message}"]
    # Without releases only the form is checked.
    assert registry.load(path).clients[0].id == "client-a"


def test_fields_that_need_nothing_of_the_widget_work_on_any_release(tmp_path):
    fields = 'variables = { client_name = "Acme" }\npage_variables = []\nagent_versions = { agent_a = 0 }\nlanguage = "en"'
    client = registry.load(write(tmp_path, with_fields(fields, version="1.0.0")), releases()).clients[0]
    assert (dict(client.variables), client.page_variables, dict(client.agent_versions), client.language) == \
        ({"client_name": "Acme"}, (), {"agent_a": 0}, "en")


def test_the_unknown_field_message_lists_the_call_fields(tmp_path):
    path = write(tmp_path, with_fields('dynamic_variables = { a = "b" }'))
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases())
    (error,) = info.value.errors
    assert "unknown field 'dynamic_variables'" in error
    for name in ("variables", "page_variables", "agent_versions", "language", "consent"):
        assert name in error


def test_the_real_registry_dump_round_trips(tmp_path: Path):
    real = registry.load(Path(__file__).resolve().parents[2] / "site_src" / "clients.toml")
    assert registry.load(write(tmp_path, registry.dump(real))) == real
