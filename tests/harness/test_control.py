"""The sandbox's control origin and test pages, driven over HTTP without a browser."""

import re

import httpx
import pytest


def create(sandbox, client_id="client-a"):
    client = sandbox.client(client_id)
    return httpx.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client.agents[0]},
                      headers={"Origin": client.origin})


def test_bad_faults_are_refused_with_a_reason(sandbox):
    response = httpx.post(sandbox.local("control") + "/faults", json={"disk": "full"})
    assert response.status_code == 400 and "unknown fault" in response.json()["error"]
    assert httpx.post(sandbox.local("control") + "/faults", content=b"{").status_code == 400


@pytest.mark.parametrize("fault, status, code, retry_after", [
    ({"status": 500}, 502, "upstream_error", None),
    ({"status": 429, "retry_after": 7}, 503, "upstream_busy", "7"),
    ({"status": 402}, 502, "upstream_payment_required", None),
    ({"status": 401}, 502, "upstream_rejected", None),
    ({"status": 422}, 502, "upstream_rejected", None),
])
def test_retells_refusals_reach_the_proxy_as_retell_sends_them(sandbox, faults, fault, status, code, retry_after):
    faults({"create": fault})
    retell = httpx.post(sandbox.local("retell") + "/v2/create-web-call", json={"agent_id": "x"})
    assert retell.status_code == fault["status"] and set(retell.json()) == {"error_message"}  # Retell's error body
    response = create(sandbox)
    assert response.status_code == status and response.json()["error"] == code
    assert response.headers.get("retry-after") == retry_after
    assert sandbox.retell_records()["requests"][-1] == {"status": fault["status"], "agent_id": None, "fault": True}


def test_an_agents_script_is_set_shown_and_put_back(sandbox, agent_script):
    agent = sandbox.client("client-a").agents[0]
    url = sandbox.local("control") + f"/agents/{agent}"
    default = httpx.get(url).json()
    assert default["greeting"] == "Hello! How can I help?" and default["turn"] == []
    agent_script(agent, {"greeting": "Hi!", "turn": [{"user": "Yes.", "agent": "Bye!", "hang_up": True}]})
    shown = httpx.get(url).json()
    assert shown["greeting"] == "Hi!" and shown["turn"] == [{"user": "Yes.", "agent": "Bye!", "hang_up": True}]
    refused = httpx.put(url, json={"greeting": "", "turn": [{"user": "x"}]})
    assert refused.status_code == 400
    assert refused.json()["error"] == (f"agent.{agent}.greeting: 'greeting' must be a non-empty string; "
                                       f"agent.{agent}.turn[0]: turn 1 needs 'agent'")
    assert httpx.get(url).json() == shown  # a refused script changes nothing
    assert httpx.put(url, content=b"{").status_code == 400
    assert httpx.get(sandbox.local("control") + "/agents/agent_nobody").status_code == 404
    assert httpx.delete(url).json() == default


def test_proxy_down_refuses_connections_until_cleared(sandbox, faults):
    faults({"proxy": "down"})
    with pytest.raises(httpx.ConnectError):
        httpx.get(sandbox.local("proxy") + "/api/health")
    sandbox.clear_faults()
    assert httpx.get(sandbox.local("proxy") + "/api/health").status_code == 200
    assert create(sandbox).status_code == 201


def test_the_cdn_serves_retells_sdk_unless_it_is_made_to_fail(sandbox, faults):
    path = "/sdk/2.0.8/retell-web-client.js"
    served = httpx.get(sandbox.local("cdn") + path)
    assert served.status_code == 200 and "RetellWebClient" in served.text
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    faults({"sdk": "fail"})
    assert httpx.get(sandbox.local("cdn") + path).status_code == 503
    assert httpx.get(sandbox.local("cdn") + "/sdk/retell-web-client.js").status_code == 503
    assert httpx.get(sandbox.local("cdn") + "/v2/retell-widget.js").status_code == 200  # only the SDK fails


def test_hang_up_answers_404_for_a_call_that_is_not_in_progress(sandbox):
    response = httpx.post(sandbox.local("control") + "/calls/call_unknown/hangup")
    assert response.status_code == 404 and "no call" in response.json()["error"]


