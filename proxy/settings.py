"""The proxy's one typed configuration, read from environment variables and validated at once."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_BASE_URL = "https://api.retellai.com"
DEFAULT_REGISTRY = "site_src/clients.toml"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MANIFEST = "dist/cdn/manifest.json"
DEFAULT_USAGE_DB = "usage.sqlite3"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    retell_api_key: Secret
    retell_base_url: str = DEFAULT_BASE_URL
    registry_path: Path = Path(DEFAULT_REGISTRY)
    upstream_timeout: float = DEFAULT_TIMEOUT
    max_body_bytes: int = 8192
    # limits' rate-limit strings, e.g. "20/minute" or "5/second;100/hour".
    rate_limit_ip: str = "20/minute"
    rate_limit_agent: str = "120/minute"
    # "memory://" keeps budgets per process; "redis://host:port/db" shares them between instances.
    rate_limit_storage: str = "memory://"
    # Peers allowed to set X-Forwarded-For; from anyone else the header is ignored.
    trusted_proxies: tuple[Network, ...] = ()
    # A bearer token that lets a server without an Origin header mint tokens; None refuses them.
    server_token: Secret | None = None
    # Basic-auth password (or bearer token) for GET /usage; None turns the page off.
    admin_token: Secret | None = None
    # A SQLite file, or a postgresql:// URL; None records nothing.
    usage_database: str | None = None
    # How long a create waits for its usage row to be committed before answering anyway.
    usage_commit_wait: float = 1.0
    manifest_path: Path = Path(DEFAULT_MANIFEST)
    # How often, at most, the registry and manifest files are checked for changes.
    reload_interval: float = 1.0
    log_level: str = "INFO"


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise ValueError
        return value

    parse.__doc__ = f"seconds between {low:g} and {high:g}"
    return parse


def _size(text: str) -> int:
    """a byte count between 256 and 1048576"""
    value = int(text)
    if not 256 <= value <= 1_048_576:
        raise ValueError
    return value


def _rate(text: str) -> str:
    """a rate such as '20/minute' or '5/second;100/hour'"""
    from limits import parse_many

    if not parse_many(text):
        raise ValueError
    return text


def _storage(text: str) -> str:
    """memory:// or redis://host:port[/db] (rediss:// for TLS)"""
    scheme = urlsplit(text).scheme
    if text != "memory://" and (scheme not in ("redis", "rediss") or not urlsplit(text).hostname):
        raise ValueError
    return text


def _networks(text: str) -> tuple[Network, ...]:
    """comma-separated IP addresses or CIDR networks"""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _secret(text: str) -> Secret | None:
    """at least 16 characters"""
    if not text:
        return None
    if len(text) < 16:
        raise ValueError
    return Secret(text)


def _usage(text: str) -> str | None:
    """a SQLite file path, a postgresql:// URL, or 'off'"""
    if text == "off":
        return None
    if not text.strip():
        raise ValueError
    return text


def _level(text: str) -> str:
    """DEBUG, INFO, WARNING or ERROR"""
    if text.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError
    return text.upper()


# Environment variable -> (field, default, parser, description). The parser's docstring says
# what a valid value looks like; this table is also the source of --help and the docs page.
_Parser = Callable[[str], Any]
ENVIRONMENT: dict[str, tuple[str, str, _Parser, str]] = {
    "RETELL_API_KEY": ("retell_api_key", "", Secret, "Retell secret API key (required; never logged or returned)"),
    "RETELL_BASE_URL": ("retell_base_url", DEFAULT_BASE_URL, str, f"Retell API base URL (default {DEFAULT_BASE_URL})"),
    "PROXY_REGISTRY": ("registry_path", DEFAULT_REGISTRY, Path, f"client registry file, reloaded when it changes (default {DEFAULT_REGISTRY})"),
    "PROXY_UPSTREAM_TIMEOUT": ("upstream_timeout", "10", _seconds(0.1, 120), "seconds to wait for Retell in total (default 10)"),
    "PROXY_MAX_BODY_BYTES": ("max_body_bytes", "8192", _size, "largest accepted request body in bytes (default 8192)"),
    "PROXY_RATE_LIMIT_IP": ("rate_limit_ip", "20/minute", _rate, "create attempts per client IP (default 20/minute)"),
    "PROXY_RATE_LIMIT_AGENT": ("rate_limit_agent", "120/minute", _rate, "created calls per client and agent (default 120/minute)"),
    "PROXY_RATE_LIMIT_STORAGE": ("rate_limit_storage", "memory://", _storage, "memory:// (per process) or redis://host:port/db (shared; default memory://)"),
    "PROXY_TRUSTED_PROXIES": ("trusted_proxies", "", _networks, "reverse proxies whose X-Forwarded-For is believed, comma-separated IPs/CIDRs (default none)"),
    "PROXY_SERVER_TOKEN": ("server_token", "", _secret, "bearer token allowing requests without an Origin (server to server; default off)"),
    "PROXY_ADMIN_TOKEN": ("admin_token", "", _secret, "password for the GET /usage page (default off)"),
    "PROXY_USAGE_DB": ("usage_database", DEFAULT_USAGE_DB, _usage, f"usage analytics: SQLite file, postgresql:// URL or off (default {DEFAULT_USAGE_DB})"),
    "PROXY_USAGE_COMMIT_WAIT": ("usage_commit_wait", "1", _seconds(0, 10), "seconds a create waits for its usage row to be committed (default 1)"),
    "PROXY_MANIFEST": ("manifest_path", DEFAULT_MANIFEST, Path, f"the build's CDN manifest, for /api/widget-version (default {DEFAULT_MANIFEST})"),
    "PROXY_RELOAD_INTERVAL": ("reload_interval", "1", _seconds(0, 3600), "seconds between checks of the registry and manifest files (default 1)"),
    "PROXY_LOG_LEVEL": ("log_level", "INFO", _level, "DEBUG, INFO, WARNING or ERROR (default INFO)"),
}


def load_settings(environ: Mapping[str, str]) -> ProxySettings:
    """Read every variable, report every problem at once."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name, (field_name, default, parse, _) in ENVIRONMENT.items():
        text = environ.get(name, default).strip()
        try:
            values[field_name] = parse(text)
        except ValueError:
            what = (parse.__doc__ or "").strip() or "a valid value"
            shown = "<hidden>" if parse in (Secret, _secret) else repr(text)
            errors.append(f"{name} must be {what}, got {shown}")
    if not environ.get("RETELL_API_KEY", "").strip():
        errors.append("RETELL_API_KEY is not set: the proxy needs your Retell secret key")
    base_url = values.get("retell_base_url", "").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append(f"RETELL_BASE_URL must be an absolute http(s) URL, got {base_url!r}")
    values["retell_base_url"] = base_url
    registry_path = values["registry_path"]
    if not registry_path.is_file():
        errors.append(f"PROXY_REGISTRY: no registry file at {registry_path}")
    if errors:
        raise SettingsError(errors)
    return ProxySettings(**values)


def configure_logging(level: str) -> None:
    """JSON lines on stderr; called by the CLI only, never on import."""
    from proxy.logs import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
