"""What a Chromium needs to use the sandbox: the flags the state file lists as ``chromium_args``.

The e2e suite, the benchmarks and ``python -m harness check`` launch with exactly this list; a
team's own Playwright script can too. It holds no ``--disable-features``: Chromium keeps only the
last one, and Playwright passes its own list; merge values into one flag if you add any.
"""

from __future__ import annotations

import os
from pathlib import Path


# A page script (Playwright's add_init_script) that keeps every RTCPeerConnection the page makes in
# window.__pcs, so a check, a test or a benchmark can read their getStats().
PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) { const pc = new Native(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""


def chromium_args(media_host: str, media_port: int, spki: str, domain: str = "localhost", *,
                  fake_media: bool = True, mapped: dict[str, int] | None = None) -> list[str]:
    """``fake_media`` adds a microphone that needs no prompt and plays a beeping tone (for tests;
    a person trying the sandbox wants their own). ``mapped`` sends more real host names (the bot
    check providers') to ports on 127.0.0.1."""
    rules = [f"MAP {media_host} 127.0.0.1:{media_port}", *(f"MAP {host} 127.0.0.1:{port}" for host, port in (mapped or {}).items())]
    if domain != "localhost":
        # Chromium resolves *.localhost itself; any other sandbox domain needs mapping.
        rules.append(f"MAP *.{domain} 127.0.0.1")
    fake = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] if fake_media else []
    return [
        *fake,
        # WebRTC between the page and the sandbox's media server, which are both on 127.0.0.1.
        "--allow-loopback-in-peer-connection",
        # Retell's SDK dials its real host name (and the bot check scripts load from theirs): send
        # them here, and trust this sandbox's certificate by its key only (every other
        # certificate check stays on).
        "--host-resolver-rules=" + ", ".join(rules),
        f"--ignore-certificate-errors-spki-list={spki}",
        # No network but loopback: don't try the rest of it.
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]


# Debian packages the same Chromium twice: the full browser, and the "old headless" shell that
# Playwright itself runs headless tests in. The shell runs the same Blink, V8, network stack and
# WebRTC without the full browser's UI layers: six calls in the e2e suite's fixtures cost 11.4
# CPU-seconds in it against 24.2 in /usr/bin/chromium, and the whole suite 36% less (12-03).
HEADLESS_SHELL = Path("/usr/bin/chromium-headless-shell")
CHROMIUM = Path("/usr/bin/chromium")


def chromium_executable(headless: bool = True) -> str | None:
    """RETELL_E2E_CHROMIUM names a browser binary ('playwright' means Playwright's own build).
    Otherwise Debian's Chromium when installed: its headless shell for a headless browser, else
    /usr/bin/chromium (which is also the one that can show a window)."""
    chosen = os.environ.get("RETELL_E2E_CHROMIUM")
    if chosen:
        return None if chosen == "playwright" else chosen
    for candidate in ([HEADLESS_SHELL] if headless else []) + [CHROMIUM]:
        if candidate.exists():
            return str(candidate)
    return None
