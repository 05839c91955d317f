"""Everything a running proxy holds, opened in the app's lifespan and closed after it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proxy.botcheck import BotChecker
from proxy.calls import EventLog
from proxy.metrics import Metrics
from proxy.quota import MinutesLedger
from proxy.ratelimit import RateLimits
from proxy.settings import ProxySettings
from proxy.upstream import ReadyProbe, Retell
from proxy.usage import UsageRecorder
from proxy.watched import WatchedFile
from registry import Manifest, Registry, Release


@dataclass(slots=True)
class ProxyState:
    settings: ProxySettings
    registry_file: WatchedFile[Registry]
    manifest_file: WatchedFile[Manifest]
    upstream: Retell
    ready: ReadyProbe  # whether Retell answers, asked at most every few seconds
    limits: RateLimits
    usage: UsageRecorder | None
    metrics: Metrics
    calls: EventLog | None = None  # Retell's webhooks, kept in the usage database
    minutes: MinutesLedger | None = None  # this month's minutes per client, for their quotas
    bots: BotChecker | None = None  # Turnstile and reCAPTCHA tokens, for clients that require one

    def registry(self) -> Registry:
        # The lifespan refuses to start without a first good registry, so there always is one.
        current = self.registry_file.current()
        assert current is not None
        return current


def releases_of(manifest: Manifest | None) -> Mapping[str, Release] | None:
    """The widget releases the CDN has published (what a client may pin, and what each can do),
    or None while no manifest could be read."""
    return manifest.releases if manifest is not None else None
