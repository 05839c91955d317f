"""Widget benchmark: bytes before interaction and time from script start to a visible button.

``python -m bench.widget`` starts the sandbox (``python -m harness``), opens each CDN folder's
test page (``/sandbox/<folder>/`` on a client origin) in a fresh Chromium context (an empty cache)
with Playwright, waits for the widget's button to be visible and the network to go idle, and
records every request the page made before anyone touched it. Bytes are counted two ways: the
gzip size of each widget file (from the build's manifest, the figure the 6 KB target is in) and
the body bytes actually transferred (the sandbox CDN negotiates brotli with Chromium). Time is
from the start of the widget script's request to the first frame with its button visible
(``performance.now()`` in the page, polled every animation frame). Peer figures are published
sizes, given as reference rows; they are not measured here.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench import common

TARGET_GZIP = 6 * 1024
TARGET = "<= 6 KB gzip before interaction"
# Published sizes (issue 7), for comparison only.
PEERS = [
    {"case": "elevenlabs", "label": "ElevenLabs embed (published)", "gzip_bytes": 191 * 1024, "raw_bytes": None},
    {"case": "vapi", "label": "Vapi widget (published)", "gzip_bytes": 184 * 1024, "raw_bytes": None},
    {"case": "retell_sdk", "label": "Retell SDK with livekit (published)", "gzip_bytes": 153 * 1024, "raw_bytes": None},
    {"case": "guide", "label": "deployment guide's bundle (raw, JS + CSS)", "gzip_bytes": None, "raw_bytes": (424 + 15) * 1024},
]
FLAGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
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
})();
"""


def _chromium() -> str | None:
    chosen = os.environ.get("RETELL_E2E_CHROMIUM")
    if chosen == "playwright":
        return None
    if chosen:
        return chosen
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _folders(manifest: dict) -> list[str]:
    """Every major line and latest/, as the CDN serves them."""
    return sorted(manifest.get("lines", {})) + (["latest"] if manifest.get("latest") else [])


def _visit(browser, url: str, cdn: str, manifest: dict) -> dict:
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
        files, transferred, other = [], 0, 0
        for request in finished:
            if request.resource_type == "document":
                continue
            body = request.sizes()["responseBodySize"]
            if request.url.startswith(cdn + "/"):
                path = request.url[len(cdn) + 1:].split("?")[0]
                entry = manifest["files"].get(path, {})
                files.append({"path": path, "transferred": body, "gzip": entry.get("gzip"), "raw": entry.get("bytes")})
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
        }
    finally:
        context.close()


def run(runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    from harness.launch import launched

    with tempfile.TemporaryDirectory(prefix="bench-widget-") as tmp, launched(Path(tmp), cwd=common.REPO,
                                                                               start_timeout=120) as state:
        cdn = state["origins"]["cdn"]
        import httpx

        manifest = httpx.get(f"http://127.0.0.1:{state['ports']['cdn']}/manifest.json", timeout=10).json()
        client = state["clients"][0]["id"]
        folders = _folders(manifest)
        visits: dict[str, list[dict]] = {f: [] for f in folders}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=_chromium(), args=FLAGS, headless=True)
            try:
                for _ in range(runs):  # rounds, so every folder sees the same machine
                    for folder in folders:
                        visits[folder].append(_visit(browser, f"{state['origins'][client]}/sandbox/{folder}/",
                                                     cdn, manifest))
            finally:
                browser.close()
    rows = []
    for folder in folders:
        first = visits[folder][0]
        rows.append({
            "case": folder, "label": f"ours, cdn/{folder}/ ({manifest['lines'].get(folder, manifest.get('latest'))})",
            "version": manifest["lines"].get(folder, manifest.get("latest")),
            "requests": first["requests"], "files": [f["path"] for f in first["files"]],
            "gzip_bytes": first["gzip_bytes"], "raw_bytes": first["raw_bytes"],
            "transferred_bytes": int(common.median([v["transferred_bytes"] for v in visits[folder]])),
            "script_to_button_ms": round(common.median([v["script_to_button_ms"] for v in visits[folder]
                                                        if v["script_to_button_ms"] is not None]), 1),
            "navigation_to_button_ms": round(common.median([v["navigation_to_button_ms"] for v in visits[folder]]), 1),
            # Tasks of 50 ms or more in any visit, while the page and the widget load.
            "long_tasks_ms": sorted(t for v in visits[folder] for t in v["long_tasks_ms"]),
            "runs": visits[folder],
        })
    for row in rows:
        row["meets_target"] = row["gzip_bytes"] <= TARGET_GZIP
    peers = [dict(p) for p in PEERS]
    for peer in peers:
        for row in rows:
            size = peer["gzip_bytes"] or peer["raw_bytes"]
            ours = row["gzip_bytes"] if peer["gzip_bytes"] else row["raw_bytes"]
            peer[f"times_{row['case']}"] = common.ratio(size, ours)
    return {"runs": runs, "client": client, "rows": rows, "peers": peers, "target": TARGET,
            "verdict": all(r["meets_target"] for r in rows) if rows else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.widget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="one visit per folder")
    parser.add_argument("--runs", type=int, default=7, help="visits per CDN folder (default 7)")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    info = common.machine()
    data = run(1 if args.smoke else args.runs)
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
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
