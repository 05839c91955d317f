"""Releases and manifests as a build records them, for tests of the parts that read them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from registry import Manifest, Release, Version


def release(version: str, *features: str, languages: tuple[str, ...] = ("en",)) -> Release:
    return Release(version, dt.date(2026, 11, 26), f"http://docs.test:9/changelog/{version}/", features, languages)


def released(*versions: str, bot_token: tuple[str, ...] = (), features: Mapping[str, tuple[str, ...]] | None = None,
             ) -> dict[str, Release]:
    """``versions`` as releases, newest first; those in ``bot_token`` send a bot token, and
    ``features`` gives any release its whole list (its languages are then en, es and de)."""
    ordered = sorted(versions, key=Version.parse, reverse=True)
    features = features or {}
    return {v: release(v, *features[v], languages=("en", "es", "de")) if v in features
            else release(v, *(("bot-token",) if v in bot_token else ())) for v in ordered}


def manifest_json(*versions: str, bot_token: tuple[str, ...] = (), features: Mapping[str, tuple[str, ...]] | None = None,
                  ) -> dict:
    """A manifest of ``versions`` (no files): each line's newest, and the newest stable as latest."""
    releases = released(*versions, bot_token=bot_token, features=features)
    lines: dict[str, str] = {}
    for version in releases:  # newest first
        lines.setdefault(Version.parse(version).line, version)
    latest = next((v for v in releases if Version.parse(v).stable), "")
    return Manifest(latest, dict(sorted(lines.items())), "http://docs.test:9/changelog/", releases, {}).to_json()
