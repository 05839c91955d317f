from pathlib import Path

import registry
from harness.sandbox import _write_registry
from registry import parse_origin

REPO = Path(__file__).resolve().parents[2]


def test_the_sandbox_registry_is_the_real_one_on_local_origins(tmp_path):
    real = registry.load(REPO / "site_src/clients.toml")
    origins = {c.id: [f"http://{c.id}.localhost:{8100 + i}"] for i, c in enumerate(real.clients)}
    _write_registry(real, origins, tmp_path / "registry.toml")
    local = registry.load(tmp_path / "registry.toml")
    assert [c.agents for c in local.clients] == [c.agents for c in real.clients]
    for client in local.clients:
        assert client.allows(parse_origin(origins[client.id][0]))
        assert not client.allows(parse_origin("http://hostile.localhost:8100"))
