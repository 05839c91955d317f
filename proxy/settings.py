"""The proxy's one typed configuration, read from environment variables and validated at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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


DEFAULT_BASE_URL = "https://api.retellai.com"
DEFAULT_REGISTRY = "site_src/clients.toml"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ProxySettings:
    retell_api_key: Secret
    retell_base_url: str = DEFAULT_BASE_URL
    registry_path: Path = Path(DEFAULT_REGISTRY)
    upstream_timeout: float = DEFAULT_TIMEOUT
    max_body_bytes: int = 8192


# Environment variable -> (field, description), also the source of the README's table.
ENVIRONMENT = {
    "RETELL_API_KEY": ("retell_api_key", "Retell secret API key (required; never logged or returned)"),
    "RETELL_BASE_URL": ("retell_base_url", "Retell API base URL (default https://api.retellai.com)"),
    "PROXY_REGISTRY": ("registry_path", "client registry file (default site_src/clients.toml)"),
    "PROXY_UPSTREAM_TIMEOUT": ("upstream_timeout", "seconds to wait for Retell (default 10)"),
}


def load_settings(environ: Mapping[str, str]) -> ProxySettings:
    errors: list[str] = []
    key = environ.get("RETELL_API_KEY", "")
    if not key.strip():
        errors.append("RETELL_API_KEY is not set: the proxy needs your Retell secret key")
    base_url = environ.get("RETELL_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append(f"RETELL_BASE_URL must be an absolute http(s) URL, got {base_url!r}")
    registry_path = Path(environ.get("PROXY_REGISTRY", DEFAULT_REGISTRY))
    if not registry_path.is_file():
        errors.append(f"PROXY_REGISTRY: no registry file at {registry_path}")
    timeout_text = environ.get("PROXY_UPSTREAM_TIMEOUT", str(DEFAULT_TIMEOUT))
    try:
        timeout = float(timeout_text)
        if not 0 < timeout <= 120:
            raise ValueError
    except ValueError:
        errors.append(f"PROXY_UPSTREAM_TIMEOUT must be seconds between 0 and 120, got {timeout_text!r}")
        timeout = DEFAULT_TIMEOUT
    if errors:
        raise SettingsError(errors)
    return ProxySettings(Secret(key), base_url, registry_path, timeout)
