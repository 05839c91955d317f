"""Everything a running proxy holds, opened in the app's lifespan and closed after it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.botcheck import BotChecker
from proxy.calls import EventLog
from proxy.metrics import Metrics
from proxy.quota import MinutesLedger
from proxy.ratelimit import RateLimits
from proxy.settings import ProxySettings
from proxy.upstream import ReadyProbe, Retell
from proxy.usage import UsageRecorder
from proxy.watched import WatchedFile
from registry import Registry


@dataclass(slots=True)
class ProxyState:
    settings: ProxySettings
    registry_file: WatchedFile[Registry]
    manifest_file: WatchedFile[dict[str, Any]]
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


def load_manifest(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("latest"), str) or not isinstance(data.get("lines"), dict):
        raise ValueError("the manifest needs 'latest' and 'lines'")
    return data


def released_versions(manifest: dict[str, Any] | None) -> frozenset[str] | None:
    """The widget versions the CDN has published (what a client may pin), or None if unknown."""
    releases = manifest.get("releases") if manifest is not None else None
    return frozenset(releases) if isinstance(releases, dict) else None
