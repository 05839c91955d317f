"""Both lines' newest releases (v1 1.4.0, v2 2.5.0): dynamic variables and the consent hash in the
create request, the consent step before the microphone, the proxy's refusals of either, and v1's
languages. What the browser sends is read from the request itself, so these tests do not depend
on what the sandbox's proxy does with the new fields."""

from __future__ import annotations

import hashlib
import json

import pytest
from playwright.sync_api import Page, Route, expect

from harness import a11y
from harness.pages import CONSENT_URL, consent_text
from tests.e2e.lines import LINES, until_state
from tests.e2e.test_widget_v2 import instrument, live_tracks, log
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e

CREATE = "**/api/create-web-call"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def open_page(page: Page, sandbox, folder: str, **query: str):
    instrument(page)
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    page.goto(f"{sandbox.client('client-a').origin}/sandbox/{folder}/{suffix}")
    root = page.locator(LINES[folder].root)
    until_state(root, "idle")
    return root


def creates(page: Page) -> list[dict]:
    """Every create request the page sends from now on, as the JSON body it sent."""
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(r.post_data_json) if r.method == "POST" and r.url.endswith("/api/create-web-call") else None)
    return bodies


def call_and_hang_up(root, folder: str) -> None:
    until_state(root, "in-call")
    root.locator(LINES[folder].hang_up).click()
    until_state(root, "ended")


def agree_button(root, folder: str):
    return root.locator(".retell-widget__agree") if folder == "v1" else root.get_by_role("button", name="Agree and start")


@in_one_page("folder, embed", [("v1", None), ("v2", None), ("v2", "element")])
def test_each_line_sends_the_pages_variables_and_nothing_new_without_them(page: Page, sandbox, folder, embed):
    agent = sandbox.client("client-a").agents[0]
    bodies = creates(page)
    query = {"embed": embed} if embed else {}
    root = open_page(page, sandbox, folder, vars="Ada", **query)
    root.locator(LINES[folder].start).click()
    # client-a lists no page variables: the real proxy refuses the call (variable_not_allowed).
    until_state(root, "error")
    expect(root).to_contain_text("The call couldn't be started.")
    if folder == "v2":
        expect(root).to_have_attribute("data-error", "misconfigured")
    root = open_page(page, sandbox, folder, **query)  # a page with none sends what older releases sent
    root.locator(LINES[folder].start).click()
    call_and_hang_up(root, folder)
    assert bodies == [{"agent_id": agent, "retell_llm_dynamic_variables": {"customer_name": "Ada"}}, {"agent_id": agent}]


@pytest.mark.parametrize("folder", ["v1", "v2"])
def test_consent_comes_before_the_microphone_is_remembered_and_asks_again_for_a_new_text(page: Page, sandbox, folder):
    bodies = creates(page)
    root = open_page(page, sandbox, folder, consent="a")
    root.locator(LINES[folder].start).click()
    until_state(root, "consent")
    step = root.locator(".retell-widget__consent" if folder == "v1" else ".consent")
    expect(step).to_contain_text(consent_text("a"))
    expect(step).to_be_focused()  # announced and read first
    link = step.get_by_role("link")
    assert (link.get_attribute("href"), link.get_attribute("target"), link.get_attribute("rel")) == (CONSENT_URL, "_blank", "noopener")
    assert "mic" not in log(page)["order"] and bodies == []  # no microphone prompt, no token before agreement
    # Keyboard: Tab reaches the link, then Agree and start.
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    page.keyboard.press("Tab")
    expect(agree_button(root, folder)).to_be_focused()
    page.keyboard.press("Enter")
    call_and_hang_up(root, folder)
    assert [b.get("consent_hash") for b in bodies] == [sha256(consent_text("a"))]
    assert log(page)["order"][0] == "mic"

    # Remembered across a reload: the next click goes straight to the microphone.
    root = open_page(page, sandbox, folder, consent="a")
    root.locator(LINES[folder].start).click()
    call_and_hang_up(root, folder)
    assert bodies[-1]["consent_hash"] == sha256(consent_text("a"))

    # A changed text asks again; Cancel goes back to idle without a request.
    root = open_page(page, sandbox, folder, consent="b")
    root.locator(LINES[folder].start).click()
    until_state(root, "consent")
    expect(step).to_contain_text(consent_text("b"))
    root.locator(".retell-widget__cancel" if folder == "v1" else "role=button[name='Cancel']").click()
    until_state(root, "idle")
    assert len(bodies) == 2 and live_tracks(page) == 0


@in_one_page("folder", ["v1", "v2"])
def test_a_stale_consent_is_forgotten_and_asked_again(page: Page, sandbox, folder):
    key = "retell-widget:consent:" + sha256(consent_text("a"))
    root = open_page(page, sandbox, folder, consent="a")
    page.evaluate("k => localStorage.setItem(k, String(Date.now()))", key)  # agreed earlier
    refused = []

    def stale(route: Route) -> None:
        refused.append(route.request.post_data_json)
        route.fulfill(status=403, json={"error": "consent_required", "message": "agree to the current text"},
                      headers={"Access-Control-Allow-Origin": "*"})

    page.route(CREATE, stale)
    root.locator(LINES[folder].start).click()
    until_state(root, "consent")  # asked again, after the proxy refused the stored agreement
    assert [b["consent_hash"] for b in refused] == [sha256(consent_text("a"))]
    assert page.evaluate("k => localStorage.getItem(k)", key) is None
    assert live_tracks(page) == 0
    page.unroute(CREATE)
    agree_button(root, folder).click()
    call_and_hang_up(root, folder)
    assert page.evaluate("k => localStorage.getItem(k)", key) is not None


