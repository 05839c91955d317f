"""The agent's voice: espeak-ng's greeting, or a tone when espeak-ng is missing."""

from __future__ import annotations

import logging
import shutil

import pytest

from harness import speech as greeting


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (.ci/run installs it)")
def test_the_greeting_is_speech_at_48_khz_loud_enough_to_hear():
    speech = greeting.speak()
    assert speech.source == "espeak-ng" and speech.text == greeting.TEXT
    assert 1.0 < speech.seconds < 5.0
    frame = greeting.FRAME_SAMPLES * 2
    levels = [greeting.level_dbfs(speech.pcm[i:i + frame]) for i in range(0, len(speech.pcm) - frame, frame)]
    assert sum(level > -40 for level in levels) > len(levels) / 3  # mostly speech, some pauses


def test_without_espeak_ng_the_agent_plays_a_tone_and_says_why(monkeypatch, caplog):
    monkeypatch.setattr(greeting.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="harness"):
        speech = greeting.speak("Hello there")
    assert speech.source == "tone" and speech.seconds > 1.0
    assert "espeak-ng is not installed" in caplog.text


def test_levels():
    assert greeting.level_dbfs(b"") == float("-inf")
    assert greeting.level_dbfs(bytes(1920)) == float("-inf")
    assert -14 < greeting.level_dbfs(greeting.tone(440.0, 0.02, level=0.3)) < -13  # a sine's RMS is -3 dB of its peak
