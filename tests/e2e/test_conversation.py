"""A real conversation, both ways in real audio: the visitor's voice is a WAV that Chromium plays as
its microphone, the sandbox's agent hears every turn and answers in espeak-ng's voice, is talked
over once, and v2 keeps the whole transcript across Retell's five-utterance windows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import BrowserType

from harness.hearing import END_MS
from harness.speech import speak, visitor_wav
from tests.e2e.lines import until_state
from tests.e2e.test_widget_v2 import INSTRUMENT, events, new_calls

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng speaks both voices (.ci/run installs it)")]

GREETING = "Hello!"
# (what the visitor says, what the agent answers); the agent hangs up after its last answer.
TURNS = [
    ("Hi there.", "How can I help?"),
    ("A cleaning.", "Which day?"),
    ("Tuesday.", "Morning?"),
    ("Yes, please.", "Nine or ten?"),
    ("Nine.", "Nine it is. Let me read everything back to you, so that you can check every detail."),
    ("Wait.", "Go ahead."),
    ("Make it ten.", "Ten it is."),
    ("Thanks.", "Anything else?"),
    ("No.", "Great."),
    ("Goodbye.", "Goodbye!"),
]
TALKED_OVER = 4  # the visitor starts their next line a second into this answer
VISITOR_WPM = 220
LEAD_SECONDS = 3.0  # the microphone opens at the click: the call connects and the agent greets meanwhile
MARGIN_SECONDS = 0.5  # between the end of the agent's answer and the visitor's next line


def the_visitors_voice(path: Path) -> Path:
    """The visitor's side as one WAV, each line placed after the agent's answer to the one before
    (END_MS after the visitor stops, the agent starts; both sides' delays cancel out)."""
    parts: list[float | str] = [LEAD_SECONDS]
    for n, (line, answer) in enumerate(TURNS):
        parts.append(line)
        if n == TALKED_OVER:
            parts.append(END_MS / 1000 + 1.0)
        else:
            parts.append(END_MS / 1000 + speak(answer).seconds + MARGIN_SECONDS)
    visitor_wav(path, parts, words_per_minute=VISITOR_WPM)
    return path


def test_a_ten_turn_conversation_heard_answered_interrupted_and_kept_whole(browser_type: BrowserType, browser_type_launch_args,
                                                                          sandbox, agent_script, tmp_path):
    client = sandbox.client("client-a")
    agent_script(client.agents[0], {"greeting": GREETING, "turn": [
        {"user": line, "agent": answer, "hang_up": n == len(TURNS) - 1} for n, (line, answer) in enumerate(TURNS)]})
    wav = the_visitors_voice(tmp_path / "visitor.wav")
    # Chromium reads the file once per launch: this conversation needs a browser of its own.
    browser = browser_type.launch(**{**browser_type_launch_args, "args": [
        *browser_type_launch_args["args"], f"--use-file-for-fake-audio-capture={wav}%noloop"]})
    try:
        page = browser.new_page()
        page.add_init_script(INSTRUMENT)
        page.goto(f"{client.origin}/sandbox/v2/")
        host = page.locator("retell-widget")
        until_state(host, "idle")
        before = sandbox.retell_records()
        host.locator(".launcher").click()
        until_state(host, "in-call", timeout=10_000)
        until_state(host, "ended", timeout=90_000)  # the agent hangs up after its last answer
        shown = host.locator(".log p").evaluate_all("ps => ps.map(p => [p.firstChild.textContent, p.lastChild.textContent])")
        talking = [e["talking"] for e in events(page, "agent-talking")]
        history = events(page, "transcript")[-1]["transcript"]
    finally:
        browser.close()

    (call,) = new_calls(sandbox, before)
    call = sandbox.ended_call(call["call_id"])
    said = [(u["role"], u["content"]) for u in call["transcript_object"]]
    # The agent heard every visitor turn, in order, and answered each.
    assert [c for role, c in said if role == "user"] == [line for line, _ in TURNS]
    assert call["disconnection_reason"] == "agent_hangup" and call["microphone"]["frames_above_-40dBFS"] > 100
    answers = [said[i + 1][1] for i, (role, _) in enumerate(said) if role == "user"]
    assert all(answer and expected.startswith(answer) for answer, (_, expected) in zip(answers, TURNS, strict=True)), answers
    # Talked over, the agent stopped mid-answer, and the transcript keeps only what it got out.
    assert call["barge_ins"] and len(answers[TALKED_OVER].split()) < len(TURNS[TALKED_OVER][1].split())
    assert len(call["turn_latencies_ms"]) == len(TURNS)
    # The widget kept the whole conversation: every utterance, in order, none doubled, none lost,
    # though Retell's updates carried five at a time.
    assert len(said) > 5
    assert shown == [["Assistant:" if role == "agent" else "You:", content] for role, content in said]
    assert history == [{"role": role, "content": content} for role, content in said]
    # The talking indicator followed the turns: on and off for each of the agent's lines (and for a
    # greeting cut off before its first word, had the machine been slow to connect).
    assert talking[::2] == [True] * (len(talking) // 2) and talking[1::2] == [False] * (len(talking) // 2)
    assert len(talking) // 2 in (sum(role == "agent" for role, _ in said), sum(role == "agent" for role, _ in said) + 1)