@in_one_page("folder", ["v1", "v2"])
def test_a_variable_the_registry_does_not_allow_is_a_configuration_error(page: Page, sandbox, folder):
    root = open_page(page, sandbox, folder, vars="Ada")
    page.route(CREATE, lambda route: route.fulfill(
        status=400, json={"error": "variable_not_allowed", "message": "customer_name is not allowed"},
        headers={"Access-Control-Allow-Origin": "*"}))
    root.locator(LINES[folder].start).click()
    until_state(root, "error")
    if folder == "v2":
        expect(root).to_have_attribute("data-error", "misconfigured")
    expect(root.locator(LINES[folder].status)).to_have_text("The call couldn't be started.")
    assert live_tracks(page) == 0
    page.unroute(CREATE)


def test_v1_speaks_the_language_of_its_option(page: Page, sandbox):
    page.add_init_script("window.__micMode = 'denied';")
    root = open_page(page, sandbox, "v1", lang="de")
    expect(root.locator(".retell-widget__button")).to_have_accessible_name("Mit unserem Assistenten sprechen")
    root.locator(".retell-widget__button").click()
    until_state(root, "error")
    expect(root.locator(".retell-widget__status")).to_have_text(
        "Der Mikrofonzugriff ist blockiert. Erlauben Sie das Mikrofon für diese Website im Browser und versuchen Sie es erneut.")


@in_one_page("folder", ["v1", "v2"])
def test_bad_variables_or_consent_throw_errors_that_name_the_option(page: Page, sandbox, folder):
    open_page(page, sandbox, folder)
    client = sandbox.client("client-a")
    errors = page.evaluate("""([agentId, proxyEndpoint]) => [
        {dynamicVariables: {n: 1}}, {dynamicVariables: 'x'}, {consent: {url: 'https://a.example/'}},
        {consent: {text: 'ok', url: 'javascript:alert(1)'}},
      ].map((extra) => {
        try { new RetellWidget({agentId, proxyEndpoint, ...extra}).destroy(); return 'no error'; }
        catch (e) { return e.name + ': ' + e.message; }
      })""", [client.agents[0], sandbox.state.proxy_endpoint])
    assert [e.split(":")[0] for e in errors] == ["TypeError", "TypeError", "TypeError", "RangeError"], errors
    assert all('"dynamicVariables"' in e for e in errors[:2]) and all('"consent"' in e for e in errors[2:]), errors
    if folder == "v2":  # the attribute, as JSON: reported from connectedCallback
        message = page.evaluate("""() => new Promise((resolve) => {
          window.addEventListener('error', (e) => { e.preventDefault(); resolve(e.message); }, { once: true });
          const el = document.createElement('retell-widget');
          el.setAttribute('agent-id', 'agent_x');
          el.setAttribute('proxy-endpoint', 'https://proxy.example/api/create-web-call');
          el.setAttribute('dynamic-variables', '{not json');
          document.body.append(el);
        })""")
        assert "TypeError" in message and "dynamic-variables" in message, message


@in_one_page("folder, theme", [("v1", "purple"), ("v1", "dark"), ("v2", "purple"), ("v2", "dark")])
def test_axe_finds_no_violations_in_the_consent_step(page: Page, sandbox, folder, theme):
    root = open_page(page, sandbox, folder, consent="a", theme=theme)
    root.locator(LINES[folder].start).click()
    until_state(root, "consent")
    results = a11y.scan(page, LINES[folder].root)
    assert results.violations_count == 0, results.generate_report()


@in_one_page("folder", ["v1.3.0", "v2.4.0"])
def test_the_archived_releases_still_call_and_send_only_the_agent(page: Page, sandbox, folder):
    """The last releases before these fields: frozen, loaded with SRI, their create body unchanged."""
    bodies = creates(page)
    line = LINES[folder.split(".")[0]]
    instrument(page)
    page.goto(f"{sandbox.client('client-a').origin}/sandbox/{folder}/?vars=Ada&consent=a")  # options they don't know
    root = page.locator(line.root)
    until_state(root, "idle")
    assert page.locator("script[integrity]").count() == 1
    root.locator(line.start).click()
    until_state(root, "in-call")  # no consent step
    root.locator(line.hang_up).click()
    until_state(root, "ended")
    assert bodies == [{"agent_id": sandbox.client("client-a").agents[0]}]


@in_one_page("folder, lang, agree", [("v1", "es", "Aceptar e iniciar"), ("v2", "de", "Zustimmen und starten")])
def test_the_consent_step_speaks_the_widgets_language(page: Page, sandbox, folder, lang, agree):
    root = open_page(page, sandbox, folder, consent="a", lang=lang)
    root.locator(LINES[folder].start).click()
    until_state(root, "consent")
    expect(root.get_by_role("button", name=agree)).to_be_visible()
