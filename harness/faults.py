"""Faults a test can inject into the sandbox, through the control origin's ``POST /faults``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CREATE_KEYS = {"status", "retry_after", "delay"}
_KEYS = {"create", "token", "call", "sdk", "proxy", "cdn", "rate_limit", "agent", "media", "agents", "registry", "webhooks", "quota",
         "bot", "bot_check"}
_BOT_FAULTS = ("fail", "low-score", "timeout", "reused")  # what harness.bots fakes (the one list of them)
_BOT_CHECKS = ("turnstile", "recaptcha")
_QUOTA_FIELDS = ("max_calls_per_day", "max_minutes_per_month")
_WEBHOOK_MODES = ("forged", "stale", "duplicate", "reorder", "off")  # harness.webhooks
_AGENT_FAULTS = ("unknown", "no-media")
_RATE = re.compile(r"^[1-9]\d{0,5}/(second|minute|hour)$")


class FaultError(ValueError):
    """A fault description the sandbox cannot apply; the message says why."""


@dataclass(frozen=True, slots=True)
class CreateFault:
    status: int | None = None       # answer Retell's create-web-call with this status
    retry_after: int | None = None  # with 429: the Retry-After header, in seconds
    delay: float = 0.0              # seconds to wait before answering (latency, timeouts)


@dataclass(frozen=True, slots=True)
class Faults:
    create: CreateFault | None = None
    token_expired: bool = False  # tokens are refused by the call channel as expired
    call_drop: bool = False      # the media server drops the call right after it connects
    sdk_fail: bool = False       # the CDN answers 503 for the call SDK
    proxy_down: bool = False     # the proxy's port refuses connections
    cdn_tamper: str | None = None  # the CDN serves altered JavaScript under this path prefix ("": all)
    rate_limit: str | None = None  # the proxy's per-IP limit, e.g. "3/minute" (restarts the proxy)
    hangup_after: float | None = None  # the agent hangs up this many seconds into each call
    media_down: bool = False     # the media server's port refuses connections
    # Per agent: "unknown" (Retell answers 404 for it) or "no-media" (its calls cannot reach the
    # media server); for planting one client's breakage (python -m harness check's tests).
    agents: tuple[tuple[str, str], ...] = ()
    unlisted: tuple[str, ...] = ()  # clients left out of the proxy's registry copy
    webhooks: str | None = None  # how the fake Retell delivers its webhooks (harness.webhooks)
    # Quotas the proxy's registry copy gives clients: (client id, field, value), sorted.
    quotas: tuple[tuple[str, str, int], ...] = ()
    bot: str | None = None  # how the bot check providers' fakes misbehave (harness.bots)
    bot_checks: tuple[tuple[str, str], ...] = ()  # (client id, provider) the proxy's copy requires

    def overrides(self) -> dict[str, dict[str, object]]:
        """Per client, the fields the proxy's registry copy changes (quotas, bot checks)."""
        by_client: dict[str, dict[str, object]] = {}
        for client, name, value in self.quotas:
            by_client.setdefault(client, {})[name] = value
        for client, provider in self.bot_checks:
            by_client.setdefault(client, {})["bot_check"] = provider
        return by_client

    def agent(self, agent_id: str) -> str | None:
        return dict(self.agents).get(agent_id)

    def tampers(self, path: str) -> bool:
        return self.cdn_tamper is not None and path.lstrip("/").startswith(self.cdn_tamper) and path.endswith(".js")

    @classmethod
    def parse(cls, data: object) -> Faults:
        if not isinstance(data, dict):
            raise FaultError("faults must be a JSON object")
        unknown = set(data) - _KEYS
        if unknown:
            raise FaultError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
        return cls(
            create=_create(data["create"]) if "create" in data else None,
            token_expired=_choice(data, "token", "expired"),
            call_drop=_choice(data, "call", "drop"),
            sdk_fail=_choice(data, "sdk", "fail"),
            proxy_down=_choice(data, "proxy", "down"),
            cdn_tamper=_tamper(data["cdn"]) if "cdn" in data else None,
            rate_limit=_rate(data.get("rate_limit")),
            hangup_after=_agent(data["agent"]) if "agent" in data else None,
            media_down=_choice(data, "media", "down"),
            agents=_agents(data["agents"]) if "agents" in data else (),
            unlisted=_unlisted(data["registry"]) if "registry" in data else (),
            webhooks=_webhooks(data["webhooks"]) if "webhooks" in data else None,
            quotas=_quotas(data["quota"]) if "quota" in data else (),
            bot=_bot(data["bot"]) if "bot" in data else None,
            bot_checks=_bot_checks(data["bot_check"]) if "bot_check" in data else (),
        )


