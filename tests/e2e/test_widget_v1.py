"""Widget v1 keeps working after v2 ships: its API on the same sandbox scenarios as v2, and the
fixes of 1.5.0 (issue 23): no redial, the call shown on the button, v2's rate-limit countdown."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.lines import until_state
from tests.e2e.test_widget_v2 import instrument, live_tracks, token_requests
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e


def visit_v1(page: Page, sandbox, mic: str | None = None, **query) -> Locator:
    if mic:
        page.add_init_script(f"window.__micMode = {json.dumps(mic)};")
    instrument(page)
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
    # 1.5.0: a click on an error clears it and makes no call (1.4.0 asked for a token again).
    root.locator(".retell-widget__button").click()
    until_state(root, "idle")
    expect(root.locator(".retell-widget__status")).to_be_hidden()
    assert page.evaluate("window.sandboxWidget.state") == "idle"
    assert token_requests(sandbox, before) == 0


def ring(button: Locator) -> str:
    return button.evaluate("b => getComputedStyle(b).boxShadow")


def says(button: Locator, words: str, colour: str) -> None:
    """The button shows the state in its words and its name (label in name), with a ring of ``colour``."""
    expect(button).to_have_text(words)
    expect(button).to_have_accessible_name(words)
    assert colour in ring(button)


def test_v1_shows_the_call_on_its_button_and_never_redials(page: Page, sandbox, faults):
    root = visit_v1(page, sandbox)
    button, status, hang_up = (root.locator(f".retell-widget__{name}") for name in ("button", "status", "hangup"))
    idle = ring(button)
    # Connecting: the button says so (in its name too, where 1.4.0 kept "Talk to our assistant"),
    # with an amber ring; the hang-up button cancels, and says so.
    faults({"create": {"delay": 1.5}})
    button.click()
    until_state(root, "connecting")
    says(button, "Connecting…", "rgb(180, 83, 9)")
    expect(hang_up).to_have_text("Cancel")
    hang_up.click()
    until_state(root, "ended")
    expect(status).to_have_text("Call cancelled.")
    expect(button).to_have_accessible_name("Talk to our assistant")
    assert ring(button) == idle
    sandbox.clear_faults()

    # After a call, a click clears the message and calls no one; the next click calls. (Counted
    # as the page sends them: the cancelled request may reach Retell later.)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and r.url.endswith("/api/create-web-call") else None)
    button.click()
    until_state(root, "idle")
    expect(status).to_be_hidden()
    assert sent == []
    button.click()
    until_state(root, "in-call")
    says(button, "In call", "rgb(21, 128, 61)")
    expect(hang_up).to_have_text("Hang up")

    # "Call ended." clears by itself after 10 s (the page's clock, run ahead).
    page.clock.install()
    hang_up.click()
    until_state(root, "ended")
    expect(status).to_have_text("Call ended.")
    expect(button).to_have_accessible_name("Talk to our assistant")
    page.clock.fast_forward(9_000)
    assert page.evaluate("window.sandboxWidget.state") == "ended"
    page.clock.fast_forward(1_500)
    until_state(root, "idle")
    expect(status).to_be_hidden()
    assert len(sent) == 1


def test_v1_says_when_the_assistant_ended_the_call(page: Page, sandbox, agent_script):
    agent = sandbox.client("client-a").agents[0]
    agent_script(agent, {"max_call_duration_ms": 1000})
    root = visit_v1(page, sandbox, agent=agent)
    root.locator(".retell-widget__button").click()
    until_state(root, "in-call")
    until_state(root, "ended")
    expect(root.locator(".retell-widget__status")).to_have_text("The assistant ended the call.")


CREATE = "**/api/create-web-call"


# Retell's 429 reaches the page as the proxy's 503 with Retry-After; 1.4.0 said "unavailable".
@in_one_page("limit", ["proxy", "retell"])
def test_v1_counts_a_rate_limit_down_on_its_button(page: Page, sandbox, faults, limit):
    root = visit_v1(page, sandbox)
    button = root.locator(".retell-widget__button")
    before = sandbox.retell_records()
    limited: list[str] = []
    if limit == "retell":
        faults({"create": {"status": 429, "retry_after": 2}})
    else:  # the proxy's own limit, as it answers it: 429, Retry-After, readable cross-origin
        page.route(CREATE, lambda route: limited.append(route.request.url) or route.fulfill(
            status=429, json={"error": "rate_limited", "message": "too many requests"},
            headers={"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After", "Retry-After": "2"}))
    button.click()
    until_state(root, "error")
    expect(root.locator(".retell-widget__status")).to_have_text("Too many calls right now. Please wait, then try again.")
    expect(button).to_have_attribute("aria-disabled", "true")
    expect(button).to_have_text(re.compile(r"^Try again in [12] s$"))
    expect(button).to_have_accessible_name(re.compile(r"^Try again in [12] s$"))
    button.click(force=True)  # too early (Playwright itself would wait): nothing starts
    assert page.evaluate("window.sandboxWidget.state") == "error"
    if limit == "proxy":
        page.unroute(CREATE)  # routes outlive a visit
        assert len(limited) == 1
        return  # how a countdown ends is the same for both: waited out once, below
    sandbox.clear_faults()
    expect(button).to_have_attribute("aria-disabled", "false", timeout=5000)
    expect(button).to_have_accessible_name("Try again")
    button.click()  # "Try again" does what it says
    until_state(root, "in-call")
    root.locator(".retell-widget__hangup").click()
    until_state(root, "ended")
    assert token_requests(sandbox, before) == 2  # the limited one and the retry, none in between
