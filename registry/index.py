"""Which client an origin belongs to, in a few dictionary lookups.

Exact origins by value; ``scheme://*.domain:port`` patterns by ``(scheme, domain, port)``, tried
for each proper parent domain of the host, nearest first. Registries of thousands of clients
are asked on every proxy request, so nothing here is linear in the number of clients. The
registry refuses origins that two clients would share, so each origin has at most one answer.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from registry.origin import Origin, OriginPattern

T = TypeVar("T")


def _parents(host: str) -> list[str]:
    """Every proper parent domain, nearest first: a.b.example -> b.example, example."""
    labels = host.split(".")
    return [".".join(labels[start:]) for start in range(1, len(labels))]


class OriginIndex(Generic[T]):
    def __init__(self) -> None:
        self._exact: dict[Origin, tuple[OriginPattern, T]] = {}
        self._wildcard: dict[tuple[str, str, int], tuple[OriginPattern, T]] = {}
        # (scheme, domain, port) -> a pattern strictly inside *.domain, for overlap checks only.
        self._inside: dict[tuple[str, str, int], tuple[OriginPattern, T]] = {}

    def add(self, pattern: OriginPattern, owner: T) -> None:
        key = (pattern.scheme, pattern.host, pattern.port)
        if pattern.wildcard:
            self._wildcard.setdefault(key, (pattern, owner))
        else:
            self._exact.setdefault(Origin(*key), (pattern, owner))
        for parent in _parents(pattern.host):
            self._inside.setdefault((pattern.scheme, parent, pattern.port), (pattern, owner))

    def get(self, origin: Origin) -> T | None:
        found = self._find(origin)
        return found[1] if found is not None else None

    def _find(self, origin: Origin) -> tuple[OriginPattern, T] | None:
        if (found := self._exact.get(origin)) is not None:
            return found
        # Whole labels only, so evilshop.example never finds *.shop.example.
        for parent in _parents(origin.host):
            if (found := self._wildcard.get((origin.scheme, parent, origin.port))) is not None:
                return found
        return None

    def overlapping(self, pattern: OriginPattern) -> tuple[OriginPattern, T] | None:
        """A pattern already here that matches some origin ``pattern`` matches too, and its owner."""
        key = (pattern.scheme, pattern.host, pattern.port)
        if not pattern.wildcard:
            return self._find(Origin(*key))  # the same origin, or a wildcard over it
        # The same wildcard, a wider one over it, or anything inside it.
        for domain in (pattern.host, *_parents(pattern.host)):
            if (found := self._wildcard.get((pattern.scheme, domain, pattern.port))) is not None:
                return found
        return self._inside.get(key)
