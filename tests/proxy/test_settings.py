import pytest

from proxy.settings import Secret, SettingsError, load_settings


def test_loads_from_the_environment(tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text("")
    settings = load_settings({"RETELL_API_KEY": "key_abc", "RETELL_BASE_URL": "http://127.0.0.1:9/",
                              "PROXY_REGISTRY": str(registry), "PROXY_UPSTREAM_TIMEOUT": "2.5"})
    assert settings.retell_api_key.reveal() == "key_abc"
    assert settings.retell_base_url == "http://127.0.0.1:9"
    assert settings.upstream_timeout == 2.5


def test_reports_every_problem_at_once(tmp_path):
    with pytest.raises(SettingsError) as info:
        load_settings({"RETELL_BASE_URL": "api.retellai.com", "PROXY_REGISTRY": str(tmp_path / "none.toml"),
                       "PROXY_UPSTREAM_TIMEOUT": "soon"})
    text = str(info.value)
    assert "RETELL_API_KEY is not set" in text
    assert "RETELL_BASE_URL must be an absolute http(s) URL" in text
    assert "PROXY_REGISTRY: no registry file" in text
    assert "PROXY_UPSTREAM_TIMEOUT must be seconds" in text
    assert len(info.value.errors) == 4


def test_the_key_never_shows_itself():
    secret = Secret("key_very_secret")
    assert "key_very_secret" not in repr(secret) + str(secret) + f"{secret}" + repr([secret])
