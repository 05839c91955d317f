import json

from serving import bind
from tests.proxy.test_watched import rewrite
from tests.releases import manifest_json

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"


def test_health_is_always_ok(proxy):
    response = proxy.get("/api/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["vary"] == "Origin" and response.headers["x-request-id"]


def test_ready_when_registry_upstream_and_limiter_are(proxy):
    response = proxy.get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"registry": "ok", "upstream": "ok", "rate_limit_storage": "ok"}}


def test_not_ready_while_retell_is_unreachable(proxy_factory):
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    response = proxy_factory(f"http://127.0.0.1:{port}").get("/api/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready" and response.json()["checks"]["upstream"] == "unreachable"


def test_widget_version_comes_from_the_manifest(proxy, manifest_file):
    response = proxy.get("/api/widget-version")
    assert response.status_code == 200
    assert response.json() == {"latest": "1.2.0", "lines": {"v1": "1.2.0"}}
    assert "access-control-allow-origin" not in response.headers
    # A registered page learns about its own client, and may read the answer.
    mine = proxy.get("/api/widget-version", headers={"Origin": SHOP})
    assert mine.headers["access-control-allow-origin"] == SHOP
    assert mine.json()["client"] == {"id": "shop", "widget_version": "1.0.0", "line_latest": "1.2.0", "update_available": True}
    # A new build is picked up without a restart.
    rewrite(manifest_file, json.dumps(manifest_json("1.0.0", "1.2.1", "2.0.0")))
    assert proxy.get("/api/widget-version").json()["latest"] == "2.0.0"


def test_a_vanished_manifest_keeps_the_last_good_answer(proxy, manifest_file):
    assert proxy.get("/api/widget-version").status_code == 200
    manifest_file.unlink()  # e.g. mid-deploy
    response = proxy.get("/api/widget-version")
    assert response.status_code == 200 and response.json()["latest"] == "1.2.0"


def test_widget_version_before_any_build_is_a_clear_503(proxy_factory, fake_retell, tmp_path):
    proxy = proxy_factory(fake_retell[1], manifest_path=tmp_path / "no-build" / "manifest.json")
    response = proxy.get("/api/widget-version")
    assert response.status_code == 503 and response.json()["error"] == "manifest_unavailable"


def test_metrics_count_outcomes_by_client_and_time_the_upstream(proxy):
    proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP})
    proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": "https://evil.example"})
    response = proxy.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'proxy_create_requests_total{client="shop",outcome="created"} 1.0' in text
    assert 'proxy_create_requests_total{client="-",outcome="origin_not_allowed"} 1.0' in text
    assert 'proxy_upstream_seconds_count{result="ok"} 1.0' in text
    # The created call's row is committed before its answer; the refusal is tallied, written later.
    assert "proxy_usage_committed 1.0" in text and "proxy_usage_backlog 1.0" in text


def test_unknown_paths_and_methods_answer_json(proxy):
    missing = proxy.get("/admin")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = proxy.delete(ENDPOINT, headers={"Origin": SHOP})
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]


def test_every_answer_varies_by_origin_and_carries_a_request_id(proxy):
    responses = [proxy.get(path, headers={"Origin": SHOP}) for path in
                 ("/api/health", "/api/ready", "/api/widget-version", "/metrics", "/usage", "/nowhere")]
    responses += [proxy.put(ENDPOINT), proxy.post(ENDPOINT, headers={"Origin": "null"}),
                  proxy.options(ENDPOINT, headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})]
    for response in responses:
        assert "Origin" in response.headers["vary"], response.request.url
        assert response.headers["x-request-id"]
