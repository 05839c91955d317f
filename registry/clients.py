"""The client registry: which websites may embed the widget, with which agents and looks.

``site_src/clients.toml`` is the single source of truth, and ``load`` its one reader: the
builder renders demo pages from it, the proxy derives its CORS allowlist and agent binding from
it, and the sandbox writes its local copy with ``dump``. Each refuses what the others refuse,
with the same ``file:line`` messages.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from registry.callconfig import CALL_FIELDS, Consent, FrozenMap, parse_call_fields
from registry.errors import ErrorList
from registry.index import OriginIndex
from registry.looks import FONTS, POSITIONS, THEMES
from registry.origin import Origin, OriginPattern
from registry.releases import BOT_TOKEN, Release
from registry.tables import TableCache, parse_tables
from registry.versions import Version

_CLIENT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what Retell's agent ids look like; fullmatch it
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_FIELDS = ("id", "name", "origins", "agents", "theme", "position", "widget_version", "brand_color")
# Optional looks for the client's demo page, so it resembles the client's own site.
_LOOKS = ("tagline", "font", "logo_text")
# Optional quotas: what the proxy lets the client's website spend (none: no quota).
_QUOTAS = ("max_calls_per_day", "max_minutes_per_month")
_QUOTA_MAX = 10_000_000
# Optional bot check: the provider, its public site key, and for reCAPTCHA v3 the lowest score.
BOT_CHECKS = ("turnstile", "recaptcha")
_BOT = ("bot_check", "bot_site_key", "bot_min_score")
_SITE_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_OPTIONAL = _LOOKS + _QUOTAS + _BOT + CALL_FIELDS
_TAGLINE_MAX = 120
_LOGO_TEXT_MAX = 24


class RegistryError(ErrorList):
    """Every problem found in a registry file, one ``file:line: message`` per entry."""


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
    max_calls_per_day: int | None = None  # calls the proxy creates per UTC day
    max_minutes_per_month: int | None = None  # call minutes per UTC month, from Retell's webhooks
    bot_check: str | None = None  # "turnstile" or "recaptcha": the proxy verifies a token first
    bot_site_key: str | None = None  # the provider's public site key, for the widget
    bot_min_score: float | None = None  # reCAPTCHA v3: the lowest score that passes (0.5 if unset)
    # How its calls are created (registry.callconfig): set here, enforced by the proxy.
    variables: FrozenMap[str, str] = FrozenMap()  # fixed dynamic variables, on every call
    page_variables: tuple[str, ...] = ()  # the only dynamic variables a page may send
    agent_versions: FrozenMap[str, int | str] = FrozenMap()  # agent id -> Retell's agent_version
    language: str | None = None  # the widget's strings, for its snippet and demo page
    consent: Consent | None = None  # asked before a call; the proxy needs its hash

    def allows(self, origin: Origin) -> bool:
        return any(pattern.matches(origin) for pattern in self.origins)

    @property
    def version(self) -> Version:
        return Version.parse(self.widget_version)


@dataclass(frozen=True, slots=True)
class Registry:
    clients: tuple[Client, ...]
    _by_agent: dict[str, Client] = field(init=False, repr=False, compare=False)
    _by_origin: OriginIndex[Client] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: OriginIndex[Client] = OriginIndex()
        for client in self.clients:
            for pattern in client.origins:
                index.add(pattern, client)
        object.__setattr__(self, "_by_agent", {a: c for c in self.clients for a in c.agents})
        object.__setattr__(self, "_by_origin", index)

    def client_for_agent(self, agent_id: str) -> Client | None:
        return self._by_agent.get(agent_id)

    def client_for_id(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.id == client_id), None)

    def client_for_origin(self, origin: Origin) -> Client | None:
        return self._by_origin.get(origin)

    def with_origins(self, origins: Mapping[str, Iterable[str]]) -> Registry:
        """The same clients, every field kept, with each listed client's origins replaced (the
        sandbox moves them to its local origins); clients not listed are left out."""
        return Registry(tuple(
            dataclasses.replace(c, origins=tuple(OriginPattern.parse(o) for o in origins[c.id]))
            for c in self.clients if c.id in origins
        ))


def load(path: Path, releases: Mapping[str, Release] | None = None, cache: TableCache | None = None) -> Registry:
    """Read and validate a registry file; raise ``RegistryError`` listing every problem.

    ``releases`` are the released widget versions with what each can do (the builder passes the
    changelog's, the proxy and the sandbox the CDN manifest's): a ``widget_version`` must be one of
    them, and a ``bot_check`` needs a release with the ``bot-token`` feature. Without them only the
    form is checked. ``cache`` keeps each client's parsed table between calls, so a reload after one
    client's edit parses that client only."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError([f"{path}:1: the client registry is missing"]) from None
    where = _Locator(path, text)
    try:
        data = parse_tables(text, cache) if cache is not None else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise RegistryError([f"{path}:{line[1] if line else 1}: invalid TOML: {exc}"]) from None
    return _validate(data, where, releases)


