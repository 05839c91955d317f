"""What the sandbox's agents say: a script per agent, read from a TOML file or the control origin.

```toml
[agent.agent_acme_frontdesk]
greeting = "Thanks for calling Acme Dental. How can I help?"
end_call_after_silence_ms = 30000   # Retell's default 600000 (10 min); Retell's own minimum is 10000
max_call_duration_ms = 600000       # Retell's default 3600000 (1 h)

[[agent.agent_acme_frontdesk.turn]]
user = "I'd like to book a cleaning."   # what the transcript says the visitor said (no speech recognition)
agent = "Sure. Which day suits you?"

[[agent.agent_acme_frontdesk.turn]]
user = "Tuesday."
agent = "Tuesday it is. Goodbye!"
hang_up = true                      # the agent ends the call after saying it
```

The agent greets, then answers each visitor turn with the next scripted line; past the script (or
for an agent without one) it answers every turn with ``DEFAULT_REPLY`` until the visitor hangs up
or stays silent. A line may name the call's dynamic variables as Retell's prompts and begin
messages do (``"Thanks for calling {{client_name}}."``): ``fill`` puts in the values the call was
created with, and leaves a variable the call was not given as written, as Retell does. Every problem in a file is reported at once, as ``file:line: message``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.speech import TEXT as DEFAULT_GREETING
from registry import AGENT_ID
from registry.errors import ErrorList

DEFAULT_REPLY = "I hear you. Is there anything else?"
SILENCE_MS = 600_000  # Retell's end_call_after_silence_ms default
MAX_DURATION_MS = 3_600_000  # Retell's max_call_duration_ms default
# Retell refuses end_call_after_silence_ms under 10 s; the sandbox goes lower so tests stay short.
_MIN_MS = 1_000
_MAX_MS = 24 * 3_600_000
_LINE_CHARS = 500
_AGENT_KEYS = ("greeting", "end_call_after_silence_ms", "max_call_duration_ms", "turn")
_TURN_KEYS = ("user", "agent", "hang_up")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def fill(line: str, variables: Mapping[str, str] | None) -> str:
    """``line`` with each ``{{name}}`` the call's ``retell_llm_dynamic_variables`` give replaced."""
    if not variables:
        return line
    return _VARIABLE.sub(lambda m: str(variables.get(m[1], m[0])), line)


class ScriptError(ErrorList):
    """Every problem found in agent scripts, one message per entry."""


@dataclass(frozen=True, slots=True)
class Turn:
    user: str  # the visitor's line, as the transcript gives it
    agent: str  # the agent's answer
    hang_up: bool = False


@dataclass(frozen=True, slots=True)
class Script:
    greeting: str = DEFAULT_GREETING
    turns: tuple[Turn, ...] = ()
    end_call_after_silence_ms: int = SILENCE_MS
    max_call_duration_ms: int = MAX_DURATION_MS

    def turn(self, n: int) -> Turn:
        """The ``n``-th visitor turn (from 0): scripted, or past the script the default answer."""
        return self.turns[n] if n < len(self.turns) else Turn(f"(visitor turn {n + 1})", DEFAULT_REPLY)

    def lines(self) -> list[str]:
        """Everything the agent may say, to be spoken ahead of a call."""
        return [self.greeting, DEFAULT_REPLY, *(t.agent for t in self.turns)]

    def table(self) -> dict:
        """The script as its file's table (and the control origin's JSON) writes it."""
        return {"greeting": self.greeting, "end_call_after_silence_ms": self.end_call_after_silence_ms,
                "max_call_duration_ms": self.max_call_duration_ms,
                "turn": [{"user": t.user, "agent": t.agent, "hang_up": t.hang_up} for t in self.turns]}


@dataclass
class Scripts:
    """The script of each agent: from ``--agents``, replaced per agent through the control origin."""

    files: dict[str, Script] = field(default_factory=dict)
    overrides: dict[str, Script] = field(default_factory=dict)

    def for_agent(self, agent_id: str) -> Script:
        return self.overrides.get(agent_id) or self.files.get(agent_id) or Script()


