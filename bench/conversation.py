"""The call as a conversation, for ``python -m bench.widget``: the sandbox agent's turn latency and
barge-in, measured in the browser and on the server, and what one transcript update costs in the
v2 panel once a call has 200 utterances.

The visitor's voice is a WAV of espeak-ng lines that Chromium plays as its microphone (a
browser of its own: the file is read once per launch). The page samples both sides' audio every
10 ms from ``getStats()``: the microphone's (``media-source``) and the agent's as played
(``inbound-rtp``), each interval's level from the energy and duration totals (``audioLevel``
itself is a peak held for a while, which would move every edge late). A turn's latency is from
the end of a visitor's line to the start of the agent's answer; a barge-in's, from the visitor
starting to speak over the agent to the agent's audio stopping. The page reads the microphone
before Chromium's audio processing (noise suppression trims the ends of words the media server
hears), and the agent's audio as played, after the network and the jitter buffer. The server's
figures (``turn_latencies_ms``, ``barge_ins``) are what the fake Retell records, Retell's
``latency.e2e`` ("does not account for the network trip time").
"""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.browser import PEER_CONNECTIONS
from harness.hearing import END_MS
from harness.speech import speak, visitor_wav
from harness.state import SandboxState

GREETING = "Hello!"
# (the visitor's line, the agent's answer); the answers of TALKED_OVER are long, and the visitor
# speaks a second into them.
TURNS = [
    ("Hello there.", "Hi! How can I help?"),
    ("I need a cleaning.", "Sure. Which day would suit you best? We have openings all through next week."),
    ("Sorry, Tuesday.", "Tuesday it is."),
    ("In the morning.", "Nine or ten?"),
    ("Nine works.", "Nine it is. Let me read everything back to you, so that you can check every detail."),
    ("Actually, ten.", "Ten it is."),
    ("Thank you.", "Anything else?"),
    ("No, goodbye.", "Goodbye!"),
]
TALKED_OVER = (1, 4)
LOUD = 0.01  # -40 dBFS, as the sandbox's meter counts a frame as audio
WORD_GAP_S = 0.3  # quieter stretches shorter than this are inside a line
SAMPLER = PEER_CONNECTIONS + """
(() => {
  window.__levels = [];
  // Every 10 ms: both sides' cumulative audio energy and duration (what the microphone captured,
  // what was played of the agent); their differences give each interval's level.
  window.__sample = async () => {
    while (!window.__stop) {
      const s = [performance.now(), 0, 0, 0, 0];
      for (const pc of window.__pcs) {
        for (const r of (await pc.getStats()).values()) {
          if (r.kind !== 'audio') continue;
          if (r.type === 'media-source') { s[1] += r.totalAudioEnergy || 0; s[2] += r.totalSamplesDuration || 0; }
          if (r.type === 'inbound-rtp') { s[3] += r.totalAudioEnergy || 0; s[4] += r.totalSamplesDuration || 0; }
        }
      }
      window.__levels.push(s);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
})();
"""


def levels(samples: list[list[float]]) -> list[list[float]]:
    """[ms, the microphone's level, the agent's level] per sampling interval: the RMS amplitude of
    what was captured and played in it (from the energy and duration totals), 0 if none was."""
    out = []
    for before, after in zip(samples, samples[1:]):
        row = [after[0]]
        for energy, duration in ((1, 2), (3, 4)):
            seconds = after[duration] - before[duration]
            row.append(((after[energy] - before[energy]) / seconds) ** 0.5 if seconds > 0 else 0.0)
        out.append(row)
    return out


def _visitor(path: Path) -> Path:
    parts: list[float | str] = [3.5]
    for n, (line, answer) in enumerate(TURNS):
        parts += [line, END_MS / 1000 + (1.0 if n in TALKED_OVER else speak(answer).seconds + 0.6)]
    visitor_wav(path, parts, words_per_minute=220)
    return path


def _segments(levels: list[list[float]], column: int) -> list[tuple[float, float]]:
    """(start, end) in ms of each stretch above LOUD, quieter gaps under WORD_GAP_S joined."""
    spans: list[list[float]] = []
    for sample in levels:
        at, level = sample[0], sample[column]
        if level <= LOUD:
            continue
        if spans and at - spans[-1][1] < WORD_GAP_S * 1000:
            spans[-1][1] = at
        else:
            spans.append([at, at])
    return [(a, b) for a, b in spans]


def measure(levels: list[list[float]]) -> dict:
    """Turn latencies and barge-in stops, in the browser, from the sampled levels."""
    visitor, agent = _segments(levels, 1), _segments(levels, 2)
    turns, barge_ins = [], []
    for n, (start, end) in enumerate(visitor):
        following = visitor[n + 1][0] if n + 1 < len(visitor) else float("inf")
        answer = next((a for a in agent if end < a[0] < following), None)
        if answer is not None:
            turns.append(round(answer[0] - end, 1))
        speaking = next((a for a in agent if a[0] < start < a[1]), None)
        if speaking is not None:
            barge_ins.append(round(speaking[1] - start, 1))
    return {"turn_ms": turns, "barge_in_ms": barge_ins}


