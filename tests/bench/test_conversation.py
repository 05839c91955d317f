"""bench.conversation reads turns and barge-ins off the audio levels the page sampled."""

from __future__ import annotations

from bench.conversation import measure, summary


def test_turns_and_barge_ins_are_read_from_the_levels():
    def level(t: int, spans: list[tuple[int, int]]) -> float:
        return 0.1 if any(a <= t < b for a, b in spans) else 0.0

    # The visitor speaks (with a pause between words), the agent answers, the visitor talks over
    # it and the agent stops, then the agent answers that too.
    visitor = [(0, 400), (500, 1000), (2000, 2600)]
    agent = [(1500, 2200), (3100, 3500)]
    levels = [[t, level(t, visitor), level(t, agent)] for t in range(0, 4000, 10)]
    assert measure(levels) == {"turn_ms": [510, 510], "barge_in_ms": [190]}


def test_the_summary_is_the_median_of_every_run():
    runs = [{"browser_turn_ms": [500, 520], "server_turn_ms": [460], "browser_barge_in_ms": [200], "server_barge_in_ms": [150],
             "heard_every_turn": True},
            {"browser_turn_ms": [540], "server_turn_ms": [470, 480], "browser_barge_in_ms": [], "server_barge_in_ms": [],
             "heard_every_turn": True}]
    assert summary(runs) == {"browser_turn_ms": 520, "server_turn_ms": 470, "browser_barge_in_ms": 200,
                             "server_barge_in_ms": 150, "turns_measured": 3, "barge_ins_measured": 1, "heard_every_turn": True}