def test_the_state_file_says_how_to_launch_chromium_for_this_sandbox(sandbox):
    args = sandbox.state.chromium_args
    media = sandbox.state.media
    assert media.host == "retell-ai-4ihahnq7.livekit.cloud"
    (rules,) = [a.removeprefix("--host-resolver-rules=").split(", ") for a in args if a.startswith("--host-resolver-rules=")]
    bots = sandbox.state.bots
    assert rules == [f"MAP {media.host} 127.0.0.1:{media.port}",
                     *(f"MAP {host} 127.0.0.1:{bots.port}" for host in ("challenges.cloudflare.com", "www.google.com"))]
    assert "--allow-loopback-in-peer-connection" in args and "--use-fake-device-for-media-stream" in args
    assert any(a.startswith("--ignore-certificate-errors-spki-list=") for a in args)
    assert not any(a.startswith("--disable-features") for a in args)  # Playwright's own list stays in force


def test_client_origins_serve_sandbox_pages_for_any_cdn_folder(sandbox):
    client = sandbox.client("client-a")
    page = httpx.get(sandbox.local("client-a") + "/sandbox/v1.0.0/?theme=dark&position=top-left")
    assert page.status_code == 200
    cdn = sandbox.state.origins["cdn"]
    assert re.search(rf'<script src="{cdn}/v1\.0\.0/retell-widget\.js" integrity="sha384-[^"]+" crossorigin', page.text)
    assert '"theme": "dark"' in page.text and '"position": "top-left"' in page.text
    assert f'"agentId": "{client.agents[0]}"' in page.text
    alias = httpx.get(sandbox.local("client-a") + "/sandbox/latest/?embed=element&lang=de").text
    assert "integrity" not in alias  # a moving alias cannot carry SRI
    assert '<retell-widget agent-id="' in alias and 'proxy-endpoint="' in alias and '<html lang="de">' in alias


@pytest.mark.parametrize("path", ["/sandbox/v1/../etc/", "/sandbox/beta/", "/sandbox/v1/?theme=%3Cscript%3E"])
def test_sandbox_pages_refuse_odd_requests(sandbox, path):
    assert httpx.get(sandbox.local("client-a") + path).status_code == 404


def test_the_strict_csp_site_allows_scripts_only_by_nonce_or_origin(sandbox):
    page = httpx.get(sandbox.local("csp") + "/sandbox/v1/")
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)[1]
    assert f'<script nonce="{nonce}">' in page.text
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert httpx.get(sandbox.local("csp") + "/sandbox/v1/").headers["content-security-policy"] != policy


def test_the_hostile_css_site_ships_its_css(sandbox):
    page = httpx.get(sandbox.local("css") + "/sandbox/v1/").text
    assert "all: unset !important" in page and "button { display: none !important; }" in page


def test_the_hostile_origin_copies_the_first_clients_test_pages(sandbox):
    page = httpx.get(sandbox.local("hostile") + "/sandbox/v2/?scheme=dark")
    assert page.status_code == 200
    assert f'"agentId": "{sandbox.client("client-a").agents[0]}"' in page.text
    assert '"scheme": "dark"' in page.text


def test_trusted_types_can_be_required_on_the_strict_csp_site(sandbox):
    plain = httpx.get(sandbox.local("csp") + "/sandbox/v2/").headers["content-security-policy"]
    strict = httpx.get(sandbox.local("csp") + "/sandbox/v2/?trusted_types=1").headers["content-security-policy"]
    assert "require-trusted-types-for" not in plain
    assert strict.endswith("; require-trusted-types-for 'script'")


def test_the_usage_page_opens_with_the_state_files_admin_token(sandbox):
    create(sandbox)
    usage = sandbox.http.get(sandbox.local("proxy") + "/usage",
                             headers={"Authorization": f"Bearer {sandbox.state.admin_token}"})
    assert usage.status_code == 200 and "<svg" in usage.text
    assert sandbox.http.get(sandbox.local("proxy") + "/usage").status_code in (401, 403)
