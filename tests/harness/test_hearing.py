"""Voice activity on the caller's microphone: speech starts after a sustained run of loud frames,
ends after a pause, and Chromium's fake microphone's beeps are not speech."""

from __future__ import annotations

import asyncio

from harness.hearing import END_MS, SpeechDetector
from tests.conftest import run_async

FRAME = 0.02


def listen(*parts: str | float, tail: float = END_MS / 1000 + 0.2) -> list[tuple[str, float]]:
    """Feeds one 20 ms frame per character of each string ('#' loud, '.' quiet), timed on the
    caller's clock from 0; a number waits that many seconds, as does ``tail`` at the end (the end
    of a turn is a timer); returns ("start" | "end", the time given) in order."""
    heard: list[tuple[str, float]] = []

    async def main() -> None:
        detector = SpeechDetector(lambda at: heard.append(("start", at)), lambda at: heard.append(("end", at)))
        i = 0
        for part in parts:
            if isinstance(part, str):
                for frame in part:
                    detector.frame(frame == "#", i * FRAME, 100 + i * FRAME)
                    i += 1
            else:
                await asyncio.sleep(part)  # the pause itself, in real time
                i += int(part / FRAME)
        await asyncio.sleep(tail)
        detector.close()

    run_async(main())
    return heard


def test_chromiums_fake_microphone_beeps_are_not_speech():
    # Measured on the media server: 80-100 ms loud every 500 ms.
    assert listen(("#####" + "." * 20) * 8) == []


def test_a_sentence_with_gaps_between_words_is_one_turn():
    heard = listen("#" * 12 + "..." + "#" * 9 + ".." + "#" * 15)
    assert [kind for kind, _ in heard] == ["start", "end"]
    assert heard[0][1] == 100  # when its first loud frame arrived
    assert round(heard[1][1], 2) == round(100 + (12 + 3 + 9 + 2 + 15 - 1) * FRAME, 2)  # its last


def test_short_runs_split_by_a_pause_never_make_an_onset():
    assert listen("#####" + "......" + "#####") == []  # 100 ms, a 120 ms pause, 100 ms


def test_a_turn_ends_only_after_the_pause_and_the_next_one_is_its_own():
    assert listen("#" * 10, tail=END_MS / 1000 / 2) == [("start", 100)]  # a short pause: still their turn
    heard = listen("#" * 10, END_MS / 1000 + 0.1, "#" * 10)
    assert [kind for kind, _ in heard] == ["start", "end", "start", "end"]


def test_audio_that_is_late_is_not_a_pause():
    """A stall on the way (a busy machine) delays frames past END_MS; the caller's own clock shows
    the words went on, so the turn does too."""
    heard: list[str] = []

    async def main() -> None:
        detector = SpeechDetector(lambda at: heard.append("start"), lambda at: heard.append("end"))
        for i in range(10):  # 200 ms of speech, arriving as it is captured
            detector.frame(True, i * FRAME)
        await asyncio.sleep(END_MS / 1000 + 0.1)  # the next frames are held up on the way
        assert heard == ["start"]
        for i in range(10, 50):  # they arrive at last: more speech, then silence
            detector.frame(i < 20, i * FRAME)
        await asyncio.sleep(END_MS / 1000 + 0.1)
        detector.close()

    run_async(main())
    assert heard == ["start", "end"]
