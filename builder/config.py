"""The builder's one typed configuration, read from ``site_src/site.toml`` and validated at once."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from registry.errors import ErrorList
from registry.origin import is_http_url

_URL_KEYS = ("cdn_url", "docs_url", "proxy_url", "sdk_url")
# sdk_url may be left out: the widget then loads the SDK the build publishes under cdn/sdk/.
_OPTIONAL = {"sdk_url"}


class ConfigError(ErrorList):
    """Every problem found in ``site.toml``, one message per entry."""


@dataclass(frozen=True, slots=True)
class SiteConfig:
    name: str
    cdn_url: str
    docs_url: str
    proxy_url: str
    sdk_url: str | None = None  # None: snippets leave sdkUrl out and the widget uses the CDN's copy


@dataclass(frozen=True, slots=True)
class Budget:
    path: str  # a CDN path, e.g. "v2/retell-widget.js"
    max_gzip: int
    line: int  # where site.toml sets it, for error messages


@dataclass(frozen=True, slots=True)
class BuildConfig:
    src: Path
    widget: Path
    out: Path
    site: SiteConfig
    budgets: tuple[Budget, ...] = ()

    @property
    def registry_path(self) -> Path:
        return self.src / "clients.toml"

    @property
    def site_path(self) -> Path:
        return self.src / "site.toml"

    @property
    def archive(self) -> Path:
        """Released widget files, kept byte for byte once a line moves on (see builder.cdn)."""
        return self.src / "releases"


def load_config(src: Path, widget: Path, out: Path, overrides: Mapping[str, str] | None = None) -> BuildConfig:
    """Load ``src/site.toml``; ``overrides`` replaces site keys (the sandbox points URLs at itself)."""
    path = src / "site.toml"
    errors: list[str] = []
    if not src.is_dir():
        raise ConfigError([f"{src}: the site source folder does not exist"])
    if not widget.is_dir():
        errors.append(f"{widget}: the widget source folder does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
        table = document.get("site")
    except FileNotFoundError:
        raise ConfigError([f"{path}: missing; it needs a [site] table"]) from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError([f"{path}:{line[1] if line else 1}: invalid TOML: {exc}"]) from None
    if not isinstance(table, dict):
        line = _line_of(text, r"site\s*=")  # a [site] that is not a table; else the top of the file
        raise ConfigError([f"{path}:{line}: needs a [site] table"])
    values = {**table, **(overrides or {})}

    def where(key: str) -> str:
        # A value the caller passed (--set, the sandbox's URLs) has no line in site.toml.
        return f"override '{key}'" if key in (overrides or {}) else f"{path}:{_site_line(text, key)}: [site] {key}"

    for key in sorted(set(overrides or {}) - {"name", *_URL_KEYS}):
        errors.append(f"override '{key}' is not a site setting")
    for key in sorted(set(table) - {"name", *_URL_KEYS}):
        errors.append(f"{path}:{_site_line(text, key)}: [site] has unknown key '{key}'")
    if not isinstance(values.get("name"), str) or not values["name"].strip():
        errors.append(f"{where('name')} must be a non-empty string")
    for key in _URL_KEYS:
        value = values.get(key)
        if key in _OPTIONAL and value in (None, ""):
            continue
        if not is_http_url(value):
            errors.append(f"{where(key)} must be an absolute http(s) URL, got {value!r}")
    budgets = _budgets(document.get("budgets", {}), path, text, errors)
    for key in sorted(set(document) - {"site", "budgets"}):
        line = _line_of(text, r"\[" + re.escape(key) + r"\]")
        errors.append(f"{path}:{line}: unknown table [{key}] (expected [site] and [budgets])")
    if errors:
        raise ConfigError(errors)
    site = SiteConfig(
        name=values["name"],
        cdn_url=values["cdn_url"].rstrip("/"),
        docs_url=values["docs_url"].rstrip("/"),
        proxy_url=values["proxy_url"],
        sdk_url=values.get("sdk_url") or None,
    )
    return BuildConfig(src=src, widget=widget, out=out, site=site, budgets=budgets)


def _budgets(table: object, path: Path, text: str, errors: list[str]) -> tuple[Budget, ...]:
    if not isinstance(table, dict):
        errors.append(f"{path}:{_line_of(text, 'budgets')}: [budgets] must be a table of \"cdn/path\" = max gzip bytes")
        return ()
    budgets = []
    for key, value in table.items():
        line = _line_of(text, '"?' + re.escape(key) + r'"?\s*=')
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(f"{path}:{line}: budget for {key!r} must be a positive number of gzip bytes, got {value!r}")
        elif key.startswith("/") or "/" not in key:
            errors.append(f"{path}:{line}: budget key {key!r} must be a CDN path such as \"v1/retell-widget.js\"")
        else:
            budgets.append(Budget(key, value, line))
    return tuple(budgets)


def _site_line(text: str, key: str) -> int:
    """The line of ``key`` in the [site] table; the table's own line when the key is missing."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\s*\[\s*site\s*\]", line)), None)
    if start is None:
        return 1
    assignment = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            break  # the next table
        if assignment.match(lines[number]):
            return number + 1
    return start + 1


def _line_of(text: str, pattern: str) -> int:
    regex = re.compile(rf"^\s*{pattern}")
    return next((i + 1 for i, line in enumerate(text.splitlines()) if regex.match(line)), 1)
