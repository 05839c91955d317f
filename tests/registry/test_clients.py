from pathlib import Path

import pytest

import registry
from registry import parse_origin
from tests.releases import released

GOOD = '''
[[client]]
id = "client-a"
name = "Acme"
origins = ["https://acme.example", "https://*.acme.example"]
agents = ["agent_a"]
theme = "purple"
position = "bottom-right"
widget_version = "1.0.0"
brand_color = "#0F766E"

[[client]]
id = "client-b"
name = "Bolt"
origins = ["https://bolt.example"]
agents = ["agent_b1", "agent_b2"]
theme = "blue"
position = "top-left"
widget_version = "1.0.0"
brand_color = "#b91c1c"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(text)
    return path


def test_loads_clients_and_binds_agents(tmp_path):
    reg = registry.load(write(tmp_path, GOOD), releases=released("1.0.0"))
    assert [c.id for c in reg.clients] == ["client-a", "client-b"]
    assert reg.client_for_agent("agent_b2").id == "client-b"
    assert reg.client_for_agent("agent_nobody") is None
    assert reg.client_for_origin(parse_origin("https://www.acme.example")).id == "client-a"
    assert reg.client_for_origin(parse_origin("https://evil.example")) is None
    assert reg.clients[0].brand_color == "#0f766e"


def test_the_real_registry_is_valid():
    reg = registry.load(Path(__file__).resolve().parents[2] / "site_src" / "clients.toml")
    assert len(reg.clients) >= 2


def test_reports_every_error_at_once_with_file_and_line(tmp_path):
    text = GOOD.replace('theme = "blue"', 'theme = "rainbow"').replace(
        '"https://bolt.example"', '"https://bolt.example/shop"').replace(
        '"agent_b1"', '"agent_a"').replace('widget_version = "1.0.0"\nbrand_color = "#b91c1c"', 'widget_version = "9.9.9"')
    path = write(tmp_path, text)
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases=released("1.0.0"))
    errors = info.value.errors
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i + 1 for i, line in enumerate(lines) if fragment in line)

    assert f"{path}:{line_of('rainbow')}: client 'client-b': 'theme' must be one of" in "\n".join(errors)
    assert any(e.startswith(f"{path}:{line_of('bolt.example/shop')}:") and "malformed" in e for e in errors)
    assert any("agent 'agent_a' is already claimed by client 'client-a'" in e for e in errors)
    assert any("'9.9.9' is not a released version" in e for e in errors)
    assert any("missing field 'brand_color'" in e for e in errors)
    assert len(errors) == 5


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('id = "client-b"', 'id = "client-a"'), "id 'client-a' is used by another client"),
    (lambda t: t.replace('agents = ["agent_a"]', 'agents = []'), "'agents' must be a non-empty list"),
    (lambda t: t.replace('agents = ["agent_a"]', 'agents = ["agent a"]'), "agent id 'agent a' is malformed"),
    # "$" matches before a final newline: identifiers are matched whole.
    (lambda t: t.replace('agents = ["agent_a"]', 'agents = ["agent_a\\n"]'), "agent id 'agent_a\n' is malformed"),
    (lambda t: t.replace('id = "client-a"', 'id = "client-a\\n"'), "'id' value 'client-a\n' is malformed"),
    (lambda t: t.replace('"https://acme.example", ', '"null", '), "origin 'null' is malformed"),
    (lambda t: t.replace('name = "Acme"', 'name = "Acme"\nowner = "x"'), "unknown field 'owner'"),
    (lambda t: t.replace('brand_color = "#0F766E"', 'brand_color = "teal"'), "'brand_color' value 'teal' is malformed"),
    (lambda t: t.replace('id = "client-a"', 'id = "Client A"'), "'id' value 'Client A' is malformed"),
    # v1 has four themes; rose and teal came with v2.
    (lambda t: t.replace('theme = "purple"', 'theme = "rose"'), "theme 'rose' needs widget_version 2.0.0 or later, not '1.0.0'"),
])
def test_rejects_invalid_entries(tmp_path, edit, message):
    with pytest.raises(registry.RegistryError, match=message):
        registry.load(write(tmp_path, edit(GOOD)))


def test_themes_that_v2_added_are_accepted_for_clients_pinned_to_v2(tmp_path):
    text = GOOD.replace('theme = "blue"', 'theme = "teal"').replace(
        'widget_version = "1.0.0"\nbrand_color = "#b91c1c"', 'widget_version = "2.0.0"\nbrand_color = "#b91c1c"')
    loaded = registry.load(write(tmp_path, text))
    assert [(c.theme, c.widget_version) for c in loaded.clients] == [("purple", "1.0.0"), ("teal", "2.0.0")]


def test_rejects_invalid_toml_with_its_line(tmp_path):
    path = write(tmp_path, GOOD + "\n[[client]\n")
    with pytest.raises(registry.RegistryError, match=rf"{path}:\d+: invalid TOML"):
        registry.load(path)


def test_rejects_an_empty_registry(tmp_path):
    with pytest.raises(registry.RegistryError, match="at least one"):
        registry.load(write(tmp_path, "# nothing\n"))


def test_rejects_clients_that_are_not_tables(tmp_path):
    with pytest.raises(registry.RegistryError, match="array of \\[\\[client\\]\\] tables"):
        registry.load(write(tmp_path, 'client = ["client-a"]\n'))


def test_optional_looks_default_and_load(tmp_path):
    reg = registry.load(write(tmp_path, GOOD.replace('name = "Bolt"', 'name = "Bolt"\ntagline = "Ride on"\nfont = "mono"\nlogo_text = "BOLT"')))
    acme, bolt = reg.clients
    assert (acme.tagline, acme.font, acme.logo_text) == ("", "sans", "")
    assert (bolt.tagline, bolt.font, bolt.logo_text) == ("Ride on", "mono", "BOLT")


@pytest.mark.parametrize("extra, message", [
    ('font = "comic"', "'font' must be one of sans, serif, rounded, mono, not 'comic'"),
    ('tagline = ""', "'tagline' must be a non-empty string"),
    (f'tagline = "{"x" * 121}"', "'tagline' is 121 characters long; at most 120 fit the demo page"),
    (f'logo_text = "{"x" * 25}"', "'logo_text' is 25 characters long; at most 24 fit the demo page"),
    ('logo_text = 7', "'logo_text' must be a non-empty string"),
])
def test_rejects_bad_optional_looks(tmp_path, extra, message):
    path = write(tmp_path, GOOD.replace('name = "Acme"', f'name = "Acme"\n{extra}'))
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path)
    # Reported at the line of the offending key.
    assert info.value.errors == [f"{path}:5: client 'client-a': {message}"]


def test_quotas_are_optional_whole_numbers_and_survive_a_dump(tmp_path):
    reg = registry.load(write(tmp_path, GOOD.replace('name = "Bolt"', 'name = "Bolt"\nmax_calls_per_day = 500\nmax_minutes_per_month = 3000')))
    acme, bolt = reg.clients
    assert (acme.max_calls_per_day, acme.max_minutes_per_month) == (None, None)
    assert (bolt.max_calls_per_day, bolt.max_minutes_per_month) == (500, 3000)
    again = registry.load(write(tmp_path, registry.dump(reg)))
    assert again.clients == reg.clients


@pytest.mark.parametrize("extra", ["max_calls_per_day = 0", "max_calls_per_day = -3", 'max_calls_per_day = "100"',
                                   "max_minutes_per_month = true", "max_minutes_per_month = 1.5",
                                   "max_minutes_per_month = 10000001"])
def test_rejects_a_quota_that_is_not_a_whole_number_in_range(tmp_path, extra):
    path = write(tmp_path, GOOD.replace('name = "Acme"', f'name = "Acme"\n{extra}'))
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path)
    key, _, value = extra.partition(" = ")
    (error,) = info.value.errors
    assert error.startswith(f"{path}:5: client 'client-a': '{key}' must be a whole number from 1 to 10000000, not ")


def test_a_bot_check_names_its_provider_and_site_key(tmp_path):
    text = GOOD.replace('widget_version = "1.0.0"', 'widget_version = "1.2.0"').replace('name = "Acme"', 'name = "Acme"\nbot_check = "turnstile"\nbot_site_key = "0x4AAAAAAA_site"')
    text = text.replace('name = "Bolt"', 'name = "Bolt"\nbot_check = "recaptcha"\nbot_site_key = "6Lc-key"\nbot_min_score = 0.7')
    reg = registry.load(write(tmp_path, text))
    acme, bolt = reg.clients
    assert (acme.bot_check, acme.bot_site_key, acme.bot_min_score) == ("turnstile", "0x4AAAAAAA_site", None)
    assert (bolt.bot_check, bolt.bot_site_key, bolt.bot_min_score) == ("recaptcha", "6Lc-key", 0.7)
    assert registry.load(write(tmp_path, registry.dump(reg))).clients == reg.clients


@pytest.mark.parametrize("extra, message", [
    ('bot_check = "hcaptcha"\nbot_site_key = "k"', "'bot_check' must be one of turnstile, recaptcha, not 'hcaptcha'"),
    ('bot_check = "turnstile"', "'bot_check' needs 'bot_site_key', the provider's public site key"),
    ('bot_site_key = "k"', "'bot_site_key' and 'bot_min_score' need 'bot_check'"),
    ('bot_check = "turnstile"\nbot_site_key = "a key"', "'bot_site_key' must be 1 to 128 letters, digits, '_' or '-'"),
    ('bot_check = "turnstile"\nbot_site_key = "k"\nbot_min_score = 0.5', "'bot_min_score' applies to bot_check = \"recaptcha\" only"),
    ('bot_check = "recaptcha"\nbot_site_key = "k"\nbot_min_score = 1.5', "'bot_min_score' must be a number from 0.0 to 1.0, not 1.5"),
])
def test_rejects_a_bot_check_that_cannot_work(tmp_path, extra, message):
    text = GOOD.replace('widget_version = "1.0.0"', 'widget_version = "1.2.0"', 1)
    path = write(tmp_path, text.replace('name = "Acme"', f'name = "Acme"\n{extra}'))
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path)
    assert [e.split(": ", 2)[2] for e in info.value.errors] == [message]


@pytest.mark.parametrize("version, ok", [("1.1.0", False), ("1.2.0", True), ("2.1.0", False), ("2.2.0", True),
                                         ("3.0.0", True), ("3.1.0", False)])
def test_a_bot_check_needs_a_widget_release_that_sends_the_token(tmp_path, version, ok):
    # What a release can do comes with the releases: 3.0.0 lists bot-token, 3.1.0 does not.
    releases = released("1.1.0", "1.2.0", "2.1.0", "2.2.0", "3.0.0", "3.1.0", bot_token=("1.2.0", "2.2.0", "3.0.0"))
    text = GOOD.replace('widget_version = "1.0.0"', f'widget_version = "{version}"', 1).replace('widget_version = "1.0.0"', 'widget_version = "1.1.0"')
    path = write(tmp_path, text.replace('name = "Acme"', 'name = "Acme"\nbot_check = "turnstile"\nbot_site_key = "k"'))
    if ok:
        assert registry.load(path, releases).clients[0].bot_check == "turnstile"
        return
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases)
    line = text.splitlines().index('name = "Acme"') + 2
    assert info.value.errors == [f"{path}:{line}: client 'client-a': bot_check needs a widget release with the 'bot-token' "
                                 f"feature; release {version} does not have it"]


def test_without_releases_a_bot_check_is_checked_for_its_form_only(tmp_path):
    text = GOOD.replace('name = "Acme"', 'name = "Acme"\nbot_check = "turnstile"\nbot_site_key = "k"')
    assert registry.load(write(tmp_path, text)).clients[0].bot_check == "turnstile"


@pytest.mark.parametrize("second_origin, first", [
    ("https://acme.example", "https://acme.example"),
    ("https://www.acme.example", "https://*.acme.example"),
    ("https://*.shop.acme.example", "https://*.acme.example"),
])
def test_two_clients_may_not_share_an_origin_and_the_message_names_both(tmp_path, second_origin, first):
    path = write(tmp_path, GOOD.replace('origins = ["https://bolt.example"]', f'origins = ["https://bolt.example", "{second_origin}"]'))
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path)
    (error,) = info.value.errors
    lines = GOOD.splitlines()
    first_line = next(i + 1 for i, line in enumerate(lines) if line.startswith("origins") and "acme" in line)
    second_line = next(i + 1 for i, line in enumerate(lines) if line.startswith("origins") and "bolt" in line)
    assert error == (f"{path}:{second_line}: client 'client-b': origin '{second_origin}' overlaps '{first}' of "
                     f"client 'client-a' ({path}:{first_line}); an origin belongs to one client")


def test_versions_follow_semver_with_pre_releases(tmp_path):
    text = GOOD.replace('widget_version = "1.0.0"\nbrand_color = "#b91c1c"', 'widget_version = "2.0.0-beta.1"\nbrand_color = "#b91c1c"')
    assert registry.load(write(tmp_path, text), releases=released("1.0.0", "2.0.0-beta.1")).clients[1].version.line == "v2"
    with pytest.raises(registry.RegistryError, match="'widget_version' value '2.0' is malformed"):
        registry.load(write(tmp_path, GOOD.replace('widget_version = "1.0.0"', 'widget_version = "2.0"', 1)))


def test_an_overlap_is_reported_with_the_clients_other_problems_in_line_order(tmp_path):
    # client-b has an unknown widget_version too, and client-a a problem of its own: neither
    # hides the overlap, and the errors come out in the file's order, not the checks'.
    text = GOOD.replace('origins = ["https://bolt.example"]', 'origins = ["https://www.acme.example"]').replace(
        'widget_version = "1.0.0"\nbrand_color = "#b91c1c"', 'widget_version = "9.9.9"\nbrand_color = "#b91c1c"').replace(
        'theme = "purple"', 'theme = "rainbow"')
    path = write(tmp_path, text)
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path, releases=released("1.0.0"))
    lines = text.splitlines()
    found = [(int(e.split(":")[1]), e) for e in info.value.errors]
    assert [line for line, _ in found] == sorted(line for line, _ in found)
    assert [lines[line - 1].split(" =")[0] for line, _ in found] == ["theme", "origins", "widget_version"]
    assert "origin 'https://www.acme.example' overlaps 'https://*.acme.example' of client 'client-a'" in found[1][1]
    assert "widget_version '9.9.9' is not a released version" in found[2][1]


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "http://127.1.2.3", "http://[::1]:8000",
                                    "http://localhost:3000", "http://client-a.localhost:8101",
                                    "http://*.dev.localhost:8101"])
def test_plain_http_origins_are_accepted_on_loopback(tmp_path, origin):
    text = GOOD.replace('origins = ["https://bolt.example"]', f'origins = ["https://bolt.example", "{origin}"]')
    assert str(registry.load(write(tmp_path, text)).clients[1].origins[1]) == origin


@pytest.mark.parametrize("origin", ["http://bolt.example", "http://*.bolt.example", "http://10.0.0.5:8000",
                                    "http://localhost.bolt.example", "http://[::2]"])
def test_plain_http_origins_elsewhere_are_refused_as_they_would_have_no_microphone(tmp_path, origin):
    text = GOOD.replace('origins = ["https://bolt.example"]', f'origins = ["https://bolt.example", "{origin}"]')
    path = write(tmp_path, text)
    with pytest.raises(registry.RegistryError) as info:
        registry.load(path)
    line = next(i + 1 for i, text_line in enumerate(text.splitlines()) if origin in text_line)
    assert info.value.errors == [
        f"{path}:{line}: client 'client-b': origin '{origin}' is plain http, where browsers offer no microphone: "
        "use https:// (http:// is for development on loopback only: 127.0.0.1, [::1], localhost or a name under "
        ".localhost)"]
