"""Security scenarios in a real browser: foreign agents, rate limits and a tampered CDN."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_a_client_page_cannot_use_another_clients_agent(page: Page, sandbox):
    foreign = sandbox.client("client-b")["agents"][0]
    before = len(sandbox.retell_records()["requests"])
    page.goto(sandbox.client("client-a")["origin"] + f"/sandbox/v1/?agent={foreign}")
    page.locator(".retell-widget__button").click()
    expect(page.locator(".retell-widget")).to_have_attribute("data-state", "error")
    expect(page.locator(".retell-widget__status")).to_have_text("This website isn't allowed to use this assistant.")
    assert len(sandbox.retell_records()["requests"]) == before  # no token was minted


def test_a_burst_hits_the_rate_limit_and_the_widget_says_when_to_retry(page: Page, sandbox, faults):
    faults({"rate_limit": "3/minute"})
    client = sandbox.client("client-a")
    # The burst: this machine's address spends its budget of three creates.
    statuses = [sandbox.http.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client["agents"][0]},
                                  headers={"Origin": client["origin"]}).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    page.goto(client["origin"] + "/sandbox/v1/")
    page.locator(".retell-widget__button").click()
    expect(page.locator(".retell-widget")).to_have_attribute("data-state", "error")
    expect(page.locator(".retell-widget__status")).to_contain_text("Too many calls right now. Please try again in")


@pytest.mark.parametrize("line", ["v1", "v2"])
def test_a_used_up_quota_says_the_assistant_is_unavailable_without_a_countdown(page: Page, sandbox, faults, line):
    client = sandbox.client("client-b")
    faults({"quota": {"client-b": {"max_calls_per_day": 1}}})
    # The day's one call (unless an earlier test of this sandbox made it), then the refusal.
    answers = [sandbox.http.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client["agents"][0]},
                                 headers={"Origin": client["origin"]}) for _ in range(2)]
    assert answers[-1].status_code == 429 and answers[-1].json()["error"] == "quota_exceeded"
    before = len(sandbox.retell_records()["requests"])
    page.goto(client["origin"] + f"/sandbox/{line}/")
    if line == "v1":
        page.locator(".retell-widget__button").click()
        expect(page.locator(".retell-widget")).to_have_attribute("data-state", "error")
        status = page.locator(".retell-widget__status")
    else:
        host = page.locator("retell-widget")
        host.locator(".launcher").click()
        expect(host).to_have_attribute("data-error", "unavailable")
        expect(host.locator(".primary")).not_to_have_attribute("aria-disabled", "true")  # no cooldown to sit out
        status = host.locator(".status")
    expect(status).to_have_text("The assistant is unavailable right now. Please try again later.")
    assert len(sandbox.retell_records()["requests"]) == before  # refused before Retell


def test_a_tampered_cdn_file_is_blocked_by_sri(page: Page, sandbox, faults):
    faults({"cdn": "tamper"})
    messages = []
    page.on("console", lambda m: messages.append(m.text))
    # The demo page pins an exact version with an integrity hash...
    page.goto(sandbox.client("client-a")["origin"] + "/")
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.RetellWidget") == "undefined"
    expect(page.locator(".retell-widget")).to_have_count(0)
    assert any("integrity" in m for m in messages), messages
    # ...while a moving alias, which cannot carry SRI, runs whatever the CDN sends.
    page.goto(sandbox.client("client-a")["origin"] + "/sandbox/v1/")
    expect(page.locator(".retell-widget")).to_have_attribute("data-state", "idle")
