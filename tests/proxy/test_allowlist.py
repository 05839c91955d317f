import pytest

from proxy.allowlist import Allowlist, load_allowlist
from registry import parse_origin


@pytest.mark.parametrize("origin, client", [
    ("https://shop.example", "shop"),
    ("https://www.shop.example", "shop"),         # *.shop.example
    ("https://a.b.shop.example", "shop"),         # any depth of subdomain
    ("http://localhost:3000", "shop"),
    ("https://bolt.example", "bolt"),
    ("https://www.bolt.example", None),           # bolt registered no pattern
    ("https://evilshop.example", None),           # whole labels only
    ("https://shop.example.evil.example", None),
    ("http://www.shop.example", None),            # the pattern's scheme
    ("https://www.shop.example:8443", None),      # the pattern's port
    ("http://localhost:3001", None),
])
def test_finds_the_same_clients_as_the_registry(registry_file, origin, client):
    allowlist = load_allowlist(registry_file)
    parsed = parse_origin(origin)
    found = allowlist.client_for_origin(parsed)
    assert (found.id if found else None) == client
    expected = allowlist.registry.client_for_origin(parsed)
    assert (expected.id if expected else None) == client


def test_agents_resolve_through_the_registry(registry_file):
    allowlist = load_allowlist(registry_file)
    assert allowlist.client_for_agent("agent_bolt").id == "bolt"
    assert allowlist.client_for_agent("agent_nobody") is None
    assert isinstance(allowlist, Allowlist)
