"""The registry indexed for the request path: an origin's client in a few dict lookups.

``Registry.client_for_origin`` tries every client's patterns in turn, fine for the builder but
linear in the number of clients; the proxy asks on every request, with registries of thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from registry import Client, Origin, Registry, load


@dataclass(frozen=True, slots=True)
class Allowlist:
    registry: Registry
    _exact: dict[Origin, Client] = field(init=False, repr=False, compare=False)
    # (scheme, domain, port) of a "scheme://*.domain:port" pattern -> its client
    _wildcard: dict[tuple[str, str, int], Client] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exact: dict[Origin, Client] = {}
        wildcard: dict[tuple[str, str, int], Client] = {}
        for client in self.registry.clients:
            for pattern in client.origins:
                if pattern.wildcard:
                    wildcard.setdefault((pattern.scheme, pattern.host, pattern.port), client)
                else:
                    exact.setdefault(Origin(pattern.scheme, pattern.host, pattern.port), client)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_wildcard", wildcard)

    def client_for_origin(self, origin: Origin) -> Client | None:
        if client := self._exact.get(origin):
            return client
        # Each proper parent domain, nearest first: a.b.shop.example tries b.shop.example,
        # shop.example, example. Whole labels only, so evilshop.example never finds shop.example.
        labels = origin.host.split(".")
        for start in range(1, len(labels)):
            if client := self._wildcard.get((origin.scheme, ".".join(labels[start:]), origin.port)):
                return client
        return None

    def client_for_agent(self, agent_id: str) -> Client | None:
        return self.registry.client_for_agent(agent_id)


def load_allowlist(path: Path) -> Allowlist:
    return Allowlist(load(path))
