import json

from harness.state import BotsAddress, MediaAddress, SandboxClient, SandboxState, load


def _state(scheme: str = "https") -> SandboxState:
    return SandboxState(
        origins={"cdn": f"{scheme}://cdn.test:4001", "insecure": "http://insecure.test:4009"},
        ports={"cdn": 4001, "insecure": 4009, "control": 4005, "media": 4010},
        proxy=f"{scheme}://proxy.test:4003", proxy_endpoint=f"{scheme}://proxy.test:4003/api/create-web-call",
        retell=f"{scheme}://retell.test:4004", control=f"{scheme}://control.test:4005",
        hostile=f"{scheme}://hostile.test:4006", scheme=scheme, admin_token="admin", retell_api_key="key_sandbox_x",
        pid=42, ca_file="/tmp/ca.pem" if scheme == "https" else None,
        media=MediaAddress("retell-ai-4ihahnq7.livekit.cloud", 4010),
        bots=BotsAddress(("challenges.cloudflare.com", "www.google.com"), 4011, "site"),
        chromium_args=("--allow-loopback-in-peer-connection",), chromium_command=("chromium", "http://a.test/"),
        clients=(SandboxClient("client-a", "A", f"{scheme}://client-a.test:4007", ("agent_a",), "2.0.0"),),
    )


def test_the_state_file_round_trips_as_plain_json_with_the_keys_it_always_had(tmp_path):
    state = _state()
    state.save(tmp_path / "state.json")
    data = json.loads((tmp_path / "state.json").read_text())
    assert data["media"] == {"host": "retell-ai-4ihahnq7.livekit.cloud", "port": 4010}
    assert data["clients"] == [{"id": "client-a", "name": "A", "origin": "https://client-a.test:4007",
                                "agents": ["agent_a"], "widget_version": "2.0.0"}]
    assert data["bots"]["hosts"] == ["challenges.cloudflare.com", "www.google.com"]
    assert load(tmp_path / "state.json") == state
    assert not (tmp_path / "state.json.tmp").exists()


def test_local_addresses_keep_the_insecure_origin_on_plain_http():
    state = _state("https")
    assert state.local("cdn") == "https://127.0.0.1:4001"
    assert state.local("insecure") == "http://127.0.0.1:4009"
    assert _state("http").local("control") == "http://127.0.0.1:4005"


def test_a_client_is_found_by_id():
    assert _state().client("client-a").agents == ("agent_a",)
