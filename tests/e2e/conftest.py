"""Browser settings: Debian's Chromium when present, with flags that work on machines like ours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Chromium flags that work on machines with no network and no microphone.
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # The HTTPS sandbox uses *.test names, which only this mapping resolves.
    "--host-resolver-rules=MAP *.test 127.0.0.1",
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