def _validate(data: dict, where: _Locator, releases: Mapping[str, Release] | None) -> Registry:
    entries = data.get("client")
    if not isinstance(entries, list) or not entries:
        raise RegistryError([f"{where.path}:1: the registry needs at least one [[client]] table"])
    errors: list[tuple[int, str]] = []  # (line, message): reported in the file's order
    clients: list[Client] = []
    across = _AcrossClients(where)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            errors.append((1, f"{where.path}:1: 'client' must be an array of [[client]] tables"))
            break
        problems: list[tuple[str | None, str]] = []
        label = f"client '{entry.get('id')}'" if isinstance(entry.get("id"), str) else f"client #{index + 1}"
        client, origins = _parse_client(entry, problems, releases)
        across.check(entry, index, label, origins, problems)
        if client is not None and not problems:
            clients.append(client)
        for key, message in problems:
            line = where.line(index, key)
            errors.append((line, f"{where.path}:{line}: {label}: {message}"))
    if errors:
        # Stable: problems on one line keep the order the checks found them in.
        raise RegistryError([message for _, message in sorted(errors, key=lambda error: error[0])])
    return Registry(tuple(clients))


class _AcrossClients:
    """The checks between clients: ids, agents and origins each belong to one client. They run
    on what each entry's fields hold, so they are reported with the entry's other problems."""

    def __init__(self, where: _Locator) -> None:
        self._where = where
        self._ids: set[str] = set()
        self._agents: dict[str, str] = {}  # agent id -> the label of the client that claimed it
        self._origins: OriginIndex[tuple[str, int]] = OriginIndex()  # -> (client label, its index in the file)

    def check(self, entry: dict, index: int, label: str, origins: tuple[OriginPattern, ...],
              problems: list[tuple[str | None, str]]) -> None:
        raw_id, raw_agents = entry.get("id"), entry.get("agents")
        if isinstance(raw_id, str):
            if raw_id in self._ids:
                problems.append(("id", f"id '{raw_id}' is used by another client"))
            self._ids.add(raw_id)
        for agent in raw_agents if isinstance(raw_agents, list) else ():
            if isinstance(agent, str):
                other = self._agents.setdefault(agent, label)
                if other != label:
                    problems.append(("agents", f"agent '{agent}' is already claimed by {other}"))
        for pattern in origins:
            # An origin two clients could claim would make the allowlist and the demo pages
            # disagree on whose it is; the first client listed keeps it, the second is refused.
            overlap = self._origins.overlapping(pattern)
            if overlap is not None and overlap[1][1] != index:
                theirs, (owner, other_index) = overlap
                problems.append(("origins", f"origin '{pattern}' overlaps '{theirs}' of {owner} "
                                            f"({self._where.path}:{self._where.line(other_index, 'origins')}); "
                                            "an origin belongs to one client"))
        for pattern in origins:
            self._origins.add(pattern, (label, index))


def _parse_client(entry: dict, problems: list[tuple[str | None, str]],
                  releases: Mapping[str, Release] | None) -> tuple[Client | None, tuple[OriginPattern, ...]]:
    """The client, or None when it has problems; and its well-formed origins either way, for the
    checks between clients."""
    # Each group of fields appends its problems in the file's documented order.
    _check_keys(entry, problems)
    client_id = _text(entry, problems, "id", _CLIENT_ID)
    name = _text(entry, problems, "name")
    theme = _text(entry, problems, "theme", allowed=tuple(THEMES))
    position = _text(entry, problems, "position", allowed=POSITIONS)
    version_text = _text(entry, problems, "widget_version")
    color = _text(entry, problems, "brand_color", _COLOR)
    looks = _looks(entry, problems)
    release = _widget_version(version_text, theme, problems, releases)
    origins = _origins(entry, problems)
    agents = _agents(entry, problems)
    quotas = _quotas(entry, problems)
    bot = _bot_check(entry, problems, version_text, release)
    call = parse_call_fields(entry, agents, release, problems)
    if problems:
        return None, origins
    return Client(client_id, name, origins, agents, theme, position, version_text, color.lower(), **looks, **quotas, **bot,
                  **call), origins