def _choice(data: dict, key: str, value: str) -> bool:
    if key not in data:
        return False
    if data[key] != value:
        raise FaultError(f"'{key}' takes only \"{value}\"")
    return True


def _rate(value: object) -> str | None:
    if value is not None and not (isinstance(value, str) and _RATE.fullmatch(value)):
        raise FaultError("'rate_limit' is N/second, N/minute or N/hour")
    return value


def _create(data: object) -> CreateFault:
    if not isinstance(data, dict) or not data or set(data) - _CREATE_KEYS:
        raise FaultError(f"'create' is an object with some of {sorted(_CREATE_KEYS)}")
    status, retry_after, delay = data.get("status"), data.get("retry_after"), data.get("delay", 0.0)
    if status is not None and not (isinstance(status, int) and 200 <= status <= 599):
        raise FaultError("'create.status' must be an HTTP status from 200 to 599")
    if retry_after is not None and not (isinstance(retry_after, int) and 0 <= retry_after <= 3600):
        raise FaultError("'create.retry_after' must be whole seconds from 0 to 3600")
    if not isinstance(delay, int | float) or not 0 <= delay <= 60:
        raise FaultError("'create.delay' must be seconds from 0 to 60")
    return CreateFault(status, retry_after, float(delay))


def _agent(data: object) -> float:
    if not isinstance(data, dict) or set(data) != {"hangup_after"}:
        raise FaultError("'agent' is an object with 'hangup_after' (seconds into the call)")
    seconds = data["hangup_after"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 600:
        raise FaultError("'agent.hangup_after' must be seconds from 0 to 600")
    return float(seconds)


def _tamper(value: object) -> str:
    if value == "tamper":
        return ""
    if isinstance(value, dict) and set(value) == {"tamper"} and isinstance(value["tamper"], str):
        return value["tamper"].lstrip("/")
    raise FaultError("'cdn' is \"tamper\" (every JavaScript file) or {\"tamper\": \"<path prefix>\"}")


def _agents(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and v in _AGENT_FAULTS for k, v in value.items()):
        raise FaultError(f"'agents' maps agent ids to one of {', '.join(_AGENT_FAULTS)}")
    return tuple(sorted(value.items()))


def _unlisted(value: object) -> tuple[str, ...]:
    if not isinstance(value, dict) or set(value) != {"unlisted"} or not isinstance(value["unlisted"], list) \
            or not all(isinstance(c, str) for c in value["unlisted"]):
        raise FaultError("'registry' is {\"unlisted\": [client ids]}: clients the proxy's copy leaves out")
    return tuple(value["unlisted"])


def _webhooks(value: object) -> str:
    if value not in _WEBHOOK_MODES:
        raise FaultError(f"'webhooks' is one of {', '.join(_WEBHOOK_MODES)}")
    return str(value)


def _quotas(value: object) -> tuple[tuple[str, str, int], ...]:
    problem = FaultError(f"'quota' maps client ids to an object with {' and/or '.join(_QUOTA_FIELDS)} (whole numbers >= 1)")
    if not isinstance(value, dict):
        raise problem
    quotas = []
    for client, fields in value.items():
        if not isinstance(fields, dict) or not fields or set(fields) - set(_QUOTA_FIELDS):
            raise problem
        for name, number in fields.items():
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise problem
            quotas.append((str(client), name, number))
    return tuple(sorted(quotas))


def _bot(value: object) -> str:
    if value not in _BOT_FAULTS:
        raise FaultError(f"'bot' is one of {', '.join(_BOT_FAULTS)}")
    return str(value)


def _bot_checks(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and v in _BOT_CHECKS for k, v in value.items()):
        raise FaultError(f"'bot_check' maps client ids to one of {', '.join(_BOT_CHECKS)}")
    return tuple(sorted(value.items()))
