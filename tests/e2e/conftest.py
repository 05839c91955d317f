"""The sandbox runs once per session as its real CLI; the browser is Debian's Chromium when present."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO

# Chromium flags that work on machines with no network and no microphone.
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_executable() -> str | None:
    """RETELL_E2E_CHROMIUM names a browser binary ('playwright' means Playwright's own build);
    otherwise Debian's /usr/bin/chromium is used when installed."""
    chosen = os.environ.get("RETELL_E2E_CHROMIUM")
    if chosen:
        return None if chosen == "playwright" else chosen
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    args = {**browser_type_launch_args, "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]}
    executable = chromium_executable()
    if executable:
        args["executable_path"] = executable
    return args


class Sandbox:
    def __init__(self, state: dict) -> None:
        self.state = state

    def client(self, client_id: str) -> dict:
        return next(c for c in self.state["clients"] if c["id"] == client_id)

    def retell_records(self) -> dict:
        # Python cannot resolve *.localhost, so it talks to the port on 127.0.0.1 directly.
        port = self.state["ports"]["retell"]
        return httpx.get(f"http://127.0.0.1:{port}/__harness/calls").json()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_file = tmp_path_factory.mktemp("sandbox") / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "--state", str(state_file)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    # A watchdog, not a sleep: if the sandbox never says it is ready, end it so the read below stops.
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    output = []
    for line in process.stdout:  # type: ignore[union-attr]
        output.append(line)
        if line.startswith("sandbox ready"):
            break
    watchdog.cancel()
    if not state_file.exists():
        process.kill()
        pytest.fail("the sandbox did not start:\n" + "".join(output))
    try:
        yield Sandbox(json.loads(state_file.read_text()))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, "".join(output) + rest
        assert "sandbox stopped" in rest