def _check_keys(entry: dict, problems: list[tuple[str | None, str]]) -> None:
    for key in sorted(set(entry) - set(_FIELDS) - set(_OPTIONAL)):
        expected = ", ".join(sorted(_FIELDS + _OPTIONAL))
        problems.append((key, f"unknown field '{key}' (expected one of: {expected})"))
    for key in sorted(set(_FIELDS) - set(entry)):
        problems.append((None, f"missing field '{key}'"))


def _text(entry: dict, problems: list[tuple[str | None, str]], key: str, pattern: re.Pattern[str] | None = None,
          allowed: tuple[str, ...] = ()) -> str:
    value = entry.get(key)
    if key not in entry:
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append((key, f"'{key}' must be a non-empty string"))
    elif pattern is not None and not pattern.fullmatch(value):
        problems.append((key, f"'{key}' value '{value}' is malformed"))
    elif allowed and value not in allowed:
        problems.append((key, f"'{key}' must be one of {', '.join(allowed)}, not '{value}'"))
    return value if isinstance(value, str) else ""


def _strings(entry: dict, problems: list[tuple[str | None, str]], key: str) -> list[str]:
    value = entry.get(key)
    if key not in entry:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append((key, f"'{key}' must be a non-empty list of strings"))
        return []
    return value


def _looks(entry: dict, problems: list[tuple[str | None, str]]) -> dict[str, str]:
    looks = {
        "tagline": _text(entry, problems, "tagline") if "tagline" in entry else "",
        "font": _text(entry, problems, "font", allowed=FONTS) if "font" in entry else "sans",
        "logo_text": _text(entry, problems, "logo_text") if "logo_text" in entry else "",
    }
    for key, limit in (("tagline", _TAGLINE_MAX), ("logo_text", _LOGO_TEXT_MAX)):
        if len(looks[key]) > limit:
            problems.append((key, f"'{key}' is {len(looks[key])} characters long; at most {limit} fit the demo page"))
    return looks


def _widget_version(text: str, theme: str, problems: list[tuple[str | None, str]],
                    releases: Mapping[str, Release] | None) -> Release | None:
    """Check the pinned version; return its release when the releases are known and it is one."""
    version = Version.parse(text) if Version.is_valid(text) else None
    if text and version is None and not any(k == "widget_version" for k, _ in problems):
        problems.append(("widget_version", f"'widget_version' value '{text}' is malformed"))
    if version is not None and releases is not None and text not in releases:
        problems.append(("widget_version", f"widget_version '{text}' is not a released version"))
    since = THEMES.get(theme, 1)
    if version is not None and version.major < since:
        problems.append(("theme", f"theme '{theme}' needs widget_version {since}.0.0 or later, not '{text}'"))
    return releases.get(text) if version is not None and releases is not None else None


def _origins(entry: dict, problems: list[tuple[str | None, str]]) -> tuple[OriginPattern, ...]:
    patterns: list[OriginPattern] = []
    for raw in _strings(entry, problems, "origins"):
        try:
            pattern = OriginPattern.parse(raw)
        except ValueError as exc:
            problems.append(("origins", f"origin '{raw}' is malformed: {exc}"))
            continue
        if not pattern.secure_context:
            # Browsers give the microphone to secure contexts only, so a call could never start there.
            problems.append(("origins", f"origin '{raw}' is plain http, where browsers offer no microphone: use "
                                        "https:// (http:// is for development on loopback only: 127.0.0.1, [::1], "
                                        "localhost or a name under .localhost)"))
            continue
        patterns.append(pattern)
    return tuple(patterns)


def _agents(entry: dict, problems: list[tuple[str | None, str]]) -> tuple[str, ...]:
    agents = _strings(entry, problems, "agents")
    for agent in agents:
        if not AGENT_ID.fullmatch(agent):
            problems.append(("agents", f"agent id '{agent}' is malformed (letters, digits, '_' and '-' only)"))
    if len(set(agents)) != len(agents):
        problems.append(("agents", "an agent id is listed twice"))
    return tuple(agents)


