"""Prometheus metrics, in a registry per app (never the global one), served at ``GET /metrics``."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # "client" is a registry client id or "-": bounded by the registry, never by callers.
        self.requests = Counter("proxy_create_requests", "Create attempts by outcome and client",
                                ["outcome", "client"], registry=self.registry)
        self.upstream = Histogram("proxy_upstream_seconds", "Latency of Retell create-web-call by result",
                                  ["result"], registry=self.registry,
                                  buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.registry_reloads = Gauge("proxy_registry_reloads", "Registry reloads since start", registry=self.registry)
        self.registry_error = Gauge("proxy_registry_error", "1 while the registry file on disk is invalid", registry=self.registry)
        self.usage_backlog = Gauge("proxy_usage_backlog", "Usage rows waiting to be written", registry=self.registry)
        self.usage_committed = Gauge("proxy_usage_committed", "Usage rows committed since start", registry=self.registry)
        self.usage_dropped = Gauge("proxy_usage_dropped", "Usage rows dropped because the queue was full", registry=self.registry)

    def render(self, refresh: Callable[[Metrics], None]) -> bytes:
        refresh(self)
        return generate_latest(self.registry)
