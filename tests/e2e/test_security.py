"""Security scenarios in a real browser: foreign agents, rate limits and a tampered CDN."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.lines import until_state
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e


def test_a_client_page_cannot_use_another_clients_agent(page: Page, sandbox):
    foreign = sandbox.client("client-b").agents[0]
    before = len(sandbox.retell_records()["requests"])
    page.goto(sandbox.client("client-a").origin + f"/sandbox/v1/?agent={foreign}")
    page.locator(".retell-widget__button").click()
    until_state(page.locator(".retell-widget"), "error")
    expect(page.locator(".retell-widget__status")).to_have_text("This website isn't allowed to use this assistant.")
    assert len(sandbox.retell_records()["requests"]) == before  # no token was minted


def test_a_burst_hits_the_rate_limit_and_the_widget_says_when_to_retry(page: Page, sandbox, faults):
    faults({"rate_limit": "3/minute"})
    client = sandbox.client("client-a")
    # The burst: this machine's address spends its budget of three creates.
    statuses = [sandbox.http.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client.agents[0]},
                                  headers={"Origin": client.origin}).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    page.goto(client.origin + "/sandbox/v1/")
    button = page.locator(".retell-widget__button")
    button.click()
    until_state(page.locator(".retell-widget"), "error")
    expect(page.locator(".retell-widget__status")).to_have_text("Too many calls right now. Please wait, then try again.")
    expect(button).to_have_text(re.compile(r"^Try again in \d+ s$"))  # the seconds count down on the button


@in_one_page("line", ["v1", "v2"])
def test_a_used_up_quota_says_the_assistant_is_unavailable_without_a_countdown(page: Page, sandbox, faults, line):
    client = sandbox.client("client-b")
    faults({"quota": {"client-b": {"max_calls_per_day": 1}}})
    # The day's one call (unless an earlier test of this sandbox made it), then the refusal.
    answers = [sandbox.http.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client.agents[0]},
                                 headers={"Origin": client.origin}) for _ in range(2)]
    assert answers[-1].status_code == 429 and answers[-1].json()["error"] == "quota_exceeded"
    before = len(sandbox.retell_records()["requests"])
    page.goto(client.origin + f"/sandbox/{line}/")
    if line == "v1":
        page.locator(".retell-widget__button").click()
        until_state(page.locator(".retell-widget"), "error")
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
    page.goto(sandbox.client("client-a").origin + "/")
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.RetellWidget") == "undefined"
    expect(page.locator(".retell-widget")).to_have_count(0)
    assert any("integrity" in m for m in messages), messages
    # ...while a moving alias, which cannot carry SRI, runs whatever the CDN sends.
    page.goto(sandbox.client("client-a").origin + "/sandbox/v1/")
    until_state(page.locator(".retell-widget"), "idle")


# Both lines and both providers; v2 with Turnstile also runs in harness check's tests (tests/harness/test_check.py).
@in_one_page("line, provider", [("v1", "turnstile"), ("v2", "recaptcha")])
def test_a_bot_check_passes_for_a_real_visitor_and_its_token_is_verified_once(page: Page, sandbox, faults, line, provider):
    client = sandbox.client("client-b")
    faults({"bot_check": {"client-b": provider}})
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    before = sandbox.retell_records()
    # Without a token (a script that is not a browser, or an old page): refused before Retell.
    bare = sandbox.http.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client.agents[0]},
                             headers={"Origin": client.origin})
    assert bare.status_code == 403 and bare.json()["error"] == "bot_check_failed"
    page.goto(client.origin + f"/sandbox/{line}/?bot={provider}")
    button = page.locator(".retell-widget__button" if line == "v1" else "retell-widget .launcher")
    button.hover()  # intent: the provider's script loads now, from its real URL
    host = "challenges.cloudflare.com" if provider == "turnstile" else "www.google.com"
    page.wait_for_function("name => !!window[name]", arg="turnstile" if provider == "turnstile" else "grecaptcha")
    assert any(url.startswith(f"https://{host}/") for url in scripts), scripts
    button.click()
    state = page.locator(".retell-widget" if line == "v1" else "retell-widget")
    until_state(state, "in-call")
    verified = sandbox.retell_records()["bot_verifications"][len(before["bot_verifications"]):]
    assert [(v["provider"], v["success"]) for v in verified] == [(provider, True)]
    known = {c["call_id"] for c in before["calls"]}
    (call,) = [c for c in sandbox.retell_records()["calls"] if c["call_id"] not in known]
    assert call["agent_id"] == client.agents[0]


@in_one_page("line", ["v1", "v2"])
def test_a_failed_bot_check_says_so_and_reaches_no_one(page: Page, sandbox, faults, line):
    client = sandbox.client("client-b")
    faults({"bot_check": {"client-b": "turnstile"}, "bot": "fail"})
    before = len(sandbox.retell_records()["requests"])
    page.goto(client.origin + f"/sandbox/{line}/?bot=turnstile")
    if line == "v1":
        page.locator(".retell-widget__button").click()
        status = page.locator(".retell-widget__status")
    else:
        host = page.locator("retell-widget")
        host.locator(".launcher").click()
        expect(host).to_have_attribute("data-error", "bot-check")
        status = host.locator(".status")
    expect(status).to_have_text("The security check didn't pass. Please try again.")
    assert len(sandbox.retell_records()["requests"]) == before


# (The reused-token fault is the proxy's replay refusal, tested in tests/proxy/test_botcheck.py.)
@in_one_page("fault, said", [("low-score", "The security check didn't pass."),
                             ("timeout", "The assistant is unavailable right now.")])
def test_bot_check_faults_each_end_in_a_clear_message_and_a_retry_that_works(page: Page, sandbox, faults, fault, said):
    client = sandbox.client("client-b")
    provider = "recaptcha" if fault == "low-score" else "turnstile"
    faults({"bot_check": {"client-b": provider}})
    page.goto(client.origin + f"/sandbox/v2/?bot={provider}")
    host = page.locator("retell-widget")
    faults({"bot_check": {"client-b": provider}, "bot": fault})
    host.locator(".launcher").click()
    until_state(host, "error", timeout=10000)
    expect(host.locator(".status")).to_contain_text(said)
    faults({"bot_check": {"client-b": provider}})
    host.locator(".primary").click()
    until_state(host, "in-call")
