"""The proxy's one typed configuration, read from environment variables and validated at once."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from registry.errors import ErrorList
from registry.origin import is_http_url


class SettingsError(ErrorList):
    """Every problem found in the proxy's settings, one message per entry, naming the variable."""


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
def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise ValueError
        return value

    parse.__doc__ = f"seconds between {low:g} and {high:g}"
    return parse


def _whole(low: int, high: int, what: str = "a whole number from {low} to {high}") -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError
        return value

    parse.__doc__ = what.format(low=low, high=high)
    return parse


_size = _whole(256, 1_048_576, "a byte count between {low} and {high}")
_webhook_size = _whole(1024, 16_777_216, "a byte count between {low} and {high}")
_prefix = _whole(32, 128, "a prefix length from {low} to {high}")
_connections = _whole(10, 100_000)
_per_ip = _whole(1, 1000)


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


def _url(text: str) -> str:
    """an absolute http(s) URL"""
    if not is_http_url(text):
        raise ValueError
    return text


def _path(text: str) -> str:
    """an absolute URL path such as /v2/create-web-call"""
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", text):
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


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment variable: the field it sets, its default (as text, parsed like any
    value), the parser (whose docstring says what a valid value looks like), and what it means.
    This table is the source of the settings' defaults, of ``--help`` and of the docs page."""

    env: str
    field: str
    default: str
    parse: Callable[[str], Any]
    meaning: str
    shown_default: str | None = None  # how --help says the default, when not the text itself

    def describe(self) -> str:
        if self.env == "RETELL_API_KEY":
            return self.meaning
        return f"{self.meaning} (default {self.shown_default or self.default})"

    def value(self) -> Any:
        return self.parse(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting("RETELL_API_KEY", "retell_api_key", "", Secret, "Retell secret API key (required; never logged or returned)"),
    Setting("RETELL_WEBHOOK_KEY", "webhook_key", "", _secret,
            "the Retell API key with the webhook badge, which signs Retell's webhooks (never logged or returned)",
            "RETELL_API_KEY"),
    Setting("RETELL_BASE_URL", "retell_base_url", "https://api.retellai.com", str, "Retell API base URL"),
    Setting("RETELL_CREATE_WEB_CALL_PATH", "retell_create_path", "/v2/create-web-call", _path,
            "Retell's create-web-call path: v2's token is what the widget's SDK (retell-client-js-sdk 2.x) joins with"),
    Setting("PROXY_REGISTRY", "registry_path", "site_src/clients.toml", Path, "client registry file, reloaded when it changes"),
    Setting("PROXY_UPSTREAM_TIMEOUT", "upstream_timeout", "10", _seconds(0.1, 120), "seconds to wait for Retell in total"),
    Setting("PROXY_MAX_BODY_BYTES", "max_body_bytes", "8192", _size, "largest accepted request body in bytes"),
    Setting("PROXY_RATE_LIMIT_IP", "rate_limit_ip", "20/minute", _rate, "create attempts per client IP"),
    Setting("PROXY_RATE_LIMIT_AGENT", "rate_limit_agent", "120/minute", _rate, "created calls per client and agent"),
    Setting("PROXY_RATE_LIMIT_STORAGE", "rate_limit_storage", "memory://", _storage,
            "memory:// (per process) or redis://host:port/db (shared)"),
    Setting("PROXY_IPV6_PREFIX", "ipv6_prefix", "64", _prefix,
            "IPv6 clients share one budget per network of this many bits (one subscriber usually has a /64)"),
    Setting("PROXY_TRUSTED_PROXIES", "trusted_proxies", "", _networks,
            "reverse proxies whose X-Forwarded-For is believed, comma-separated IPs/CIDRs", "none"),
    Setting("PROXY_SERVER_TOKEN", "server_token", "", _secret,
            "bearer token allowing requests without an Origin (server to server)", "off"),
    Setting("PROXY_ADMIN_TOKEN", "admin_token", "", _secret, "password for the GET /usage page", "off"),
    Setting("PROXY_TURNSTILE_SECRET", "turnstile_secret", "", _secret,
            "Cloudflare Turnstile secret key, for clients with bot_check = \"turnstile\" (never logged or returned)", "off"),
    Setting("PROXY_RECAPTCHA_SECRET", "recaptcha_secret", "", _secret,
            "reCAPTCHA v3 secret key, for clients with bot_check = \"recaptcha\" (never logged or returned)", "off"),
    Setting("PROXY_TURNSTILE_VERIFY_URL", "turnstile_verify_url", "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            _url, "where Turnstile tokens are verified"),
    Setting("PROXY_RECAPTCHA_VERIFY_URL", "recaptcha_verify_url", "https://www.google.com/recaptcha/api/siteverify",
            _url, "where reCAPTCHA tokens are verified"),
    Setting("PROXY_BOT_CHECK_TIMEOUT", "bot_check_timeout", "5", _seconds(0.1, 30),
            "seconds to wait for a bot check provider"),
    Setting("PROXY_USAGE_DB", "usage_database", "usage.sqlite3", _usage,
            "usage analytics: SQLite file, postgresql:// URL or off"),
    Setting("PROXY_WEBHOOK_MAX_BYTES", "webhook_max_bytes", "4194304", _webhook_size,
            "largest accepted Retell webhook body in bytes (they carry the call's transcript)"),
    Setting("PROXY_USAGE_COMMIT_WAIT", "usage_commit_wait", "1", _seconds(0, 10),
            "seconds a create waits for its usage row to be committed"),
    Setting("PROXY_MANIFEST", "manifest_path", "dist/cdn/manifest.json", Path,
            "the build's CDN manifest: the published releases a client may pin and what each can do, and /api/widget-version"),
    Setting("PROXY_RELOAD_INTERVAL", "reload_interval", "1", _seconds(0, 3600),
            "seconds between checks of the registry and manifest files"),
    Setting("PROXY_HEADER_TIMEOUT", "header_timeout", "10", _seconds(0.1, 120),
            "seconds a client may take to send a request's headers before the connection is closed"),
    Setting("PROXY_BODY_TIMEOUT", "body_timeout", "10", _seconds(0.1, 120),
            "seconds a client may take to send a request's body before it is answered 408"),
    Setting("PROXY_KEEP_ALIVE", "keep_alive", "5", _seconds(1, 300),
            "seconds an idle keep-alive connection stays open"),
    Setting("PROXY_MAX_CONNECTIONS", "max_connections", "1000", _connections,
            "connections and requests in progress at once, per process; beyond it requests are answered 503"),
    Setting("PROXY_PER_IP_CONCURRENCY", "per_ip_concurrency", "4", _per_ip,
            "creates in progress at once per client IP (IPv6 network), per process; its others wait their turn"),
    Setting("PROXY_LOG_LEVEL", "log_level", "INFO", _level, "DEBUG, INFO, WARNING or ERROR"),
)
ENVIRONMENT: dict[str, Setting] = {setting.env: setting for setting in SETTINGS}
_BY_FIELD = {setting.field: setting for setting in SETTINGS}


def _default(field_name: str) -> Any:
    return _BY_FIELD[field_name].value()


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Every default is the table's (``SETTINGS``), parsed as an environment value would be."""

    retell_api_key: Secret
    retell_base_url: str = _default("retell_base_url")
    registry_path: Path = _default("registry_path")
    upstream_timeout: float = _default("upstream_timeout")
    max_body_bytes: int = _default("max_body_bytes")
    # limits' rate-limit strings, e.g. "20/minute" or "5/second;100/hour".
    rate_limit_ip: str = _default("rate_limit_ip")
    rate_limit_agent: str = _default("rate_limit_agent")
    # "memory://" keeps budgets per process; "redis://host:port/db" shares them between instances.
    rate_limit_storage: str = _default("rate_limit_storage")
    # Peers allowed to set X-Forwarded-For; from anyone else the header is ignored.
    trusted_proxies: tuple[Network, ...] = _default("trusted_proxies")
    # A bearer token that lets a server without an Origin header mint tokens; None refuses them.
    server_token: Secret | None = _default("server_token")
    # Basic-auth password (or bearer token) for GET /usage; None turns the page off.
    admin_token: Secret | None = _default("admin_token")
    # A SQLite file, or a postgresql:// URL; None records nothing.
    usage_database: str | None = _default("usage_database")
    # How long a create waits for its usage row to be committed before answering anyway.
    usage_commit_wait: float = _default("usage_commit_wait")
    webhook_max_bytes: int = _default("webhook_max_bytes")
    manifest_path: Path = _default("manifest_path")
    # How often, at most, the registry and manifest files are checked for changes.
    reload_interval: float = _default("reload_interval")
    log_level: str = _default("log_level")
    # The key Retell signs webhooks with (the API key with the webhook badge); None: retell_api_key.
    webhook_key: Secret | None = _default("webhook_key")
    # Bot checks: the providers' secret keys (None: clients that need one are refused with 503),
    # where their tokens are verified, and how long a verification may take.
    turnstile_secret: Secret | None = _default("turnstile_secret")
    recaptcha_secret: Secret | None = _default("recaptcha_secret")
    turnstile_verify_url: str = _default("turnstile_verify_url")
    recaptcha_verify_url: str = _default("recaptcha_verify_url")
    bot_check_timeout: float = _default("bot_check_timeout")
    # Where creates go under the base URL; /v3/create-web-call is for Retell's gateway web client.
    retell_create_path: str = _default("retell_create_path")
    # IPv6 clients are budgeted (and recorded and logged) per network of this many bits.
    ipv6_prefix: int = _default("ipv6_prefix")
    # Deadlines and limits on connections (python -m proxy serve gives them to uvicorn).
    header_timeout: float = _default("header_timeout")
    body_timeout: float = _default("body_timeout")
    keep_alive: float = _default("keep_alive")
    max_connections: int = _default("max_connections")
    per_ip_concurrency: int = _default("per_ip_concurrency")


def setting_value(environ: Mapping[str, str], name: str) -> Any:
    """One variable, parsed as ``load_settings`` parses it; raises ``SettingsError``."""
    errors: list[str] = []
    value = _parse(ENVIRONMENT[name], environ, errors)
    if errors:
        raise SettingsError(errors)
    return value


def _parse(setting: Setting, environ: Mapping[str, str], errors: list[str]) -> Any:
    text = environ.get(setting.env, setting.default).strip()
    try:
        return setting.parse(text)
    except ValueError:
        what = (setting.parse.__doc__ or "").strip() or "a valid value"
        shown = "<hidden>" if setting.parse in (Secret, _secret) else repr(text)
        errors.append(f"{setting.env} must be {what}, got {shown}")
        return None


def load_settings(environ: Mapping[str, str]) -> ProxySettings:
    """Read every variable, report every problem at once."""
    errors: list[str] = []
    values: dict[str, Any] = {setting.field: _parse(setting, environ, errors) for setting in SETTINGS}
    if not environ.get("RETELL_API_KEY", "").strip():
        errors.append("RETELL_API_KEY is not set: the proxy needs your Retell secret key")
    base_url = values.get("retell_base_url", "").rstrip("/")
    if not is_http_url(base_url):
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
