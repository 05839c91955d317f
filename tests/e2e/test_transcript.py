"""widget/v2/transcript.js in the browser: Retell's five-utterance windows, fed as Retell sends them,
always rebuild the whole conversation, and an update changes only what it must."""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

WINDOW = 5
LINES = ["Yes.", "No.", "Hello there.", "I would like to book a cleaning.", "Tuesday at nine works for me.",
         "Sure, which day?", "Thanks!", "Yes."]
# Runs every case in the page: each is a list of windows; returns, per case, the history and the
# deepest change an update made below the end of the history it found.
RUN = """async ([url, cases]) => {
  const { createTranscript } = await import(url);
  return cases.map((windows) => {
    const transcript = createTranscript();
    let deepest = 0;
    for (const window of windows) {
      const before = transcript.all().length;
      for (const i of transcript.update(window)) deepest = Math.max(deepest, before - i);
      if (!Object.isFrozen(transcript.all()[0])) throw new Error('utterances must be frozen');
    }
    return { history: transcript.all(), deepest };
  });
}"""


def conversation(rng: random.Random) -> list[dict]:
    """Mostly alternating turns, some repeated word for word, now and then two in a row by one side."""
    said, role = [], "agent"
    for _ in range(rng.randint(1, 40)):
        said.append({"role": role, "content": rng.choice(LINES)})
        if said[-2:] == [said[-1]] * 2 or rng.random() > 0.15:  # never the same line twice in a row by one side
            role = "user" if role == "agent" else "agent"
    return said


def windows(said: list[dict], rng: random.Random, revise: bool) -> list[list[dict]]:
    """What Retell's updates carry while ``said`` is spoken: per word of each utterance, the last five
    utterances with the newest one growing; some words' updates are lost in between, never a whole
    utterance's. ``revise``: speech recognition first hears a visitor's utterance with an extra
    word, and later revises an utterance two back (``said`` is changed to its final words)."""
    out = []
    for n, utterance in enumerate(said):
        if revise and n >= 2 and said[n - 2]["role"] == "user" and rng.random() < 0.5:
            said[n - 2] = {**said[n - 2], "content": said[n - 2]["content"] + " Really."}
        words = utterance["content"].split()
        for count in range(1, len(words) + 1):
            if count < len(words) and rng.random() < 0.3:
                continue  # this word's update never came
            growing = " ".join(words[:count])
            if revise and count == 1 and len(words) > 2 and utterance["role"] == "user":
                growing = "Uh " + growing
            out.append([*said[max(0, n - WINDOW + 1):n], {"role": utterance["role"], "content": growing}])
    return out


def test_retells_windows_always_rebuild_the_whole_conversation(page: Page, sandbox):
    rng = random.Random(19)
    cases, expected, revised = [], [], []
    for n in range(120):
        said = conversation(rng)
        cases.append(windows(said, rng, revise=n % 4 == 3))
        expected.append(said)
        revised.append(n % 4 == 3)
    # By hand: two new utterances in one update, the same words said back and forth, an empty update.
    said = [{"role": r, "content": c} for r, c in [("agent", "Yes."), ("user", "Yes."), ("agent", "Yes."), ("user", "No."),
                                                   ("agent", "Yes."), ("user", "Yes."), ("agent", "Thanks!")]]
    cases.append([said[:1], said[:3], [], said[:5], said[1:6], said[2:7]])
    expected.append(said)
    revised.append(False)
    page.goto(sandbox.client("client-a").origin + "/")
    results = page.evaluate(RUN, [f"{sandbox.state.origins['cdn']}/v2/transcript.js", cases])
    for n, (result, said, rewritten) in enumerate(zip(results, expected, revised, strict=True)):
        assert result["history"] == said, f"case {n}"
        # Only the newest utterance grows; nothing older is touched unless its words were revised.
        assert rewritten or result["deepest"] <= 1, f"case {n}: an update redrew {result['deepest']} utterances back"