def conversation(playwright, state: SandboxState, executable: str | None, control, tmp: Path) -> dict:
    """One scripted conversation through client 0's v2 page; its measurements, both sides."""
    client = state.clients[0]
    agent_id = client.agents[0]
    script = {"greeting": GREETING, "turn": [{"user": u, "agent": a, "hang_up": n == len(TURNS) - 1}
                                             for n, (u, a) in enumerate(TURNS)]}
    assert control.put(f"/agents/{agent_id}", json=script).status_code == 200
    wav = _visitor(tmp / "visitor.wav")
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=[
        *state.chromium_args, f"--use-file-for-fake-audio-capture={wav}%noloop"])
    try:
        page = browser.new_page()
        page.add_init_script(SAMPLER)
        page.goto(f"{client.origin}/sandbox/v2/")
        page.wait_for_function("document.querySelector('retell-widget')?.getAttribute('data-state') === 'idle'")
        known = {c["call_id"] for c in control.get("/calls").json()["calls"]}
        page.locator("retell-widget .launcher").click()
        page.evaluate("() => { window.__sampling = window.__sample(); }")  # runs on in the page
        page.wait_for_function("document.querySelector('retell-widget').getAttribute('data-state') === 'ended'",
                               timeout=120_000)
        samples = page.evaluate("async () => { window.__stop = true; await window.__sampling; return window.__levels; }")
    finally:
        browser.close()
        control.delete(f"/agents/{agent_id}")
    (call_id,) = [c["call_id"] for c in control.get("/calls").json()["calls"] if c["call_id"] not in known]
    record = control.get(f"/calls/{call_id}", params={"wait": "ended"}).json()
    browser_side = measure(levels(samples))
    heard = [u["content"] for u in record["transcript_object"] if u["role"] == "user"]
    return {
        "turns": len(TURNS), "talked_over": len(TALKED_OVER), "heard_every_turn": heard == [u for u, _ in TURNS],
        "disconnection_reason": record["disconnection_reason"],
        "browser_turn_ms": browser_side["turn_ms"], "browser_barge_in_ms": browser_side["barge_in_ms"],
        "server_turn_ms": record["turn_latencies_ms"],
        "server_barge_in_ms": [b["stopped_after_ms"] for b in record["barge_ins"]],
        "samples": len(samples),
    }


def summary(runs: list[dict]) -> dict:
    """Medians over every turn and barge-in of every run."""
    def median(key: str) -> float | None:
        values = [v for run in runs for v in run[key]]
        return round(statistics.median(values), 1) if values else None

    return {key: median(key) for key in ("browser_turn_ms", "server_turn_ms", "browser_barge_in_ms", "server_barge_in_ms")} | {
        "turns_measured": sum(len(r["browser_turn_ms"]) for r in runs),
        "barge_ins_measured": sum(len(r["browser_barge_in_ms"]) for r in runs),
        "heard_every_turn": all(r["heard_every_turn"] for r in runs)}


# Times one transcript update in a page: the 201st utterance growing word by word over 200 kept
# ones, through 2.3.0's merge and panel (only what changed is redrawn), and through 2.2.0's panel
# given the whole history (every line rewritten: what keeping it all would cost without the merge).
UPDATE_COST = """async ([cdn, utterances, updates]) => {
  const { createTranscript } = await import(cdn + '/v2/transcript.js');
  const ours = await import(cdn + '/v2/panel.js');
  const old = await import(cdn + '/v2.2.0/panel.js');
  // From 2.5.0 the panel also takes the page's consent (none here), before the handlers; from
  // 2.6.0 it finds the launcher in its row inside .root, as retell-widget.js makes them.
  const mount = (mod, consent = []) => {
    const root = document.body.appendChild(document.createElement('div')).attachShadow({ mode: 'open' });
    const top = root.appendChild(Object.assign(document.createElement('div'), { className: 'root' }));
    top.appendChild(document.createElement('div')).append(Object.assign(document.createElement('button'), { className: 'launcher' }));
    const panel = mod.createPanel(root, (key) => key, ...consent, { primary() {}, hangup() {}, mute() {}, minimize() {} });
    panel.open();
    panel.show('in-call', 'In call');
    return { panel, log: root.querySelector('.log') };
  };
  const words = 'so I would like to book a cleaning for next Tuesday morning if you still have one'.split(' ');
  const said = Array.from({ length: utterances }, (_, i) => ({ role: i % 2 ? 'user' : 'agent', content: `${i}: ` + words.join(' ') }));
  const growing = (k) => ({ role: 'agent', content: words.slice(0, 1 + (k % words.length)).join(' ') + ` (${k})` });
  const time = (step) => {
    const times = [];
    for (let k = 0; k < updates; k++) {
      const start = performance.now();
      step(k);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return times[times.length >> 1];
  };
  const a = mount(ours, [null]);
  const transcript = createTranscript();
  said.forEach((_, i) => {
    const changed = transcript.update(said.slice(Math.max(0, i - 4), i + 1));
    a.panel.showUtterances(transcript.all(), changed);
  });
  const merged = time((k) => {
    const changed = transcript.update([...said.slice(-4), growing(k)]);
    const all = transcript.all();
    a.panel.showUtterances(all, changed);
    void a.log.scrollHeight; // the layout the update causes, inside the measurement
    return all;
  });
  const b = mount(old);
  const whole = time((k) => {
    b.panel.setTranscript([...said, growing(k)]);
    void b.log.scrollHeight;
  });
  return { merged_ms: merged, whole_ms: whole, lines: a.log.children.length };
}"""


def update_cost(browser, url: str, cdn: str, utterances: int = 200, updates: int = 200) -> dict:
    page = browser.new_page()
    try:
        page.goto(url)
        result = page.evaluate(UPDATE_COST, [cdn, utterances, updates])
    finally:
        page.close()
    return {"utterances": utterances, "updates": updates, "median_ms": round(result["merged_ms"], 3),
            "rewrite_all_ms": round(result["whole_ms"], 3), "lines_shown": result["lines"]}
