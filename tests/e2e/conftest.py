"""Browser settings: Debian's Chromium when present, launched with the sandbox's own flags."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page

from harness.browser import chromium_executable


# A Playwright trace of every test costs the e2e tests 7% of their CPU (86.0 against 80.2
# CPU-seconds for test_widget_v2.py, 12-03), so it is asked for: RETELL_E2E_TRACE=1.
TRACE = os.environ.get("RETELL_E2E_TRACE") == "1"


@contextlib.contextmanager
def traced(context: BrowserContext, request: pytest.FixtureRequest, folder: str) -> Iterator[BrowserContext]:
    """If the test fails: the pages' console errors and warnings printed with the failure, where
    CI shows them, and with RETELL_E2E_TRACE=1 a Playwright trace (actions, console, network; no
    screenshots, which cost a quarter of the suite's time) as FOLDER/trace.zip."""
    console: list[str] = request.node.__dict__.setdefault("browser_console", [])
    context.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    if not TRACE:
        yield context
        return
    context.tracing.start(snapshots=False, screenshots=False, sources=False)
    try:
        yield context
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            Path(folder).mkdir(parents=True, exist_ok=True)
            context.tracing.stop(path=str(Path(folder) / "trace.zip"))
        else:
            context.tracing.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    console = item.__dict__.get("browser_console")
    if report.when == "call" and report.failed and console is not None:
        report.sections.append(("browser console (errors and warnings)", "\n".join(console) or "(none)"))


@pytest.fixture
def context(new_context: Callable[..., BrowserContext], request: pytest.FixtureRequest, output_path: str) -> Iterator[BrowserContext]:
    with traced(new_context(), request, output_path) as made:
        yield made


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, sandbox) -> dict:
    # Exactly the flags the sandbox's state file lists (fake microphone, loopback WebRTC, Retell's
    # media host mapped to the sandbox and its certificate pinned), as a team's own script would.
    args = {**browser_type_launch_args, "args": [*browser_type_launch_args.get("args", []), *sandbox.state.chromium_args]}
    executable = chromium_executable(headless=args.get("headless", True))  # --headed needs the full browser
    if executable:
        args["executable_path"] = executable
    return args


@pytest.fixture(scope="session")
def https_browser(browser_type: BrowserType, browser_type_launch_args: dict, sandbox_https) -> Iterator[Browser]:
    """A browser for the HTTPS sandbox: its media server and certificate are its own, so it needs
    its own flags (one browser maps Retell's host name to one place)."""
    options = {**browser_type_launch_args, "args": list(sandbox_https.state.chromium_args)}
    browser = browser_type.launch(**options)
    yield browser
    browser.close()


@pytest.fixture
def https_page(https_browser: Browser, request: pytest.FixtureRequest, output_path: str) -> Iterator[Page]:
    # No ignore_https_errors: the browser trusts the sandbox's certificate by its pinned key.
    context = https_browser.new_context()
    with traced(context, request, output_path):
        yield context.new_page()
    context.close()
