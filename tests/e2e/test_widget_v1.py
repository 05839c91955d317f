"""Widget v1 keeps working after v2 ships: its API on the same sandbox scenarios as v2."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.lines import until_state
from tests.e2e.test_widget_v2 import INSTRUMENT, live_tracks, token_requests
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e


def visit_v1(page: Page, sandbox, mic: str | None = None, **query) -> Locator:
    if mic:
        page.add_init_script(f"window.__micMode = {json.dumps(mic)};")
    page.add_init_script(INSTRUMENT)
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    page.goto(f"{sandbox.state.origins['client-a']}/sandbox/v1/{suffix}")
    root = page.locator(".retell-widget")
    until_state(root, "idle")
    return root


def test_v1_pages_still_get_v1(page: Page, sandbox):
    visit_v1(page, sandbox)
    assert page.locator("retell-widget").count() == 0
    assert page.evaluate("typeof window.sandboxWidget.stop") == "function"


def test_v1_call_and_hang_up(page: Page, sandbox):
    before = sandbox.retell_records()
    root = visit_v1(page, sandbox)
    root.locator(".retell-widget__button").click()
    until_state(root, "in-call")
    expect(root.locator(".retell-widget__status")).to_have_text("In call")
    root.locator(".retell-widget__hangup").click()
    until_state(root, "ended")
    assert [c["disconnection_reason"] for c in sandbox.ended_calls(before)] == ["user_hangup"]
    assert live_tracks(page) == 0


def test_v1_js_api(page: Page, sandbox):
    root = visit_v1(page, sandbox)
    page.evaluate("window.sandboxWidget.start()")
    until_state(root, "in-call")
    page.evaluate("window.sandboxWidget.stop()")
    until_state(root, "ended")
    page.evaluate("window.sandboxWidget.destroy()")
    expect(page.locator(".retell-widget")).to_have_count(0)


@in_one_page("mic, text", [
    ("denied", "Microphone access is blocked"),
    ("missing", "No microphone was found"),
])
def test_v1_microphone_failures(page: Page, sandbox, mic, text):
    root = visit_v1(page, sandbox, mic=mic)
    root.locator(".retell-widget__button").click()
    until_state(root, "error")
    expect(root.locator(".retell-widget__status")).to_contain_text(text)
    assert live_tracks(page) == 0


def test_v1_wrong_agent(page: Page, sandbox):
    before = sandbox.retell_records()
    root = visit_v1(page, sandbox, agent="agent_bolt_sales")
    root.locator(".retell-widget__button").click()
    until_state(root, "error")
    expect(root.locator(".retell-widget__status")).to_have_text("This website isn't allowed to use this assistant.")
    assert token_requests(sandbox, before) == 0
