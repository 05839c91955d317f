"""The widget on a client page with a strict Content-Security-Policy (no unsafe-inline/eval)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from builder.sdk import MEDIA_ORIGINS
from tests.e2e.lines import until_state

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "site_src/docs/widget-reference.md"
# Collect every CSP violation the page reports, from the first script on.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.mark.parametrize("folder", ["v1"])
def test_a_call_under_a_strict_csp_violates_nothing(page: Page, sandbox, folder):
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(sandbox.state.origins["csp"] + f"/sandbox/{folder}/")
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    # The policy the docs give, word for word: scripts from the CDN, connections to the proxy
    # and Retell's media host.
    media = " ".join(MEDIA_ORIGINS)
    assert f"connect-src {sandbox.state.proxy} {media};" in policy
    assert f"connect-src https://api.retell-widget.example {media};" in DOCS.read_text()
    widget = page.locator(".retell-widget")
    page.locator(".retell-widget__button").click()
    until_state(widget, "in-call")
    page.locator(".retell-widget__hangup").click()
    until_state(widget, "ended")
    assert page.evaluate("window.__violations") == []


def test_the_policy_really_blocks_inline_script(page: Page, sandbox):
    # Guard for the test above: a script without the nonce must be refused on this origin.
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(sandbox.state.origins["csp"] + "/sandbox/v1/")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__ran = true'; document.body.append(s); }""")
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src") for v in page.evaluate("window.__violations"))


def test_without_retells_media_host_in_connect_src_the_call_cannot_start(page: Page, sandbox):
    # Guard for the first test: the media host in connect-src is what lets the call through.
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(sandbox.state.origins["csp"] + "/sandbox/v2/?media=blocked")
    host = page.locator("retell-widget")
    host.locator(".launcher").click()
    expect(host).to_have_attribute("data-error", "start-failed")
    violations = page.evaluate("window.__violations")
    assert any(v.startswith("connect-src") and "retell-ai-4ihahnq7.livekit.cloud" in v for v in violations), violations
