import dataclasses
from pathlib import Path

import registry
from harness.sandbox import write_registry
from registry import parse_origin

REPO = Path(__file__).resolve().parents[2]
LOOKS = 'tagline = "Gentle dentistry"\nfont = "serif"\nlogo_text = "ACME"\n'


def test_the_sandbox_registry_is_the_real_one_on_local_origins(tmp_path):
    # The real registry, with the optional looks a client may have, so a field the sandbox
    # dropped would show.
    source = tmp_path / "clients.toml"
    source.write_text((REPO / "site_src/clients.toml").read_text().replace('brand_color = "#0f766e"\n',
                                                                           'brand_color = "#0f766e"\n' + LOOKS, 1))
    real = registry.load(source)
    assert real.clients[0].logo_text == "ACME"
    origins = {c.id: [f"http://{c.id}.localhost:{8100 + i}"] for i, c in enumerate(real.clients)}
    write_registry(real, origins, tmp_path / "registry.toml")
    local = registry.load(tmp_path / "registry.toml")
    # Every field but the origins is the real registry's.
    assert [dataclasses.replace(c, origins=()) for c in local.clients] == [dataclasses.replace(c, origins=()) for c in real.clients]
    for client in local.clients:
        assert client.allows(parse_origin(origins[client.id][0]))
        assert not client.allows(parse_origin("http://hostile.localhost:8100"))
