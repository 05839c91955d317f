"""A widget release and what it can do, as its changelog file records it.

Each ``site_src/changelog/X.Y.Z.md`` starts with meta lines: ``version:``, ``date:``,
``features:`` (some of ``FEATURES``) and ``languages:`` (the languages its strings know). The
builder reads them there (``builder.content``) and writes them into the CDN's manifest
(``registry.Manifest``), where the proxy and the sandbox read them back: so what a release can
do is written once, with the release, and every part asks ``Release.supports``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from registry.versions import Version

BOT_TOKEN = "bot-token"  # sends a bot check provider's token with each create (``bot_check``)
CONSENT = "consent"  # asks the visitor's consent before a call; no release has it yet
FEATURES = (BOT_TOKEN, CONSENT, "dynamic-variables")
# A BCP 47 language, optionally with its region: "en", "de", "pt-BR".
LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Z]{2})?")


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    date: dt.date
    changelog: str  # the URL of its changelog page
    features: tuple[str, ...] = ()  # some of FEATURES, in that order
    languages: tuple[str, ...] = ()  # language codes its strings know, as the changelog lists them

    def __post_init__(self) -> None:
        problems = _problems(self.version, self.features, self.languages)
        if problems:
            raise ValueError(f"release {self.version!r}: " + "; ".join(problems))

    @property
    def key(self) -> Version:
        """For ordering: SemVer's (a pre-release sorts before its release)."""
        return Version.parse(self.version)

    @property
    def line(self) -> str:
        return self.key.line

    @property
    def stable(self) -> bool:
        return self.key.stable

    def supports(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r} (expected one of: {', '.join(FEATURES)})")
        return feature in self.features

    @classmethod
    def from_json(cls, version: str, data: object) -> Release:
        """One entry of the manifest's ``releases``; ``ValueError`` lists every problem."""
        if not isinstance(data, Mapping):
            raise ValueError(f"release {version!r}: must be an object")
        problems = [f"'{key}' is missing" for key in _KEYS if key not in data]
        if not problems:
            problems = _json_problems(version, data)
        if problems:
            raise ValueError(f"release {version!r}: " + "; ".join(problems))
        return cls(version, dt.date.fromisoformat(data["date"]), data["changelog"], tuple(data["features"]),
                   tuple(data["languages"]))

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "date": self.date.isoformat(), "stable": self.stable, "changelog": self.changelog,
                "features": list(self.features), "languages": list(self.languages)}


_KEYS = ("line", "date", "stable", "changelog", "features", "languages")


def parse_features(text: str) -> tuple[tuple[str, ...], list[str]]:
    """A ``features:`` meta line ("bot-token, consent") -> the features in FEATURES' order, and
    the problems found."""
    names = _split(text)
    problems = [f"unknown feature '{n}' (expected some of: {', '.join(FEATURES)})" for n in names if n not in FEATURES]
    problems += [f"feature '{n}' is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    return tuple(f for f in FEATURES if f in names), problems


def parse_languages(text: str) -> tuple[tuple[str, ...], list[str]]:
    """A ``languages:`` meta line ("en, es, de") -> the codes as listed, and the problems found."""
    codes = _split(text)
    problems = [] if codes else ["no language listed (e.g. 'languages: en')"]
    problems += [f"language '{c}' is malformed (a code such as 'en' or 'pt-BR')" for c in codes if not LANGUAGE.fullmatch(c)]
    problems += [f"language '{c}' is listed twice" for c in sorted({c for c in codes if codes.count(c) > 1})]
    return tuple(codes), problems


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _problems(version: str, features: Iterable[str], languages: Iterable[str]) -> list[str]:
    problems = [] if Version.is_valid(version) else ["the version must be MAJOR.MINOR.PATCH (SemVer)"]
    features, languages = list(features), list(languages)
    if features != [f for f in FEATURES if f in features]:
        problems.append(f"'features' must be some of {', '.join(FEATURES)}, in that order, once each")
    if not languages or len(set(languages)) != len(languages) or not all(LANGUAGE.fullmatch(c) for c in languages):
        problems.append("'languages' must list language codes such as 'en' or 'pt-BR', once each")
    return problems


def _json_problems(version: str, data: Mapping) -> list[str]:
    problems = []
    try:
        dt.date.fromisoformat(data["date"])
    except (TypeError, ValueError):
        problems.append(f"'date' must be YYYY-MM-DD, not {data['date']!r}")
    if not isinstance(data["changelog"], str):
        problems.append("'changelog' must be a string")
    lists = [data[key] for key in ("features", "languages")]
    if all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists):
        problems += _problems(version, *lists)
    else:
        problems.append("'features' and 'languages' must be lists of strings")
        problems += [] if Version.is_valid(version) else ["the version must be MAJOR.MINOR.PATCH (SemVer)"]
    if Version.is_valid(version):
        # "line" and "stable" are written for readers without a SemVer parser; they must agree.
        key = Version.parse(version)
        if data["line"] != key.line or data["stable"] is not key.stable:
            problems.append(f"'line' and 'stable' must be {key.line!r} and {str(key.stable).lower()}")
    return problems
