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
                       "PROXY_UPSTREAM_TIMEOUT": "soon", "RETELL_CREATE_WEB_CALL_PATH": "v2/create-web-call?x=1"})
    text = str(info.value)
    assert "RETELL_API_KEY is not set" in text
    assert "RETELL_BASE_URL must be an absolute http(s) URL" in text
    assert "PROXY_REGISTRY: no registry file" in text
    assert "PROXY_UPSTREAM_TIMEOUT must be seconds" in text
    assert "RETELL_CREATE_WEB_CALL_PATH must be an absolute URL path such as /v2/create-web-call" in text
    assert len(info.value.errors) == 5


def test_the_key_never_shows_itself():
    secret = Secret("key_very_secret")
    assert "key_very_secret" not in repr(secret) + str(secret) + f"{secret}" + repr([secret])


def test_every_variable_is_parsed_and_typed(tmp_path):
    import ipaddress

    registry = tmp_path / "clients.toml"
    registry.write_text("")
    settings = load_settings({
        "RETELL_API_KEY": "key_abc", "PROXY_REGISTRY": str(registry), "PROXY_MAX_BODY_BYTES": "4096",
        "PROXY_RATE_LIMIT_IP": "5/second;100/hour", "PROXY_RATE_LIMIT_AGENT": "10 per minute",
        "PROXY_RATE_LIMIT_STORAGE": "redis://:pw@redis.internal:6379/1", "PROXY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
        "PROXY_SERVER_TOKEN": "s" * 16, "PROXY_ADMIN_TOKEN": "a" * 20, "PROXY_USAGE_DB": "off",
        "PROXY_USAGE_COMMIT_WAIT": "0", "PROXY_MANIFEST": "/srv/cdn/manifest.json", "PROXY_RELOAD_INTERVAL": "5",
        "PROXY_LOG_LEVEL": "debug",
    })
    assert settings.max_body_bytes == 4096
    assert settings.rate_limit_ip == "5/second;100/hour"
    assert settings.rate_limit_storage == "redis://:pw@redis.internal:6379/1"
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"))
    assert settings.server_token.reveal() == "s" * 16 and settings.admin_token.reveal() == "a" * 20
    assert settings.usage_database is None and settings.usage_commit_wait == 0
    assert str(settings.manifest_path) == "/srv/cdn/manifest.json" and settings.reload_interval == 5
    assert settings.log_level == "DEBUG"


def test_defaults_record_usage_and_refuse_origin_less_requests(tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text("")
    settings = load_settings({"RETELL_API_KEY": "key_abc", "PROXY_REGISTRY": str(registry)})
    assert settings.usage_database == "usage.sqlite3"
    assert settings.server_token is None and settings.admin_token is None
    assert settings.rate_limit_storage == "memory://" and settings.trusted_proxies == ()


def test_bad_values_are_all_reported_and_secrets_not_echoed(tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text("")
    with pytest.raises(SettingsError) as info:
        load_settings({"RETELL_API_KEY": "key_abc", "PROXY_REGISTRY": str(registry), "PROXY_MAX_BODY_BYTES": "lots",
                       "PROXY_RATE_LIMIT_IP": "fast", "PROXY_RATE_LIMIT_STORAGE": "mysql://db", "PROXY_TRUSTED_PROXIES": "10.0.0.300",
                       "PROXY_SERVER_TOKEN": "short-secret", "PROXY_USAGE_DB": " ", "PROXY_LOG_LEVEL": "loud",
                       "PROXY_RELOAD_INTERVAL": "-1", "PROXY_USAGE_COMMIT_WAIT": "60"})
    errors = info.value.errors
    assert len(errors) == 9
    assert any(e.startswith("PROXY_MAX_BODY_BYTES must be a byte count") for e in errors)
    assert any(e.startswith("PROXY_RATE_LIMIT_IP must be a rate such as") for e in errors)
    assert any(e.startswith("PROXY_RATE_LIMIT_STORAGE must be memory:// or redis://") for e in errors)
    assert any(e.startswith("PROXY_TRUSTED_PROXIES must be comma-separated") for e in errors)
    assert "PROXY_SERVER_TOKEN must be at least 16 characters, got <hidden>" in errors
    assert "short-secret" not in str(info.value)


def test_the_abuse_limits_are_parsed_and_bad_values_named_together(tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text("")
    base = {"RETELL_API_KEY": "key_abc", "PROXY_REGISTRY": str(registry)}
    good = load_settings({**base, "PROXY_IPV6_PREFIX": "56", "PROXY_HEADER_TIMEOUT": "2.5", "PROXY_BODY_TIMEOUT": "3",
                          "PROXY_KEEP_ALIVE": "7", "PROXY_MAX_CONNECTIONS": "250", "PROXY_PER_IP_CONCURRENCY": "2"})
    assert (good.ipv6_prefix, good.header_timeout, good.body_timeout, good.keep_alive, good.max_connections,
            good.per_ip_concurrency) == (56, 2.5, 3, 7, 250, 2)
    with pytest.raises(SettingsError) as info:
        load_settings({**base, "PROXY_IPV6_PREFIX": "16", "PROXY_HEADER_TIMEOUT": "0", "PROXY_BODY_TIMEOUT": "never",
                       "PROXY_KEEP_ALIVE": "301", "PROXY_MAX_CONNECTIONS": "5", "PROXY_PER_IP_CONCURRENCY": "0"})
    text = str(info.value)
    assert "PROXY_IPV6_PREFIX must be a prefix length from 32 to 128" in text
    assert "PROXY_HEADER_TIMEOUT must be seconds between 0.1 and 120" in text
    assert "PROXY_BODY_TIMEOUT must be seconds between 0.1 and 120" in text
    assert "PROXY_KEEP_ALIVE must be seconds between 1 and 300" in text
    assert "PROXY_MAX_CONNECTIONS must be a whole number from 10 to 100000" in text
    assert "PROXY_PER_IP_CONCURRENCY must be a whole number from 1 to 1000" in text
    assert len(info.value.errors) == 6


def test_a_bot_check_verify_url_must_be_absolute_http(tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text("")
    with pytest.raises(SettingsError) as info:
        load_settings({"RETELL_API_KEY": "key_abc", "PROXY_REGISTRY": str(registry),
                       "PROXY_TURNSTILE_VERIFY_URL": "challenges.cloudflare.com/siteverify"})
    assert info.value.errors == ["PROXY_TURNSTILE_VERIFY_URL must be an absolute http(s) URL, "
                                 "got 'challenges.cloudflare.com/siteverify'"]
