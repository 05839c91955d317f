"""The main scenarios again over HTTPS, plus mixed content and secure contexts."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.lines import LINES, until_state
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e


@in_one_page("folder", ["v1", "latest"])
def test_a_call_over_https(https_page: Page, sandbox_https, folder):
    client, line = sandbox_https.client("client-a"), LINES[folder]
    assert client.origin.startswith("https://client-a.test:")
    https_page.goto(f"{client.origin}/sandbox/{folder}/")
    assert https_page.evaluate("window.isSecureContext")
    widget = https_page.locator(line.root)
    widget.locator(line.start).click()
    until_state(widget, "in-call")
    widget.locator(line.hang_up).click()
    until_state(widget, "ended")
    call = sandbox_https.retell_records()["calls"][-1]
    assert sandbox_https.ended_call(call["call_id"])["disconnection_reason"] == "user_hangup"


def test_the_pinned_demo_page_over_https(https_page: Page, sandbox_https):
    # The demo page loads an exact version with SRI from the https CDN.
    https_page.goto(sandbox_https.client("client-b").origin + "/")
    widget = https_page.locator(".retell-widget")
    widget.locator(".retell-widget__button").click()
    until_state(widget, "in-call")


def test_the_hostile_site_is_refused_over_https(https_page: Page, sandbox_https):
    before = len(sandbox_https.retell_records()["requests"])
    https_page.goto(sandbox_https.state.hostile + "/")
    https_page.locator(".retell-widget__button").click()
    until_state(https_page.locator(".retell-widget"), "error")
    assert len(sandbox_https.retell_records()["requests"]) == before


def test_mixed_content_is_blocked_before_any_request(https_page: Page, sandbox_https):
    before = len(sandbox_https.retell_records()["requests"])
    messages = []
    https_page.on("console", lambda m: messages.append(m.text))
    https_page.goto(sandbox_https.client("client-a").origin + "/sandbox/v1/?proxy=insecure")
    https_page.locator(".retell-widget__button").click()
    until_state(https_page.locator(".retell-widget"), "error")
    assert any("Mixed Content" in m for m in messages), messages
    assert len(sandbox_https.retell_records()["requests"]) == before


def test_plain_http_on_a_real_domain_is_not_a_secure_context(https_page: Page, sandbox_https):
    https_page.goto(sandbox_https.state.origins["insecure"] + "/sandbox/v1/")
    assert https_page.evaluate("window.isSecureContext") is False
    assert https_page.evaluate("navigator.mediaDevices === undefined")
    https_page.locator(".retell-widget__button").click()
    # Without a secure context there is no microphone API, so no call can start.
    until_state(https_page.locator(".retell-widget"), "error")
