import pytest
import registry

from harness.plan import CLIENTS, MEDIA, SandboxConfig, SandboxError, plan
from serving import bind
from tests.conftest import REPO

CLIENTS_TOML = REPO / "site_src" / "clients.toml"


@pytest.fixture
def real():
    return registry.load(CLIENTS_TOML)


def test_every_origin_has_a_bound_listener_and_a_url_before_anything_starts(tmp_path, real):
    planned = plan(SandboxConfig(), real, tmp_path)
    try:
        listeners = planned.listeners
        served = [name for origin in planned.origins for name in origin.listeners]
        assert sorted(served) == sorted(listeners.sockets)  # every listener is served, once
        assert listeners.urls["cdn"] == f"http://cdn.localhost:{listeners.ports['cdn']}"
        assert MEDIA not in listeners.urls and "insecure" not in listeners.urls
        (clients,) = [o for o in planned.origins if o.name == CLIENTS]
        assert clients.listeners == tuple(c.id for c in real.clients)
        (media,) = [o for o in planned.origins if o.name == MEDIA]
        assert "ssl_certfile" in media.options  # the SDK dials wss://, even without --https
        (proxy,) = [o for o in planned.origins if o.name == "proxy"]
        assert proxy.options == {"proxy_headers": False}
    finally:
        planned.listeners.close()


def test_over_https_the_insecure_site_and_the_internal_retell_are_planned_on_plain_http(tmp_path, real):
    planned = plan(SandboxConfig(https=True, domain="test"), real, tmp_path)
    try:
        urls = planned.listeners.urls
        assert urls["insecure"].startswith("http://insecure.test:") and urls["cdn"].startswith("https://cdn.test:")
        options = {o.name: o.options for o in planned.origins}
        assert options["insecure"] == {} and "ssl_certfile" in options["cdn"]
        # The registry refuses plain http off loopback, so the insecure site is no client's.
        assert all(urls["insecure"] not in origins for origins in planned.allowed().values())
        settings = planned.proxy_settings(None)
        assert settings.retell_base_url == f"http://127.0.0.1:{planned.listeners.ports['retell-internal']}"
        assert settings.rate_limit_ip == "10000/minute" and planned.proxy_settings("3/minute").rate_limit_ip == "3/minute"
        assert planned.webhook_url.startswith("https://127.0.0.1:")
    finally:
        planned.listeners.close()


def test_a_busy_port_is_a_sandbox_error_naming_the_origin(tmp_path, real):
    with bind() as taken:
        base = taken.getsockname()[1]
        with pytest.raises(SandboxError, match=rf"cannot listen on 127.0.0.1:{base} for the cdn origin"):
            plan(SandboxConfig(port_base=base), real, tmp_path)
