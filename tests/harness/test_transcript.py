"""The transcript as Retell keeps it: growing utterances, a five-utterance window for updates, and
the whole conversation in the call object."""

from __future__ import annotations

from harness.transcript import WINDOW, Transcript


def test_words_come_out_in_order_and_the_window_holds_the_last_five_spoken():
    transcript = Transcript()
    for n in range(7):
        utterance = transcript.begin("agent" if n % 2 == 0 else "user", f"line {n} said")
        assert transcript.say(utterance, 1, n, n + 0.2)
        assert transcript.window()[-1] == {"role": utterance.role, "content": "line"}  # the newest, growing
        assert transcript.say(utterance, 5, n + 0.2, n + 0.8)  # the rest, however many are asked for
        assert not transcript.say(utterance, 1, n + 1, n + 1)  # nothing left
    pending = transcript.begin("agent", "not yet")  # begun, no word out: not in the window yet
    window = transcript.window()
    assert len(window) == WINDOW and window[0]["content"] == "line 2 said" and window[-1]["content"] == "line 6 said"
    assert pending.content == "" and pending.remaining == ["not", "yet"]


def test_the_call_object_has_the_whole_conversation_with_word_timings():
    transcript = Transcript()
    hello = transcript.begin("agent", "Hello there")
    transcript.say(hello, 2, 0.5, 1.5)
    cut = transcript.begin("agent", "I was saying")
    transcript.say(cut, 1, 2.0, 2.2)  # interrupted after one word
    transcript.begin("user", "never heard")
    assert transcript.text() == "Agent: Hello there\nAgent: I\n"
    assert transcript.objects() == [
        {"role": "agent", "content": "Hello there", "words": [{"word": "Hello", "start": 0.5, "end": 1.0},
                                                              {"word": "there", "start": 1.0, "end": 1.5}]},
        {"role": "agent", "content": "I", "words": [{"word": "I", "start": 2.0, "end": 2.2}]},
    ]
    assert transcript.lines("agent") == ["Hello there", "I"] and transcript.lines("user") == []
