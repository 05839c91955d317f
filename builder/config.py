"""The builder's one typed configuration, read from ``site_src/site.toml`` and validated at once."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_URL_KEYS = ("cdn_url", "docs_url", "proxy_url", "sdk_url")


class ConfigError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class SiteConfig:
    name: str
    cdn_url: str
    docs_url: str
    proxy_url: str
    sdk_url: str


@dataclass(frozen=True, slots=True)
class BuildConfig:
    src: Path
    widget: Path
    out: Path
    site: SiteConfig

    @property
    def registry_path(self) -> Path:
        return self.src / "clients.toml"


def load_config(src: Path, widget: Path, out: Path, overrides: Mapping[str, str] | None = None) -> BuildConfig:
    """Load ``src/site.toml``; ``overrides`` replaces site keys (the sandbox points URLs at itself)."""
    path = src / "site.toml"
    errors: list[str] = []
    if not src.is_dir():
        raise ConfigError([f"{src}: the site source folder does not exist"])
    if not widget.is_dir():
        errors.append(f"{widget}: the widget source folder does not exist")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("site")
    except FileNotFoundError:
        raise ConfigError([f"{path}: missing; it needs a [site] table"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    if not isinstance(table, dict):
        raise ConfigError([f"{path}: needs a [site] table"])
    values = {**table, **(overrides or {})}
    for key in sorted(set(overrides or {}) - {"name", *_URL_KEYS}):
        errors.append(f"override '{key}' is not a site setting")
    for key in sorted(set(table) - {"name", *_URL_KEYS}):
        errors.append(f"{path}: [site] has unknown key '{key}'")
    if not isinstance(values.get("name"), str) or not values["name"].strip():
        errors.append(f"{path}: [site] name must be a non-empty string")
    for key in _URL_KEYS:
        value = values.get(key)
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(f"{path}: [site] {key} must be an absolute http(s) URL, got {value!r}")
    if errors:
        raise ConfigError(errors)
    site = SiteConfig(
        name=values["name"],
        cdn_url=values["cdn_url"].rstrip("/"),
        docs_url=values["docs_url"].rstrip("/"),
        proxy_url=values["proxy_url"],
        sdk_url=values["sdk_url"],
    )
    return BuildConfig(src=src, widget=widget, out=out, site=site)
