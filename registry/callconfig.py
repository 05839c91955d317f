"""What a client's calls are created with: fixed and page-settable dynamic variables, agent
versions, the widget's language and the consent asked before a call.

The registry sets these and the proxy enforces them: a page sends only the variables its client
lists in ``page_variables``, never a fixed one, never an agent version; a client with ``consent``
gets no call without the hash of its current text. What a widget release must do for a field
(send page variables, ask consent, speak a language) is asked of the pinned ``Release``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from registry.origin import is_http_url
from registry.releases import CONSENT, DYNAMIC_VARIABLES, LANGUAGE, Release

# Retell's dynamic variable names, as its prompts write them: {{client_name}}.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # fullmatch it
# Harmless to Python, but dangerous to any JavaScript that merges these objects later.
POLLUTING_KEYS = frozenset({"__proto__", "constructor", "prototype"})
MAX_VARIABLES = 32  # fixed ones, and page keys: the proxy takes at most this many from a page
MAX_VARIABLE_VALUE = 500  # characters of a fixed variable's value
MAX_VERSION_TAG = 128
MAX_CONSENT_TEXT = 1000
MAX_CONSENT_URL = 2048
CALL_FIELDS = ("variables", "page_variables", "agent_versions", "language", "consent")

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only mapping that keeps its order and, unlike ``MappingProxyType``, hashes: a
    ``Client`` stays a frozen, hashable value."""

    __slots__ = ("_items", "_dict")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._dict = dict(items or {})
        self._items = tuple(self._dict.items())

    def __getitem__(self, key: K) -> V:
        return self._dict[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __repr__(self) -> str:
        return f"FrozenMap({self._dict!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[K, V]]]:
        return FrozenMap, (self._dict,)


@dataclass(frozen=True, slots=True)
class Consent:
    """The text a visitor agrees to before a call, and the page with the details."""

    text: str
    url: str

    @property
    def hash(self) -> str:
        """Lowercase hex SHA-256 of the UTF-8 text: what the widget sends, what the proxy compares
        and stores. The widget computes the same with ``crypto.subtle.digest('SHA-256', new
        TextEncoder().encode(text))``; changing the text changes it, so visitors are asked again."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


Problems = list[tuple[str | None, str]]


def parse_call_fields(entry: dict, agents: tuple[str, ...], release: Release | None, problems: Problems) -> dict[str, object]:
    """The call fields of one ``[[client]]`` table, as ``Client``'s keyword arguments; each
    problem is appended as (key, message). ``release`` is the pinned release when releases are
    known: then each field is also checked against what it can do."""
    variables = _variables(entry, problems)
    page_variables = _page_variables(entry, problems, variables)
    agent_versions = _agent_versions(entry, problems, agents)
    language = _language(entry, problems)
    consent = _consent(entry, problems)
    version = release.version if release is not None else ""
    # What a release can do is recorded with it (its changelog's "features:" and "languages:").
    if page_variables and release is not None and not release.supports(DYNAMIC_VARIABLES):
        problems.append(("page_variables", f"page_variables needs a widget release with the '{DYNAMIC_VARIABLES}' "
                                           f"feature; release {version} does not have it"))
    if consent is not None and release is not None and not release.supports(CONSENT):
        problems.append(("consent", f"consent needs a widget release with the '{CONSENT}' feature; "
                                    f"release {version} does not have it"))
    if language is not None and release is not None and language not in release.languages:
        problems.append(("language", f"language '{language}' needs a widget release whose strings know it; "
                                     f"release {version} knows {', '.join(release.languages)}"))
    return {"variables": variables, "page_variables": page_variables, "agent_versions": agent_versions,
            "language": language, "consent": consent}


def _name_problem(key: object) -> str | None:
    if not isinstance(key, str) or not VARIABLE_NAME.fullmatch(key):
        return "letters, digits and '_', not starting with a digit, at most 64"
    if key in POLLUTING_KEYS:
        return "a name JavaScript objects reserve"
    return None


def _variables(entry: dict, problems: Problems) -> FrozenMap[str, str]:
    value = entry.get("variables")
    if "variables" not in entry:
        return FrozenMap()
    if not isinstance(value, dict):
        problems.append(("variables", "'variables' must be a table of names to strings, as variables = { name = \"...\" }"))
        return FrozenMap()
    if len(value) > MAX_VARIABLES:
        problems.append(("variables", f"'variables' has {len(value)} entries; at most {MAX_VARIABLES}"))
    for name, text in value.items():
        if reason := _name_problem(name):
            problems.append(("variables", f"variable name '{name}' is malformed ({reason})"))
        elif not isinstance(text, str):
            problems.append(("variables", f"variable '{name}' must be a string, not {text!r}"))
        elif len(text) > MAX_VARIABLE_VALUE:
            problems.append(("variables", f"variable '{name}' is {len(text)} characters long; at most {MAX_VARIABLE_VALUE}"))
    return FrozenMap(value)


def _page_variables(entry: dict, problems: Problems, fixed: Mapping[str, str]) -> tuple[str, ...]:
    value = entry.get("page_variables")
    if "page_variables" not in entry:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(("page_variables", "'page_variables' must be a list of variable names"))
        return ()
    if len(value) > MAX_VARIABLES:
        problems.append(("page_variables", f"'page_variables' has {len(value)} names; at most {MAX_VARIABLES}"))
    for name in value:
        if reason := _name_problem(name):
            problems.append(("page_variables", f"page variable name '{name}' is malformed ({reason})"))
        elif name in fixed:
            # A page could then replace what the team fixed: the fixed value would not be fixed.
            problems.append(("page_variables", f"'{name}' is a fixed variable; it cannot also be set by the page"))
    for name in sorted({n for n in value if value.count(n) > 1}):
        problems.append(("page_variables", f"page variable '{name}' is listed twice"))
    return tuple(value)


def _agent_versions(entry: dict, problems: Problems, agents: tuple[str, ...]) -> FrozenMap[str, int | str]:
    value = entry.get("agent_versions")
    if "agent_versions" not in entry:
        return FrozenMap()
    if not isinstance(value, dict):
        problems.append(("agent_versions", "'agent_versions' must be a table of agent ids to versions, "
                                           "as agent_versions = { agent_x = 3 }"))
        return FrozenMap()
    for agent, version in value.items():
        if agents and agent not in agents:
            problems.append(("agent_versions", f"agent_versions names '{agent}', which is not one of this client's agents"))
        # Retell's create-web-call takes agent_version as an integer or a string (a tag).
        if isinstance(version, bool) or not isinstance(version, int | str) or (isinstance(version, int) and version < 0) \
                or (isinstance(version, str) and not (version.strip() and len(version) <= MAX_VERSION_TAG)):
            problems.append(("agent_versions", f"agent_versions.{agent} must be a version number (0 or more) or a "
                                               f"tag of 1 to {MAX_VERSION_TAG} characters, not {version!r}"))
    return FrozenMap(value)


def _language(entry: dict, problems: Problems) -> str | None:
    value = entry.get("language")
    if "language" not in entry:
        return None
    if not isinstance(value, str) or not LANGUAGE.fullmatch(value):
        problems.append(("language", f"'language' must be a language code such as 'de' or 'pt-BR', not {value!r}"))
        return None
    return value


def _consent(entry: dict, problems: Problems) -> Consent | None:
    value = entry.get("consent")
    if "consent" not in entry:
        return None
    if not isinstance(value, dict) or set(value) != {"text", "url"}:
        problems.append(("consent", "'consent' must be a table with 'text' and 'url' only, "
                                    "as consent = { text = \"...\", url = \"https://...\" }"))
        return None
    text, url = value["text"], value["url"]
    if not isinstance(text, str) or not text.strip():
        problems.append(("consent", "consent.text must be a non-empty string"))
    elif len(text) > MAX_CONSENT_TEXT:
        problems.append(("consent", f"consent.text is {len(text)} characters long; at most {MAX_CONSENT_TEXT}"))
    if not _https_url(url):
        problems.append(("consent", f"consent.url must be an absolute https URL, not {url!r}"))
    return Consent(text, url) if isinstance(text, str) and isinstance(url, str) else None


def _https_url(value: object) -> bool:
    # The widget puts it in a link's href: https only, and nothing a browser would read otherwise.
    if not is_http_url(value) or len(value) > MAX_CONSENT_URL or any(c.isspace() or ord(c) < 32 for c in value):
        return False
    return urlsplit(value).scheme == "https"
