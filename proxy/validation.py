"""The create request's body: parsed strictly, checked field by field, reduced to what we forward."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from proxy.refusal import Refusal
from registry import AGENT_ID

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Harmless to Python, but dangerous to any JavaScript that merges these objects later.
_POLLUTING_KEYS = frozenset({"__proto__", "constructor", "prototype"})
MAX_METADATA_BYTES = 2048
MAX_VARIABLES = 32
MAX_VARIABLE_BYTES = 512
MAX_DEPTH = 4
MAX_BOT_TOKEN = 4096  # Turnstile tokens are at most 2048 characters; reCAPTCHA's are shorter


class InvalidBody(Refusal):
    """A create body the proxy will not pass on (400), with the rule's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, code, message)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    agent_id: str
    metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, str] | None = None
    bot_token: str | None = None  # a Turnstile or reCAPTCHA token, for a client that requires one; never sent to Retell

    def upstream_body(self) -> dict[str, Any]:
        # Only the fields we checked; anything else the caller sent stays here.
        body: dict[str, Any] = {"agent_id": self.agent_id}
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.dynamic_variables is not None:
            body["retell_llm_dynamic_variables"] = self.dynamic_variables
        return body


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_create(body: bytes) -> CreateRequest:
    """Parse and validate a create body; raise ``InvalidBody`` with a message for the caller."""
    try:
        payload = json.loads(body, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidBody("invalid_json", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidBody("invalid_body", "the body must be a JSON object")
    agent_id = payload.get("agent_id")
    if not isinstance(agent_id, str) or not AGENT_ID.fullmatch(agent_id):
        raise InvalidBody("invalid_agent_id", "agent_id must be a string of 1-128 letters, digits, '_' or '-'")
    bot_token = payload.get("bot_token")
    if bot_token is not None and not (isinstance(bot_token, str) and 0 < len(bot_token) <= MAX_BOT_TOKEN):
        raise InvalidBody("invalid_bot_token", f"bot_token must be a string of 1 to {MAX_BOT_TOKEN} characters")
    return CreateRequest(agent_id, _metadata(payload.get("metadata")), _variables(payload.get("retell_llm_dynamic_variables")),
                         bot_token)


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidBody("invalid_metadata", "metadata must be a JSON object")
    if _depth(value) > MAX_DEPTH:
        raise InvalidBody("invalid_metadata", f"metadata may nest at most {MAX_DEPTH} levels")
    # Depth is bounded now, so the recursive searches below are safe.
    if bad := _polluting_key(value):
        raise InvalidBody("invalid_metadata", f"metadata may not use the key '{bad}'")
    if where := _non_finite(value, "metadata"):
        # 1e999 parses as infinity, which JSON cannot carry: Retell would get a body it refuses.
        raise InvalidBody("invalid_metadata", f"{where} must be a finite number")
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        raise InvalidBody("invalid_metadata", f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


def _variables(value: Any) -> dict[str, str] | None:
    name = "retell_llm_dynamic_variables"
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidBody("invalid_dynamic_variables", f"{name} must be a JSON object of strings")
    if len(value) > MAX_VARIABLES:
        raise InvalidBody("invalid_dynamic_variables", f"{name} may have at most {MAX_VARIABLES} entries")
    for key, text in value.items():
        if not _VARIABLE_NAME.fullmatch(key) or key in _POLLUTING_KEYS:
            raise InvalidBody("invalid_dynamic_variables",
                              f"{name} keys must be identifiers of at most 64 letters, digits and '_'")
        if not isinstance(text, str):
            raise InvalidBody("invalid_dynamic_variables", f"{name} values must be strings")
        if len(text.encode()) > MAX_VARIABLE_BYTES:
            raise InvalidBody("invalid_dynamic_variables", f"{name} values must be at most {MAX_VARIABLE_BYTES} bytes")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` nests, counted without recursion: JSON may nest ~1000 levels deep."""
    deepest, level, todo = 0, [value], 0
    while level:
        todo += 1
        deepest = todo
        level = [v for item in level if isinstance(item, (dict, list))
                 for v in (item.values() if isinstance(item, dict) else item)]
        if todo > MAX_DEPTH + 1:
            break
    return deepest - 1


def _non_finite(value: Any, where: str) -> str | None:
    """Where in ``value`` a number is infinite or NaN, as ``metadata.a[2].b``; None if nowhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if found := _non_finite(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"):
            return found
    return None


def _polluting_key(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _POLLUTING_KEYS:
                return key
            if found := _polluting_key(item):
                return found
    elif isinstance(value, list):
        for item in value:
            if found := _polluting_key(item):
                return found
    return None
