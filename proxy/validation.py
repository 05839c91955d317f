"""The create request's body: parsed strictly, checked field by field, then against its client
(``check_for``), and reduced to what we forward (``CreateRequest.upstream_body``).

What a call is created with is the registry's to say (``registry.callconfig``): a page sends only
its client's ``page_variables``, never an ``agent_version`` nor a reserved metadata key, and, for
a client with ``consent``, the hash of the current text. Fields Retell does not take from a page
(``call_type``, ``agent_override``...) are not forwarded.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from proxy.refusal import Refusal
from registry import AGENT_ID, Client, Origin
from registry.callconfig import POLLUTING_KEYS as _POLLUTING_KEYS
from registry.callconfig import VARIABLE_NAME as _VARIABLE_NAME

# Metadata keys the proxy sets on every call, so Retell's call records and webhooks name the
# client (and the consent text in force) without our usage database; a page may not send them.
RESERVED_METADATA = ("client_id", "origin", "consent_hash")
_CONSENT_HASH = re.compile(r"[0-9a-f]{64}")  # registry.Consent.hash: lowercase hex SHA-256
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
    consent_hash: str | None = None  # the consent text the visitor agreed to (its hash), well-formed

    def upstream_body(self, client: Client, origin: Origin | None) -> dict[str, Any]:
        """What Retell is asked for: the fields we checked (anything else the caller sent stays
        here), with what the registry sets for ``client`` (``check_for`` passed)."""
        body: dict[str, Any] = {"agent_id": self.agent_id}
        version = client.agent_versions.get(self.agent_id)
        if version is not None:
            body["agent_version"] = version
        # The fixed variables win, though a page that sent one was refused already.
        variables = {**(self.dynamic_variables or {}), **client.variables}
        if variables:
            body["retell_llm_dynamic_variables"] = variables
        metadata = {**(self.metadata or {}), "client_id": client.id, "origin": str(origin) if origin is not None else None}
        if client.consent is not None:
            metadata["consent_hash"] = client.consent.hash
        body["metadata"] = metadata
        return body


def check_for(wanted: CreateRequest, client: Client) -> None:
    """Refuse what ``client``'s registry entry does not let a page ask: a dynamic variable it does
    not list in ``page_variables`` (a fixed one included), and, when it asks consent, a create
    without the hash of its current text."""
    for key in wanted.dynamic_variables or {}:
        if key not in client.page_variables:
            # One message for a fixed variable and an unknown one: a page learns nothing of the
            # prompt's other variables from it.
            allowed = ", ".join(client.page_variables) or "none"
            raise InvalidBody("variable_not_allowed", f"retell_llm_dynamic_variables: '{key}' is not a variable this "
                                                      f"website's pages may set (they may set: {allowed})")
    if client.consent is None:
        return
    if wanted.consent_hash is None:
        raise Refusal(403, "consent_required", "this website asks the visitor's consent first: the visitor must agree "
                                               "to the current consent text before a call starts")
    if wanted.consent_hash != client.consent.hash:
        raise Refusal(403, "consent_required", "consent_hash is not the hash of this website's current consent text: "
                                               "the visitor must agree to the current consent text before a call starts")


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
    if payload.get("agent_version") is not None:
        # Refused, not dropped as unknown fields are: a page sending it (as Retell's own embed's
        # data-agent-version does) expects that version, and would silently get another.
        raise InvalidBody("agent_version_not_allowed", "agent_version is set per agent in the registry "
                                                       "(agent_versions); a page may not choose it")
    consent_hash = payload.get("consent_hash")
    if consent_hash is not None and not (isinstance(consent_hash, str) and _CONSENT_HASH.fullmatch(consent_hash)):
        raise InvalidBody("invalid_consent_hash", "consent_hash must be the lowercase hex SHA-256 of the consent text "
                                                  "(64 characters)")
    return CreateRequest(agent_id, _metadata(payload.get("metadata")), _variables(payload.get("retell_llm_dynamic_variables")),
                         bot_token, consent_hash)


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
    if reserved := next((key for key in value if key in RESERVED_METADATA), None):
        raise InvalidBody("metadata_reserved", f"metadata key '{reserved}' is reserved: the proxy sets it on every call")
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
