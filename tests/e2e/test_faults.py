"""Each fault the sandbox can inject gives the widget its intended state, and a retry recovers."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

UNAVAILABLE = "The assistant is unavailable right now. Please try again later."
UNREACHABLE = "We couldn't reach the assistant. Check your connection and try again."
INTERRUPTED = "The call was interrupted."
NOT_STARTED = "The call couldn't be started."


@pytest.mark.parametrize("fault, message", [
    ({"create": {"status": 500}}, UNAVAILABLE),                      # Retell fails: proxy 502
    ({"create": {"status": 429, "retry_after": 7}}, UNAVAILABLE),    # Retell busy: proxy 503
    ({"create": {"delay": 3}}, UNAVAILABLE),                         # Retell slow: proxy 504
    ({"proxy": "down"}, UNREACHABLE),
    ({"sdk": "fail"}, "The call service failed to load. Please try again."),
    ({"token": "expired"}, NOT_STARTED),  # Retell's SDK reports the refused join as an error
    ({"call": "drop"}, INTERRUPTED),      # the media server goes away after the call started
], ids=["upstream-5xx", "upstream-429", "upstream-timeout", "proxy-down", "sdk-fails", "token-expired", "call-dropped"])
def test_faults_give_the_intended_state_then_a_retry_works(page: Page, sandbox, faults, fault, message):
    faults(fault)
    page.goto(sandbox.client("client-a")["origin"] + "/sandbox/v1/")
    widget, status = page.locator(".retell-widget"), page.locator(".retell-widget__status")
    page.locator(".retell-widget__button").click()
    expect(widget).to_have_attribute("data-state", "error", timeout=10_000)
    expect(status).to_have_text(message)

    sandbox.clear_faults()
    page.locator(".retell-widget__button").click()
    expect(widget).to_have_attribute("data-state", "in-call")
    page.locator(".retell-widget__hangup").click()
    expect(widget).to_have_attribute("data-state", "ended")
