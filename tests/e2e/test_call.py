"""A voice call through the whole product: client page -> CDN widget -> proxy -> fake Retell."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.lines import until_state

pytestmark = pytest.mark.e2e


def new_records(before: dict, after: dict, key: str) -> list[dict]:
    if key == "calls":
        known = {c["call_id"] for c in before["calls"]}
        return [c for c in after["calls"] if c["call_id"] not in known]
    return after[key][len(before[key]):]


# client-b's call is the webhooks test's below: the same page and steps, and its minutes.
def test_a_call_starts_and_hangs_up(page: Page, sandbox):
    client = sandbox.client("client-a")
    before = sandbox.retell_records()
    page.goto(client.origin + "/")
    widget = page.locator(".retell-widget")
    until_state(widget, "idle")

    page.locator(".retell-widget__button").click()
    until_state(widget, "in-call")
    expect(page.locator(".retell-widget__status")).to_have_text("In call")

    page.locator(".retell-widget__hangup").click()
    until_state(widget, "ended")
    calls = sandbox.ended_calls(before)
    assert len(calls) == 1
    assert calls[0]["agent_id"] == client.agents[0]
    assert calls[0]["call_status"] == "ended" and calls[0]["disconnection_reason"] == "user_hangup"


def test_a_hang_up_reaches_the_clients_minutes_through_retells_signed_webhooks(page: Page, sandbox):
    client = sandbox.client("client-b")
    before, usage_before = sandbox.retell_records(), sandbox.calls_per_client().get("client-b", (0, 0, 0.0, 0.0))
    page.goto(client.origin + "/")
    widget = page.locator(".retell-widget")
    until_state(widget, "idle")
    page.locator(".retell-widget__button").click()
    until_state(widget, "in-call")
    expect(page.locator(".retell-widget__status")).to_have_text("In call")
    page.locator(".retell-widget__hangup").click()
    until_state(widget, "ended")
    (ended,) = sandbox.ended_calls(before)
    assert ended["agent_id"] == client.agents[0]
    assert ended["call_status"] == "ended" and ended["disconnection_reason"] == "user_hangup"
    call = sandbox.reported_call(ended["call_id"])
    # The fake Retell signed each event; the proxy verified, stored and answered it.
    assert {(d["event"], d["status"]) for d in call["webhooks"]} == {
        ("call_started", 204), ("call_ended", 204), ("call_analyzed", 204)}
    created, connected, minutes, usd = sandbox.calls_per_client()["client-b"]
    assert (created, connected) == (usage_before[0] + 1, usage_before[1] + 1)
    assert minutes - usage_before[2] == pytest.approx(call["duration_ms"] / 60000, abs=0.011)  # the page shows 2 decimals
    assert usd >= usage_before[3]


def test_the_hostile_site_is_refused_before_retell(page: Page, sandbox):
    before = sandbox.retell_records()
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(sandbox.state.hostile + "/")
    widget = page.locator(".retell-widget")
    until_state(widget, "idle")

    page.locator(".retell-widget__button").click()
    until_state(widget, "error")
    expect(page.locator(".retell-widget__status")).to_contain_text("couldn't reach the assistant")
    # The browser blocked the response for lack of CORS approval, and no token was minted.
    assert any("CORS" in text for text in console_errors), console_errors
    after = sandbox.retell_records()
    assert new_records(before, after, "requests") == []
    assert new_records(before, after, "calls") == []
