"""Widget benchmark: bytes before interaction, time to a visible button, and the call itself.

``python -m bench.widget`` starts the sandbox (``python -m harness``), opens each CDN folder's
test page (``/sandbox/<folder>/`` on a client origin) in a fresh Chromium context (an empty cache)
with Playwright, waits for the widget's button to be visible and the network to go idle, and
records every request the page made before anyone touched it. Bytes are counted two ways: the
gzip size of each widget file (from the build's manifest, the figure the 6 KB target is in) and
the body bytes actually transferred (the sandbox CDN negotiates brotli with Chromium). Time is
from the start of the widget script's request to the first frame with its button visible
(``performance.now()`` in the page, polled every animation frame). Peer figures are published
sizes, given as reference rows; they are not measured here.

Then a real call, as a visitor makes one: the pointer enters the launcher (intent, which fetches
Retell's SDK; its bytes are counted as "after intent"), then clicks; the page times click -> in
call (the widget's ``data-state``) and click -> first agent audio (the first inbound RTP audio
with energy in ``getStats()``), against the sandbox's media server. A second, cold case clicks
with no intent first (a script's ``click()``), so the SDK's download is on the click's path.
Chromium runs with the sandbox's own ``chromium_args``.

Then the call as a conversation (``bench/conversation.py``): a scripted conversation with the
sandbox's agent in real audio both ways, for its turn latency (the visitor stops -> the agent's
audio starts) and its barge-in (the visitor starts over the agent -> the agent's audio stops),
measured in the browser and on the server; and the cost of one transcript update in the v2 panel
once a call has 200 utterances. The smoke run measures the update only.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import common
from bench import conversation as talk
from registry import Manifest

TARGET_GZIP = 6 * 1024
TARGET = "<= 6 KB gzip before interaction"
# Published sizes (issue 7), for comparison only.
PEERS = [
    {"case": "elevenlabs", "label": "ElevenLabs embed (published)", "gzip_bytes": 191 * 1024, "raw_bytes": None},
    {"case": "vapi", "label": "Vapi widget (published)", "gzip_bytes": 184 * 1024, "raw_bytes": None},
    {"case": "retell_sdk", "label": "Retell SDK with livekit (published)", "gzip_bytes": 153 * 1024, "raw_bytes": None},
    {"case": "guide", "label": "deployment guide's bundle (raw, JS + CSS)", "gzip_bytes": None, "raw_bytes": (424 + 15) * 1024},
]
TARGET_IN_CALL_MS = 1000  # click -> in call, with the SDK fetched on intent
# Polls every frame for the widget's button (in the page or in an open shadow root) and notes
# when it first has a box; the script's own request start comes from Resource Timing. Also keeps
# every main-thread task of 50 ms or more (the Long Tasks API reports no shorter ones).
PROBE = """
(() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); })
    .observe({ type: 'longtask', buffered: true });
  const find = () => {
    for (const el of document.querySelectorAll('*')) {
      const scope = el.shadowRoot || (el.className && String(el.className).includes('retell-widget') ? el : null);
      for (const button of scope ? scope.querySelectorAll('button') : []) {
        if (button.checkVisibility() && button.getBoundingClientRect().width > 0) return button;
      }
    }
    return null;
  };
  const tick = () => {
    if (find()) { window.__buttonVisibleAt = performance.now(); return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  // For the call: when the click landed, when the widget said in-call, and every peer connection.
  window.__call = {};
  document.addEventListener('pointerdown', () => { window.__call.click ??= performance.now(); }, true);
  document.addEventListener('click', () => { window.__call.click ??= performance.now(); }, true);
  new MutationObserver(() => {
    const root = document.querySelector('retell-widget, .retell-widget');
    if (root && root.getAttribute('data-state') === 'in-call') window.__call.inCall ??= performance.now();
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) { const pc = new Native(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Native.prototype;
  // Polls the inbound audio every 10 ms from the click on: the first packet with energy is when
  // the agent is first heard.
  window.__watchAudio = async () => {
    for (;;) {
      for (const pc of window.__pcs) {
        for (const r of (await pc.getStats()).values()) {
          if (r.type === 'inbound-rtp' && r.kind === 'audio' && r.totalAudioEnergy > 0) return performance.now();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
})();
"""


def _gzip(manifest: Manifest, path: str) -> int:
    entry = manifest.files.get(path)
    return entry.gzip if entry else 0


def _folders(manifest: Manifest) -> list[str]:
    """Every major line and latest/, as the CDN serves them."""
    return sorted(manifest.lines) + (["latest"] if manifest.latest else [])


def _visit(browser, url: str, cdn: str, manifest: Manifest, intent: bool = True) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(PROBE)
        finished = []
        page.on("requestfinished", lambda request: finished.append(request))
        page.goto(url, wait_until="load")
        page.wait_for_function("window.__buttonVisibleAt !== undefined", timeout=15_000)
        page.wait_for_load_state("networkidle")
        timing = page.evaluate("""() => {
          const script = performance.getEntriesByType('resource').find(e => /retell-widget\\.m?js/.test(e.name));
          return {visible: window.__buttonVisibleAt, scriptStart: script ? script.startTime : null,
                  longTasks: window.__longTasks};
        }""")
        before_intent = list(finished)
        call = _call(page, cdn, manifest, finished, intent)
        files, transferred, other = [], 0, 0
        for request in before_intent:
            if request.resource_type == "document":
                continue
            body = request.sizes()["responseBodySize"]
            if request.url.startswith(cdn + "/"):
                path = request.url[len(cdn) + 1:].split("?")[0]
                entry = manifest.files.get(path)
                files.append({"path": path, "transferred": body, "gzip": entry.gzip if entry else None,
                              "raw": entry.size if entry else None})
                transferred += body
            else:
                other += body
        return {
            "files": files,
            "requests": len(files),
            "gzip_bytes": sum(f["gzip"] or 0 for f in files),
            "raw_bytes": sum(f["raw"] or 0 for f in files),
            "transferred_bytes": transferred,
            "other_bytes": other,
            "script_to_button_ms": round(timing["visible"] - timing["scriptStart"], 1) if timing["scriptStart"] is not None else None,
            "navigation_to_button_ms": round(timing["visible"], 1),
            "long_tasks_ms": [round(t, 1) for t in timing["longTasks"]],
            **call,
        }
    finally:
        context.close()


def _call(page, cdn: str, manifest: Manifest, finished: list, intent: bool) -> dict:
    """A call from this page: optionally intent first (the SDK loads), then the click."""
    start = page.locator("retell-widget .launcher, .retell-widget__button").first
    seen = len(finished)
    if intent:
        start.hover()
        page.wait_for_function("performance.getEntriesByType('resource').some(r => r.name.includes('/sdk/'))",
                               timeout=15_000)
        page.wait_for_load_state("networkidle")
        start.click()
    else:
        start.evaluate("b => b.click()")  # no pointer, no focus: nothing warmed the SDK
    audio = page.evaluate_handle("window.__watchAudio()")
    page.wait_for_function("window.__call.inCall !== undefined", timeout=20_000)
    heard = audio.json_value()
    marks = page.evaluate("window.__call")
    after = [r for r in finished[seen:] if r.url.startswith(cdn + "/")]
    paths = [r.url[len(cdn) + 1:].split("?")[0] for r in after]
    page.locator("retell-widget").get_by_role("button", name="Hang up").or_(page.locator(".retell-widget__hangup")).click()
    page.wait_for_function("document.querySelector('retell-widget, .retell-widget').getAttribute('data-state') === 'ended'")
    return {
        "after_intent_files": paths,
        "after_intent_gzip_bytes": sum(_gzip(manifest, p) for p in paths),
        "after_intent_transferred_bytes": sum(r.sizes()["responseBodySize"] for r in after),
        "sdk_gzip_bytes": sum(_gzip(manifest, p) for p in paths if p.startswith("sdk/")),
        "click_to_in_call_ms": round(marks["inCall"] - marks["click"], 1),
        "click_to_agent_audio_ms": round(heard - marks["click"], 1),
    }


def run(runs: int, smoke: bool = False, conversations: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    from harness.browser import chromium_executable
    from harness.launch import launched

    with tempfile.TemporaryDirectory(prefix="bench-widget-") as tmp, launched(Path(tmp), cwd=common.REPO,
                                                                               start_timeout=120) as state:
        cdn = state.origins["cdn"]
        import httpx

        manifest = Manifest.from_json(httpx.get(state.local("cdn") + "/manifest.json", timeout=10).json())
        client = state.clients[0].id
        folders = _folders(manifest)
        if smoke:
            # The smoke run: latest/ (the newest line) shows the tooling works, warm and cold.
            folders = [folders[-1]]
        visits: dict[str, list[dict]] = {f: [] for f in folders}
        cold: dict[str, list[dict]] = {f: [] for f in folders}
        talks: list[dict] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), args=list(state.chromium_args), headless=True)
            try:
                for _ in range(runs):  # rounds, so every folder sees the same machine
                    for folder in folders:
                        url = f"{state.origins[client]}/sandbox/{folder}/"
                        visits[folder].append(_visit(browser, url, cdn, manifest))
                        cold[folder].append(_visit(browser, url, cdn, manifest, intent=False))
                update = talk.update_cost(browser, f"{state.origins[client]}/", cdn, *((20, 20) if smoke else ()))
            finally:
                browser.close()
            with httpx.Client(base_url=state.local("control"), timeout=20) as control:
                for n in range(0 if smoke else conversations):
                    talks.append(talk.conversation(playwright, state, chromium_executable(), control, Path(tmp)))
                    print(f"conversation {n + 1} of {conversations}: turns {talks[-1]['browser_turn_ms']} ms in the browser",
                          flush=True)
    rows = [_row(folder, manifest, visits[folder], cold[folder]) for folder in folders]
    return {"runs": runs, "client": client, "rows": rows, "peers": _peers(rows), "target": TARGET,
            "update": update, "conversations": talks, "conversation": talk.summary(talks) if talks else None,
            "call_target": f"click -> in call <= {TARGET_IN_CALL_MS} ms",
            "verdict": all(r["meets_target"] for r in rows) if rows else None,
            "call_verdict": all(r["meets_call_target"] and not r["sdk_before_intent"] for r in rows) if rows else None}


def _row(folder: str, manifest: Manifest, visits: list[dict], cold: list[dict]) -> dict:
    """A CDN folder's row: the first visit's files, the medians of every visit, warm and cold."""
    first = visits[0]
    row = {
        "case": folder, "label": f"ours, cdn/{folder}/ ({manifest.lines.get(folder, manifest.latest)})",
        "version": manifest.lines.get(folder, manifest.latest),
        "requests": first["requests"], "files": [f["path"] for f in first["files"]],
        "gzip_bytes": first["gzip_bytes"], "raw_bytes": first["raw_bytes"],
        "transferred_bytes": int(common.median([v["transferred_bytes"] for v in visits])),
        "script_to_button_ms": round(common.median([v["script_to_button_ms"] for v in visits
                                                    if v["script_to_button_ms"] is not None]), 1),
        "navigation_to_button_ms": round(common.median([v["navigation_to_button_ms"] for v in visits]), 1),
        # Tasks of 50 ms or more in any visit, while the page and the widget load.
        "long_tasks_ms": sorted(t for v in visits for t in v["long_tasks_ms"]),
        # The call: what intent fetched (the SDK), and the click's two moments.
        "after_intent_files": first["after_intent_files"],
        "after_intent_gzip_bytes": first["after_intent_gzip_bytes"],
        "sdk_gzip_bytes": first["sdk_gzip_bytes"],
        "after_intent_transferred_bytes": int(common.median([v["after_intent_transferred_bytes"] for v in visits])),
        "click_to_in_call_ms": round(common.median([v["click_to_in_call_ms"] for v in visits]), 1),
        "click_to_agent_audio_ms": round(common.median([v["click_to_agent_audio_ms"] for v in visits]), 1),
        "cold_click_to_in_call_ms": round(common.median([v["click_to_in_call_ms"] for v in cold]), 1),
        "cold_click_to_agent_audio_ms": round(common.median([v["click_to_agent_audio_ms"] for v in cold]), 1),
        # Before intent nothing of the SDK may load.
        "sdk_before_intent": any(f.startswith("sdk/") for v in visits for f in (x["path"] for x in v["files"])),
        "runs": visits,
        "cold_runs": cold,
    }
    row["meets_target"] = row["gzip_bytes"] <= TARGET_GZIP
    row["meets_call_target"] = row["click_to_in_call_ms"] <= TARGET_IN_CALL_MS
    return row


def _peers(rows: list[dict]) -> list[dict]:
    """The published peers, each with its size over ours for every row (``times_<case>``)."""
    peers = [dict(p) for p in PEERS]
    for peer in peers:
        for row in rows:
            size = peer["gzip_bytes"] or peer["raw_bytes"]
            ours = row["gzip_bytes"] if peer["gzip_bytes"] else row["raw_bytes"]
            peer[f"times_{row['case']}"] = common.ratio(size, ours)
    return peers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.widget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="one warm and one cold visit of latest/ only")
    parser.add_argument("--runs", type=int, default=7, help="visits per CDN folder (default 7)")
    parser.add_argument("--conversations", type=int, default=3,
                        help=f"scripted conversations of {len(talk.TURNS)} turns, {len(talk.TALKED_OVER)} talked over "
                             "(default 3; the smoke run has none)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    info = common.machine()
    data = run(1 if args.smoke else args.runs, smoke=args.smoke, conversations=args.conversations)
    data["machine"] = common.finish_machine(info)
    path = common.write_results("widget", data, args.smoke, args.results)
    print(f"widget: sandbox page /sandbox/<folder>/ of {data['client']}, fresh Chromium context per visit, "
          f"median of {data['runs']} visits")
    kb = lambda n: None if n is None else f"{n / 1024:.1f} KB"  # noqa: E731
    rows = [(r["label"], r["requests"], kb(r["gzip_bytes"]), kb(r["transferred_bytes"]), kb(r["raw_bytes"]),
             r["script_to_button_ms"]) for r in data["rows"]]
    rows = [(*row, None) for row in rows]
    rows += [(p["label"], None, kb(p["gzip_bytes"]), None, kb(p["raw_bytes"]), None, p.get("times_latest"))
             for p in data["peers"]]
    print(common.table(["widget", "requests", "gzip", "transferred (br)", "raw", "script start -> button ms",
                        "peer / ours (latest)"], rows))
    print(f"target: {TARGET}: " + ", ".join(f"{r['case']} {'met' if r['meets_target'] else 'not met'}" for r in data["rows"]))
    print("main-thread tasks of 50 ms or more while loading: " + ", ".join(
        f"{r['case']} {r['long_tasks_ms'] or 'none'}" for r in data["rows"]))
    print()
    print("the call: intent (hover) fetches Retell's SDK, then a click; 'cold' clicks with no intent first")
    calls = [(r["label"], kb(r["sdk_gzip_bytes"]), kb(r["after_intent_transferred_bytes"]), r["click_to_in_call_ms"],
              r["click_to_agent_audio_ms"], r["cold_click_to_in_call_ms"], r["cold_click_to_agent_audio_ms"],
              "yes" if r["sdk_before_intent"] else "no") for r in data["rows"]]
    print(common.table(["widget", "SDK gzip", "after intent (br)", "click -> in call ms", "click -> agent audio ms",
                        "cold: in call ms", "cold: agent audio ms", "SDK before intent"], calls))
    print(f"target: {data['call_target']}: " + ", ".join(
        f"{r['case']} {'met' if r['meets_call_target'] else 'not met'}" for r in data["rows"]))
    update = data["update"]
    print(f"one transcript update at {update['utterances']} utterances (median of {update['updates']}): "
          f"{update['median_ms']} ms (2.2.0's panel rewriting the whole history: {update['rewrite_all_ms']} ms)")
    if data["conversation"]:
        c = data["conversation"]
        print()
        print(f"the conversation: {len(data['conversations'])} calls of {len(talk.TURNS)} turns in real audio, "
              f"every visitor turn heard: {'yes' if c['heard_every_turn'] else 'NO'}")
        print(common.table(["median", "in the browser", "on the server (Retell's latency.e2e)"], [
            ("turn: the visitor stops -> the agent's audio starts, ms", c["browser_turn_ms"], c["server_turn_ms"]),
            ("barge-in: the visitor starts -> the agent's audio stops, ms", c["browser_barge_in_ms"], c["server_barge_in_ms"]),
        ]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
