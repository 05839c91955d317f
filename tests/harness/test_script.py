"""Agent scripts: a TOML file, or JSON from the control origin; every problem reported at once."""

from __future__ import annotations

import pytest

from harness.script import DEFAULT_REPLY, MAX_DURATION_MS, SILENCE_MS, Script, ScriptError, Turn, fill, load_scripts, parse

GOOD = '''
[agent.agent_one]
greeting = "Thanks for calling.   How can I help?"
end_call_after_silence_ms = 30000

[[agent.agent_one.turn]]
user = "Book a cleaning."
agent = "Which day?"

[[agent.agent_one.turn]]
user = "Tuesday."
agent = "Done. Goodbye!"
hang_up = true

[agent.agent_two]
'''


def test_a_script_file_gives_each_agent_its_lines_and_defaults_elsewhere(tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text(GOOD)
    scripts = load_scripts(path, frozenset({"agent_one", "agent_two"}))
    one = scripts["agent_one"]
    assert one.greeting == "Thanks for calling. How can I help?"  # whitespace as spoken
    assert one.turns == (Turn("Book a cleaning.", "Which day?"), Turn("Tuesday.", "Done. Goodbye!", hang_up=True))
    assert (one.end_call_after_silence_ms, one.max_call_duration_ms) == (30000, MAX_DURATION_MS)
    assert scripts["agent_two"] == Script() and Script().end_call_after_silence_ms == SILENCE_MS
    # Past the script, every visitor turn gets the default answer.
    assert one.turn(2) == Turn("(visitor turn 3)", DEFAULT_REPLY)
    assert parse({"agent": {"agent_one": one.table()}})["agent_one"] == one


BAD = '''
[agent.agent_one]
greeting = ""
colour = "blue"
end_call_after_silence_ms = 5

[[agent.agent_one.turn]]
user = "Hi"
hang_up = true

[[agent.agent_one.turn]]
user = "Bye"
agent = "Bye"

[agent.agent_ghost]
greeting = "Boo"
'''


def test_every_problem_in_a_file_is_reported_at_once_with_its_line(tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text(BAD)
    with pytest.raises(ScriptError) as failed:
        load_scripts(path, frozenset({"agent_one"}))
    assert failed.value.errors == [
        f"{path}:3: 'greeting' must be a non-empty string",
        f"{path}:4: unknown key 'colour' (expected one of: greeting, end_call_after_silence_ms, max_call_duration_ms, turn)",
        f"{path}:5: 'end_call_after_silence_ms' must be whole milliseconds from 1000 to 86400000, not 5",
        f"{path}:7: turn 1 needs 'agent'",
        f"{path}:9: only the last turn can hang up (turn 1 of 2)",
        f"{path}:15: agent 'agent_ghost' is not an agent of any client in the registry",
    ]


def test_invalid_toml_and_a_missing_file_name_their_line(tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text('[agent.a]\ngreeting = "unterminated\n')
    with pytest.raises(ScriptError, match=rf"^{path}:2: invalid TOML"):
        load_scripts(path)
    with pytest.raises(ScriptError, match="cannot read the agent scripts"):
        load_scripts(tmp_path / "missing.toml")


@pytest.mark.parametrize("data, message", [
    ({"agent": {"a": {"turn": [{"user": "x", "agent": "y", "hang_up": "yes"}]}}}, "agent.a.turn[0].hang_up: 'hang_up' must be true or false"),
    ({"agent": {"a": {"max_call_duration_ms": True}}}, "agent.a.max_call_duration_ms: 'max_call_duration_ms' must be whole"),
    ({"agent": {"a": {"turn": {"user": "x"}}}}, "agent.a.turn: 'turn' must be [[turn]] tables"),
    ({"agent": {"a": {"greeting": "x" * 501}}}, "is 501 characters; a line holds at most 500"),
    ({"agent": {"bad id!": {}}}, "agent id 'bad id!' is malformed"),
    ({"agents": {}}, "expected only [agent.<agent id>] tables"),
    ({"agent": {"a": "hello"}}, "an agent's script must be a table"),
])
def test_json_scripts_name_the_key_at_fault(data, message):
    with pytest.raises(ScriptError) as failed:
        parse(data)
    assert any(message in error for error in failed.value.errors), failed.value.errors


@pytest.mark.parametrize("line, variables, said", [
    ("Hi {{name}}!", {"name": "Ann"}, "Hi Ann!"),
    ("Hi {{ name }} of {{client}}.", {"name": "Ann", "client": "Acme"}, "Hi Ann of Acme."),
    ("Hi {{name}}!", {}, "Hi {{name}}!"),  # not given: stays as written, as Retell leaves it
    ("Hi {{name}}!", None, "Hi {{name}}!"),
    ("Hi {name} and {{ }}", {"name": "Ann"}, "Hi {name} and {{ }}"),  # not variables
])
def test_fill_puts_in_the_calls_dynamic_variables(line, variables, said):
    assert fill(line, variables) == said
