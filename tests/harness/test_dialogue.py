"""The sandbox's agent holds a conversation, driven by a LiveKit client in Python whose microphone
speaks in tones: turns, Retell's update windows, barge-in and the agent's own endings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from builder.sdk import MEDIA_HOST
from harness.certificates import issue
from harness.fake_retell import FakeRetell
from harness.hearing import END_MS
from harness.media_server import MediaServer
from harness.script import DEFAULT_REPLY, Script, Scripts, Turn
from harness.transcript import WINDOW
from tests.conftest import run_async, running
from tests.harness.livekit_client import ToneVoices, joined

KEY = "key_dialogue_test"


@pytest.fixture
def call_with(tmp_path: Path):
    """``call_with(script, visitor)``: one call with an agent running ``script``, while
    ``visitor(session)`` (a coroutine) plays the caller; returns the session and the call."""
    fake = FakeRetell(KEY, frozenset({"agent_one"}))
    scripts = Scripts()
    media = MediaServer(fake, scripts, ToneVoices())
    certificates = issue(tmp_path, [MEDIA_HOST])
    with running(media.app(), **certificates.uvicorn_options()) as port:

        def call(script: Script, visitor, create: bytes = b'{"agent_id": "agent_one"}'):  # noqa: ANN001, ANN202
            scripts.overrides["agent_one"] = script
            _, body, _ = fake._create(f"Bearer {KEY}", create)

            async def run():  # noqa: ANN202
                async with joined(port, body["access_token"], str(certificates.ca_file)) as session:
                    await visitor(session)
                    return session

            return run_async(run()), fake.calls[body["call_id"]]

        yield call


def stops(session) -> int:  # noqa: ANN001
    return session.talking().count("agent_stop_talking")


def test_the_agent_answers_each_turn_with_its_script_and_hangs_up_at_the_end(call_with):
    script = Script("Hi there", (Turn("One", "Reply one"), Turn("Two please", "Reply two"), Turn("Three", "Bye now", hang_up=True)))

    async def visitor(session) -> None:  # noqa: ANN001
        for turn in range(3):
            await session.until(lambda: stops(session) == turn + 1)
            session.microphone.speak(0.5)
        await session.until(lambda: session.closed.is_set())

    session, call = call_with(script, visitor)
    assert call.disconnection_reason == "agent_hangup" and "leave" in session.kinds()
    assert call.transcript.text() == ("Agent: Hi there\nUser: One\nAgent: Reply one\nUser: Two please\nAgent: Reply two\n"
                                      "User: Three\nAgent: Bye now\n")
    assert session.talking() == ["agent_start_talking", "agent_stop_talking"] * 4
    # The visitor stops, the agent answers once it has heard END_MS of silence (measured, not timed here).
    assert len(call.turn_latencies_ms) == 3 and all(v >= END_MS * 0.9 for v in call.turn_latencies_ms)
    updates = session.updates()
    assert all(1 <= len(u["transcript"]) <= WINDOW for u in updates)
    assert len(updates[-1]["transcript"]) == WINDOW  # seven utterances, the window shows five
    assert updates[-1]["transcript"][0] == {"role": "agent", "content": "Reply one"}
    # The newest utterance grows in place: each update either extends it or starts the next one.
    for before, after in zip(updates, updates[1:]):
        old, new = before["transcript"][-1], after["transcript"][-1]
        assert new == old or new["content"].startswith(old["content"]) or after["transcript"][-2] == old
    turns = [u["turntaking"] for u in updates if "turntaking" in u]
    assert turns == ["agent_turn", "user_turn"] * 4


def test_a_visitor_who_speaks_over_the_agent_stops_it_and_takes_the_turn(call_with):
    long_greeting = " ".join(["word"] * 20)  # three seconds of the agent's voice

    async def visitor(session) -> None:  # noqa: ANN001
        await session.until(lambda: session.agent_loud_frames > 10)  # the greeting is being heard
        session.microphone.speak(0.6)
        await session.until(lambda: stops(session) == 2)  # cut short, then the answer to the visitor
        await session.leave()
        await session.until(lambda: session.closed.is_set())

    session, call = call_with(Script(long_greeting, (Turn("Sorry to interrupt", "Go ahead."),)), visitor)
    assert len(call.barge_ins) == 1 and call.barge_ins[0]["stopped_after_ms"] >= 0
    greeting, interruption, answer = call.transcript.objects()
    assert greeting["role"] == "agent" and 0 < len(greeting["words"]) < 20  # only what it got out
    assert interruption == {**interruption, "role": "user", "content": "Sorry to interrupt"}
    assert answer["content"] == "Go ahead." and call.disconnection_reason == "user_hangup"
    assert session.talking() == ["agent_start_talking", "agent_stop_talking"] * 2


@pytest.mark.parametrize("script, reason", [
    (Script("Hello", end_call_after_silence_ms=1000), "inactivity"),
    (Script("Hello", end_call_after_silence_ms=60_000, max_call_duration_ms=1500), "max_duration_reached"),
], ids=["silence", "max-duration"])
def test_a_visitor_who_says_nothing_is_hung_up_on_as_retell_does(call_with, script, reason):
    async def visitor(session) -> None:  # noqa: ANN001
        await session.until(lambda: session.closed.is_set())

    session, call = call_with(script, visitor)
    assert call.disconnection_reason == reason and call.call_status == "ended" and "leave" in session.kinds()
    assert call.detail and str(script.end_call_after_silence_ms if reason == "inactivity" else script.max_call_duration_ms) in call.detail


def test_unscripted_turns_get_the_default_answer(call_with):
    async def visitor(session) -> None:  # noqa: ANN001
        await session.until(lambda: stops(session) == 1)
        session.microphone.speak(0.4)
        await session.until(lambda: stops(session) == 2)
        await session.leave()

    _, call = call_with(Script("Hello"), visitor)
    assert call.transcript.lines("user") == ["(visitor turn 1)"] and call.transcript.lines("agent") == ["Hello", DEFAULT_REPLY]


def test_the_agent_speaks_the_dynamic_variables_its_call_was_created_with(call_with):
    async def visitor(session) -> None:  # noqa: ANN001
        await session.until(lambda: stops(session) == 1)
        await session.leave()

    create = b'{"agent_id": "agent_one", "retell_llm_dynamic_variables": {"client_name": "Acme Dental"}}'
    _, call = call_with(Script("Thanks for calling {{client_name}}. Ask about {{topic}}."), visitor, create)
    # As Retell: a variable the call was not given stays as written.
    assert call.transcript.lines("agent") == ["Thanks for calling Acme Dental. Ask about {{topic}}."]


def test_garbage_on_the_data_channel_ends_only_that_call(call_with, caplog):
    caplog.set_level(logging.WARNING, logger="harness")

    async def visitor(session) -> None:  # noqa: ANN001
        await session.until(lambda: stops(session) == 1)
        session.reliable.send(b"\xff\xff\xff not a data packet")
        await session.until(lambda: session.closed.is_set())

    _, call = call_with(Script("Hello"), visitor)
    assert call.disconnection_reason == "error_unknown" and "malformed data packet" in call.detail
    assert any("malformed data packet" in r.getMessage() for r in caplog.records)
