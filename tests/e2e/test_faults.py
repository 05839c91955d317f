"""The fault matrix, on both lines: every way a call can fail shows its message, releases the
microphone, and a retry makes a real call."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.lines import LINES, until_state
from tests.e2e.test_widget_v2 import instrument, live_tracks
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e

# fault, then per line: v1's message, v2's data-error code and the start of its message.
MATRIX = {
    # Retell answers the proxy's create-web-call with a 5xx or is too slow (the sandbox proxy gives
    # up after 1 s). Its rate limit (the proxy's 503 with Retry-After) is counted down by both
    # lines: see the rate-limit tests of test_widget_v1 and test_widget_v2.
    "retell-5xx": ({"create": {"status": 500}}, "unavailable right now", ("unavailable", "The assistant is unavailable")),
    "retell-timeout": ({"create": {"delay": 1.5}}, "unavailable right now", ("unavailable", "The assistant is unavailable")),
    "proxy-down": ({"proxy": "down"}, "couldn't reach the assistant", ("network", "We couldn't reach the assistant")),
    # The CDN cannot serve Retell's SDK.
    "sdk-fails": ({"sdk": "fail"}, "The call service didn't load", ("sdk", "The call service didn't load")),
    # Retell's SDK is refused at the join (the token is expired) or cannot reach the media server.
    "token-expired": ({"token": "expired"}, "The call couldn't be started.", ("start-failed", "The call couldn't be started")),
    "media-down": ({"media": "down"}, "The call couldn't be started.", ("start-failed", "The call couldn't be started")),
    # The media server drops the call (signalling and media) once it is up.
    "call-dropped": ({"call": "drop"}, "The call was interrupted.", ("dropped", "The call was interrupted")),
}


# Faults that a page's first load does not change share one page per line; the SDK's own failure
# needs an SDK the page has not cached yet, and media-down a page of its own (set right after
# another case's call, the control origin timed out restarting the media server).
OWN_PAGE = ("sdk-fails", "media-down")
CASES = [(name, folder) for name, (_, _, v2) in MATRIX.items() for folder in ("v1", "v2") if folder == "v1" or v2]


@in_one_page("name, folder", [case for case in CASES if case[0] not in OWN_PAGE])
def test_each_fault_shows_its_message_and_a_retry_makes_a_call(page: Page, sandbox, faults, folder, name):
    fail_then_retry(page, sandbox, faults, folder, name)


@pytest.mark.parametrize("name, folder", [c for c in CASES if c[0] in OWN_PAGE], ids=[f"{n}-{f}" for n, f in CASES if n in OWN_PAGE])
def test_each_fault_on_a_page_of_its_own(page: Page, sandbox, faults, folder, name):
    fail_then_retry(page, sandbox, faults, folder, name)


def fail_then_retry(page: Page, sandbox, faults, folder: str, name: str) -> None:
    fault, v1_text, v2 = MATRIX[name]
    line = LINES[folder]
    sandbox.clear_faults()  # whatever a case before this one left behind
    instrument(page)
    page.goto(f"{sandbox.client('client-a').origin}/sandbox/{folder}/")
    root = page.locator(line.root)
    until_state(root, "idle")
    faults(fault)
    root.locator(line.start).click()
    until_state(root, "error")
    if folder == "v1":
        expect(root.locator(line.status)).to_contain_text(v1_text)
    else:
        code, text = v2
        expect(root).to_have_attribute("data-error", code)
        expect(root.locator(line.status)).to_contain_text(text)
        expect(root.locator("[role=status]")).to_contain_text(text)  # announced too
    assert live_tracks(page) == 0  # a failed attempt never keeps the microphone

    sandbox.clear_faults()
    retry(root, folder)
    until_state(root, "in-call")
    root.locator(line.hang_up).click()
    until_state(root, "ended")


def retry(root, folder: str) -> None:  # noqa: ANN001
    """Tries again after an error: v2's "Try again"; v1's button, whose first click (from 1.5.0)
    only clears the message, as it never redials by itself."""
    line = LINES[folder]
    root.locator(line.retry).click()
    if folder == "v1":
        until_state(root, "idle")
        root.locator(line.start).click()


@pytest.mark.parametrize("folder", ["v1", "v2"])
def test_a_failed_sdk_import_is_retried_under_a_new_url(page: Page, sandbox, faults, folder):
    """A browser may keep a failed module load in its module map for good (Chromium forgets it),
    so after a failure the call core imports the SDK under a new URL: a retry works everywhere."""
    line = LINES[folder]
    sandbox.clear_faults()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "retell-web-client.js" in request.url else None)
    instrument(page)
    page.goto(f"{sandbox.client('client-a').origin}/sandbox/{folder}/")
    root = page.locator(line.root)
    until_state(root, "idle")
    faults({"sdk": "fail"})
    root.locator(line.start).click()
    until_state(root, "error")
    failed = list(asked)
    assert failed, "the SDK was never asked for"

    sandbox.clear_faults()
    retry(root, folder)
    until_state(root, "in-call")
    assert len(set(asked)) == len(asked), f"an SDK URL was asked for twice: {asked}"
    assert "retry=" in asked[-1] and len(asked) > len(failed)
    root.locator(line.hang_up).click()
    until_state(root, "ended")
