"""One origin index answers for the proxy's CORS and the builder alike, and no origin has two owners."""

from pathlib import Path

import pytest

import registry
from registry import OriginPattern, parse_origin
from registry.index import OriginIndex

CLIENTS = '''
[[client]]
id = "shop"
name = "Shop"
origins = ["https://shop.example", "https://*.shop.example", "http://localhost:3000"]
agents = ["agent_shop"]
theme = "purple"
position = "bottom-right"
widget_version = "1.0.0"
brand_color = "#0f766e"
tagline = "Everything"
font = "serif"
logo_text = "SHOP"

[[client]]
id = "bolt"
name = "Bolt"
origins = ["https://bolt.example", "https://*.eu.bolt.example"]
agents = ["agent_bolt"]
theme = "blue"
position = "bottom-left"
widget_version = "1.0.0"
brand_color = "#b91c1c"
'''


@pytest.fixture
def clients(tmp_path: Path) -> registry.Registry:
    path = tmp_path / "clients.toml"
    path.write_text(CLIENTS)
    return registry.load(path)


@pytest.mark.parametrize("origin, client", [
    ("https://shop.example", "shop"),
    ("https://www.shop.example", "shop"),         # *.shop.example
    ("https://a.b.shop.example", "shop"),         # any depth of subdomain
    ("http://localhost:3000", "shop"),
    ("https://bolt.example", "bolt"),
    ("https://www.bolt.example", None),           # bolt's wildcard is *.eu.bolt.example only
    ("https://shop.eu.bolt.example", "bolt"),
    ("https://eu.bolt.example", None),            # a wildcard never matches its bare domain
    ("https://evilshop.example", None),           # whole labels only
    ("https://shop.example.evil.example", None),
    ("http://www.shop.example", None),            # the pattern's scheme
    ("https://www.shop.example:8443", None),      # the pattern's port
    ("http://localhost:3001", None),
])
def test_each_origin_finds_its_client_as_each_client_would_match_it(clients, origin, client):
    parsed = parse_origin(origin)
    found = clients.client_for_origin(parsed)
    assert (found.id if found else None) == client
    # The index agrees with the clients' own patterns, one by one.
    assert [c.id for c in clients.clients if c.allows(parsed)] == ([client] if client else [])


def test_agents_resolve_to_their_client(clients):
    assert clients.client_for_agent("agent_bolt").id == "bolt"
    assert clients.client_for_agent("agent_nobody") is None


@pytest.mark.parametrize("existing, candidate, overlaps", [
    ("https://a.example", "https://a.example", True),
    ("https://*.a.example", "https://www.a.example", True),       # an exact origin inside a wildcard
    ("https://www.a.example", "https://*.a.example", True),       # a wildcard over an exact origin
    ("https://*.a.example", "https://*.eu.a.example", True),      # a narrower wildcard
    ("https://*.eu.a.example", "https://*.a.example", True),      # a wider one
    ("https://*.a.example", "https://a.example", False),          # the bare domain is not in *.a.example
    ("https://a.example", "https://*.a.example", False),
    ("https://*.a.example", "https://*.ba.example", False),       # whole labels
    ("https://*.a.example", "http://www.a.example", False),       # another scheme
    ("https://*.a.example", "https://www.a.example:8443", False),  # another port
])
def test_overlaps_are_found_both_ways(existing, candidate, overlaps):
    index: OriginIndex[str] = OriginIndex()
    index.add(OriginPattern.parse(existing), "first")
    found = index.overlapping(OriginPattern.parse(candidate))
    assert (found is not None) is overlaps
    if overlaps:
        assert found == (OriginPattern.parse(existing), "first")


def test_the_sandbox_copy_keeps_every_field_but_the_origins(clients, tmp_path):
    local = clients.with_origins({"shop": ["http://shop.localhost:8101"], "bolt": ["http://bolt.localhost:8102"]})
    path = tmp_path / "local.toml"
    path.write_text(registry.dump(local))
    again = registry.load(path)
    for before, after in zip(clients.clients, again.clients, strict=True):
        assert [str(o) for o in after.origins] != [str(o) for o in before.origins]
        assert after == type(before)(**{**{f: getattr(before, f) for f in before.__slots__}, "origins": after.origins})
    assert again.clients[0].tagline == "Everything" and again.clients[0].font == "serif"
    assert again.client_for_origin(parse_origin("http://shop.localhost:8101")).id == "shop"
    assert clients.with_origins({"bolt": ["http://b.localhost:9"]}).clients[0].id == "bolt"  # unlisted clients go
