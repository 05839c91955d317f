"""The client registry: which websites may embed the widget, with which agents and looks.

``site_src/clients.toml`` is the single source of truth. The builder renders demo pages from it
and the proxy derives its CORS allowlist and agent binding from it, both through ``load``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from registry.origin import Origin, OriginPattern

THEMES = ("purple", "blue", "green", "dark", "rose", "teal")
# Themes that arrived after 1.x: a client pinned to an older line would get a RangeError.
_THEME_SINCE_MAJOR = {"rose": 2, "teal": 2}
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
_CLIENT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_AGENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_FIELDS = {"id", "name", "origins", "agents", "theme", "position", "widget_version", "brand_color"}
# Optional looks for the client's demo page, so it resembles the client's own site.
FONTS = ("sans", "serif", "rounded", "mono")
_OPTIONAL = {"tagline", "font", "logo_text"}
_TAGLINE_MAX = 120
_LOGO_TEXT_MAX = 24


class RegistryError(Exception):
    """Every problem found in a registry file, one ``file:line: message`` per entry."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    name: str
    origins: tuple[OriginPattern, ...]
    agents: tuple[str, ...]
    theme: str
    position: str
    widget_version: str
    brand_color: str
    tagline: str = ""
    font: str = "sans"
    logo_text: str = ""  # the demo page shows the name when empty

    def allows(self, origin: Origin) -> bool:
        return any(pattern.matches(origin) for pattern in self.origins)


@dataclass(frozen=True, slots=True)
class Registry:
    clients: tuple[Client, ...]
    _by_agent: dict[str, Client] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_agent", {a: c for c in self.clients for a in c.agents})

    def client_for_agent(self, agent_id: str) -> Client | None:
        return self._by_agent.get(agent_id)

    def client_for_origin(self, origin: Origin) -> Client | None:
        return next((c for c in self.clients if c.allows(origin)), None)


def load(path: Path, known_versions: Iterable[str] | None = None) -> Registry:
    """Read and validate a registry file; raise ``RegistryError`` listing every problem."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise RegistryError([f"{path}:{line[1] if line else 1}: invalid TOML: {exc}"]) from None
    return parse(data, _Locator(path, text), None if known_versions is None else set(known_versions))


def parse(data: dict, where: _Locator, known_versions: set[str] | None) -> Registry:
    errors: list[str] = []
    entries = data.get("client")
    if not isinstance(entries, list) or not entries:
        raise RegistryError([f"{where.path}:1: the registry needs at least one [[client]] table"])
    clients: list[Client] = []
    owner_of_agent: dict[str, str] = {}
    seen_ids: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            errors.append(f"{where.path}:1: 'client' must be an array of [[client]] tables")
            break
        problems: list[tuple[str | None, str]] = []
        label = f"client '{entry.get('id')}'" if isinstance(entry.get("id"), str) else f"client #{index + 1}"
        client = _parse_client(entry, problems, known_versions)
        # Checks across clients run on the raw values, so they are reported even when the
        # entry has other problems.
        raw_id, raw_agents = entry.get("id"), entry.get("agents")
        if isinstance(raw_id, str):
            if raw_id in seen_ids:
                problems.append(("id", f"id '{raw_id}' is used by another client"))
            seen_ids.add(raw_id)
        for agent in raw_agents if isinstance(raw_agents, list) else ():
            if isinstance(agent, str):
                other = owner_of_agent.setdefault(agent, label)
                if other != label:
                    problems.append(("agents", f"agent '{agent}' is already claimed by {other}"))
        if client is not None and not problems:
            clients.append(client)
        errors += [f"{where.path}:{where.line(index, key)}: {label}: {message}" for key, message in problems]
    if errors:
        raise RegistryError(errors)
    return Registry(tuple(clients))


def _parse_client(entry: dict, problems: list[tuple[str | None, str]], known_versions: set[str] | None) -> Client | None:
    for key in sorted(set(entry) - _FIELDS - _OPTIONAL):
        expected = ", ".join(sorted(_FIELDS | _OPTIONAL))
        problems.append((key, f"unknown field '{key}' (expected one of: {expected})"))
    for key in sorted(_FIELDS - set(entry)):
        problems.append((None, f"missing field '{key}'"))

    def text(key: str, pattern: re.Pattern[str] | None = None, allowed: tuple[str, ...] = ()) -> str:
        value = entry.get(key)
        if key not in entry:
            return ""
        if not isinstance(value, str) or not value.strip():
            problems.append((key, f"'{key}' must be a non-empty string"))
        elif pattern is not None and not pattern.match(value):
            problems.append((key, f"'{key}' value '{value}' is malformed"))
        elif allowed and value not in allowed:
            problems.append((key, f"'{key}' must be one of {', '.join(allowed)}, not '{value}'"))
        return value if isinstance(value, str) else ""

    def strings(key: str) -> list[str]:
        value = entry.get(key)
        if key not in entry:
            return []
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            problems.append((key, f"'{key}' must be a non-empty list of strings"))
            return []
        return value

    client_id = text("id", _CLIENT_ID)
    name = text("name")
    theme = text("theme", allowed=THEMES)
    position = text("position", allowed=POSITIONS)
    version = text("widget_version", _VERSION)
    color = text("brand_color", _COLOR)
    tagline = text("tagline") if "tagline" in entry else ""
    font = text("font", allowed=FONTS) if "font" in entry else "sans"
    logo_text = text("logo_text") if "logo_text" in entry else ""
    for key, value, limit in (("tagline", tagline, _TAGLINE_MAX), ("logo_text", logo_text, _LOGO_TEXT_MAX)):
        if len(value) > limit:
            problems.append((key, f"'{key}' is {len(value)} characters long; at most {limit} fit the demo page"))
    if version and known_versions is not None and version not in known_versions and _VERSION.match(version):
        problems.append(("widget_version", f"widget_version '{version}' is not a released version"))
    since = _THEME_SINCE_MAJOR.get(theme, 1)
    if _VERSION.match(version) and int(version.split(".")[0]) < since:
        problems.append(("theme", f"theme '{theme}' needs widget_version {since}.0.0 or later, not '{version}'"))
    patterns: list[OriginPattern] = []
    for raw in strings("origins"):
        try:
            patterns.append(OriginPattern.parse(raw))
        except ValueError as exc:
            problems.append(("origins", f"origin '{raw}' is malformed: {exc}"))
    agents = strings("agents")
    for agent in agents:
        if not _AGENT_ID.match(agent):
            problems.append(("agents", f"agent id '{agent}' is malformed (letters, digits, '_' and '-' only)"))
    if len(set(agents)) != len(agents):
        problems.append(("agents", "an agent id is listed twice"))
    if problems:
        return None
    return Client(client_id, name, tuple(patterns), tuple(agents), theme, position, version, color.lower(),
                  tagline, font, logo_text)


class _Locator:
    """Finds the line of a client's table, or of one key inside it, for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._lines = text.splitlines()
        self._starts = [i for i, line in enumerate(self._lines) if line.strip() == "[[client]]"]

    def line(self, index: int, key: str | None) -> int:
        if index >= len(self._starts):
            return 1
        start = self._starts[index]
        end = self._starts[index + 1] if index + 1 < len(self._starts) else len(self._lines)
        if key is not None:
            for number in range(start, end):
                if re.match(rf"\s*{re.escape(key)}\s*=", self._lines[number]):
                    return number + 1
        return start + 1