def _quotas(entry: dict, problems: list[tuple[str | None, str]]) -> dict[str, int | None]:
    quotas: dict[str, int | None] = {}
    for key in _QUOTAS:
        value = entry.get(key)
        if key in entry and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _QUOTA_MAX):
            problems.append((key, f"'{key}' must be a whole number from 1 to {_QUOTA_MAX}, not {value!r}"))
        quotas[key] = value if isinstance(value, int) else None
    return quotas


def _bot_check(entry: dict, problems: list[tuple[str | None, str]], version_text: str,
               release: Release | None) -> dict[str, object]:
    check, key, score = (entry.get(k) for k in _BOT)
    if check is not None and check not in BOT_CHECKS:
        problems.append(("bot_check", f"'bot_check' must be one of {', '.join(BOT_CHECKS)}, not {check!r}"))
    if check is not None and "bot_site_key" not in entry:
        problems.append(("bot_check", "'bot_check' needs 'bot_site_key', the provider's public site key"))
    if check is None and ("bot_site_key" in entry or "bot_min_score" in entry):
        problems.append(("bot_site_key" if "bot_site_key" in entry else "bot_min_score",
                         "'bot_site_key' and 'bot_min_score' need 'bot_check'"))
    if "bot_site_key" in entry and not (isinstance(key, str) and _SITE_KEY.fullmatch(key)):
        problems.append(("bot_site_key", "'bot_site_key' must be 1 to 128 letters, digits, '_' or '-'"))
    # What a release can do is recorded with it (its changelog's "features:"), not here.
    if check in BOT_CHECKS and release is not None and not release.supports(BOT_TOKEN):
        problems.append(("bot_check", f"bot_check needs a widget release with the '{BOT_TOKEN}' feature; "
                                      f"release {version_text} does not have it"))
    if "bot_min_score" in entry:
        if check != "recaptcha":
            problems.append(("bot_min_score", "'bot_min_score' applies to bot_check = \"recaptcha\" only"))
        elif isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            problems.append(("bot_min_score", f"'bot_min_score' must be a number from 0.0 to 1.0, not {score!r}"))
    return {"bot_check": check, "bot_site_key": key,
            "bot_min_score": float(score) if isinstance(score, int | float) else None}


class _Locator:
    """Finds the line of a client's table, or of one key inside it, for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._text = text
        self._lines: list[str] = []
        self._starts: list[int] | None = None  # found on the first error: a good file needs no lines

    def line(self, index: int, key: str | None) -> int:
        if self._starts is None:
            self._lines = self._text.splitlines()
            self._starts = [i for i, line in enumerate(self._lines) if line.strip() == "[[client]]"]
        if index >= len(self._starts):
            return 1
        start = self._starts[index]
        end = self._starts[index + 1] if index + 1 < len(self._starts) else len(self._lines)
        if key is not None:
            for number in range(start, end):
                if re.match(rf"\s*(?:{re.escape(key)}\s*=|\[client\.{re.escape(key)}\])", self._lines[number]):
                    return number + 1
        return start + 1


def dump(registry: Registry) -> str:
    """``registry`` as a registry file that ``load`` reads back to the same clients (every
    field: the optional ones are written when set)."""
    lines: list[str] = []
    for client in registry.clients:
        values: dict[str, object] = {
            "id": client.id, "name": client.name, "origins": [str(o) for o in client.origins],
            "agents": list(client.agents), "theme": client.theme, "position": client.position,
            "widget_version": client.widget_version, "brand_color": client.brand_color,
        }
        defaults = {f.name: f.default for f in dataclasses.fields(Client) if f.name in _OPTIONAL}
        values |= {name: getattr(client, name) for name in _OPTIONAL if getattr(client, name) != defaults[name]}
        lines += ["[[client]]", *(f"{key} = {_toml(value)}" for key, value in values.items()), ""]
    return "\n".join(lines)


def _toml(value: object) -> str:
    """A TOML value: a string, number or bool, an array, or an inline table (``Consent`` too)."""
    import json

    if isinstance(value, Consent):
        value = {"text": value.text, "url": value.url}
    if isinstance(value, Mapping):
        # Keys are variable names or agent ids: bare TOML keys (letters, digits, '_' and '-').
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        # A JSON string is a TOML basic string, but for DEL (which TOML wants escaped) and astral
        # characters (JSON's ASCII escapes of them are surrogate pairs, which TOML refuses).
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return json.dumps(value)