def load_scripts(path: Path, known_agents: frozenset[str] | None = None) -> dict[str, Script]:
    """The scripts in a TOML file; ``ScriptError`` lists every problem as ``file:line: message``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError([f"{path}:1: cannot read the agent scripts: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ScriptError([f"{path}:{line[1] if line else 1}: invalid TOML: {exc}"]) from None
    lines = text.splitlines()
    try:
        return parse(data, lambda keys: f"{path}:{_line(lines, keys)}", known_agents)
    except ScriptError as exc:
        # In the file's order, whatever order the checks ran in.
        raise ScriptError(sorted(exc.errors, key=lambda e: int(e[len(str(path)) + 1:].partition(":")[0]))) from None


def parse(data: object, where: Callable[[tuple[str | int, ...]], str] | None = None,
          known_agents: frozenset[str] | None = None) -> dict[str, Script]:
    """Scripts from data shaped like the file (``{"agent": {id: {...}}}``); ``where`` names the place
    of a key path in messages (default: the path itself, for JSON from the control origin)."""
    place = where or (lambda keys: ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys).replace(".[", "["))
    errors: list[str] = []
    if not isinstance(data, Mapping) or set(data) - {"agent"}:
        raise ScriptError([f"{place(())}: expected only [agent.<agent id>] tables"])
    agents = data.get("agent", {})
    if not isinstance(agents, Mapping):
        raise ScriptError([f"{place(('agent',))}: 'agent' must be a table of agent ids"])
    scripts: dict[str, Script] = {}
    for agent_id, table in agents.items():
        at = ("agent", agent_id)
        if not AGENT_ID.fullmatch(agent_id):
            errors.append(f"{place(at)}: agent id '{agent_id}' is malformed (letters, digits, '_' and '-' only)")
        elif known_agents is not None and agent_id not in known_agents:
            errors.append(f"{place(at)}: agent '{agent_id}' is not an agent of any client in the registry")
        script = _script(table, at, place, errors)
        if script is not None:
            scripts[agent_id] = script
    if errors:
        raise ScriptError(errors)
    return scripts


def _script(table: object, at: tuple, place: Callable, errors: list[str]) -> Script | None:
    if not isinstance(table, Mapping):
        errors.append(f"{place(at)}: an agent's script must be a table")
        return None
    before = len(errors)
    for key in sorted(set(table) - set(_AGENT_KEYS)):
        errors.append(f"{place((*at, key))}: unknown key '{key}' (expected one of: {', '.join(_AGENT_KEYS)})")
    greeting = _line_value(table, "greeting", at, place, errors, DEFAULT_GREETING)
    silence = _millis(table, "end_call_after_silence_ms", at, place, errors, SILENCE_MS)
    longest = _millis(table, "max_call_duration_ms", at, place, errors, MAX_DURATION_MS)
    raw_turns = table.get("turn", [])
    turns: list[Turn] = []
    if not isinstance(raw_turns, list):
        errors.append(f"{place((*at, 'turn'))}: 'turn' must be [[turn]] tables of user, agent and hang_up")
        raw_turns = []
    for n, turn in enumerate(raw_turns):
        here = (*at, "turn", n)
        if not isinstance(turn, Mapping):
            errors.append(f"{place(here)}: each turn must be a table with 'user' and 'agent'")
            continue
        for key in sorted(set(turn) - set(_TURN_KEYS)):
            errors.append(f"{place((*here, key))}: unknown key '{key}' (expected one of: {', '.join(_TURN_KEYS)})")
        for key in ("user", "agent"):
            if key not in turn:
                errors.append(f"{place(here)}: turn {n + 1} needs '{key}'")
        user = _line_value(turn, "user", here, place, errors, "")
        agent = _line_value(turn, "agent", here, place, errors, "")
        hang_up = turn.get("hang_up", False)
        if not isinstance(hang_up, bool):
            errors.append(f"{place((*here, 'hang_up'))}: 'hang_up' must be true or false")
        elif hang_up and n != len(raw_turns) - 1:
            errors.append(f"{place((*here, 'hang_up'))}: only the last turn can hang up (turn {n + 1} of {len(raw_turns)})")
        turns.append(Turn(user, agent, hang_up is True))
    if len(errors) > before:
        return None
    return Script(greeting, tuple(turns), silence, longest)


def _line_value(table: Mapping, key: str, at: tuple, place: Callable, errors: list[str], default: str) -> str:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{place((*at, key))}: '{key}' must be a non-empty string")
        return default
    if len(value) > _LINE_CHARS:
        errors.append(f"{place((*at, key))}: '{key}' is {len(value)} characters; a line holds at most {_LINE_CHARS}")
        return default
    return " ".join(value.split())


def _millis(table: Mapping, key: str, at: tuple, place: Callable, errors: list[str], default: int) -> int:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not _MIN_MS <= value <= _MAX_MS:
        errors.append(f"{place((*at, key))}: '{key}' must be whole milliseconds from {_MIN_MS} to {_MAX_MS}, not {value!r}")
        return default
    return value


def _line(lines: list[str], keys: tuple[str | int, ...]) -> int:
    """The line of a key path in the file: the table's header, then the key inside it."""
    if len(keys) < 2:
        return 1
    agent = re.escape(str(keys[1]))
    headers = [i for i, text in enumerate(lines) if re.match(rf"\s*\[\[?\s*agent\s*\.\s*\"?{agent}\"?\s*[\].]", text)]
    if not headers:
        return 1
    start = headers[0]
    if len(keys) >= 4 and keys[2] == "turn" and isinstance(keys[3], int):
        turns = [i for i in headers if re.match(rf"\s*\[\[\s*agent\s*\.\s*\"?{agent}\"?\s*\.\s*turn\s*\]\]", lines[i])]
        if keys[3] < len(turns):
            start = turns[keys[3]]
        key = keys[4] if len(keys) > 4 else None
    else:
        key = keys[2] if len(keys) > 2 else None
    if isinstance(key, str):
        for number in range(start + 1, len(lines)):
            if lines[number].lstrip().startswith("["):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[number]):
                return number + 1
    return start + 1
