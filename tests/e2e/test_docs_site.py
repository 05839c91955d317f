"""The built docs site in Chromium, under the CSP its _headers give it: full-text search finds a
passage and goes to its section, navigation marks the page, a wide table stays in its column."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from starlette.types import ASGIApp, Receive, Scope, Send

from builder.__main__ import main
from builder.headers import DOCS_CSP
from harness.sites import static_site
from tests.conftest import running

pytestmark = pytest.mark.e2e

# Every CSP violation on the page, as "directive blocked-uri".
_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI));
"""


def _with_csp(app: ASGIApp) -> ASGIApp:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        async def with_header(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", DOCS_CSP.encode())]
            await send(message)

        await app(scope, receive, with_header)

    return serve


def test_search_finds_passages_under_the_docs_csp_and_tables_stay_in_their_column(site_factory, page: Page):
    root = site_factory()
    assert main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"),
                 "--out", str(root / "dist")]) == 0
    page.add_init_script(_VIOLATIONS)
    page.set_viewport_size({"width": 1280, "height": 800})
    with running(_with_csp(static_site(root / "dist" / "docs"))) as port:
        page.goto(f"http://127.0.0.1:{port}/deployment/")
        expect(page.locator('nav.pages a[aria-current="page"]')).to_have_text("Deployment")
        expect(page.locator("aside.toc a", has_text="Size budgets")).to_have_attribute("href", "#size-budgets")
        search = page.get_by_role("searchbox", name="Search the docs")
        results = page.locator(".search .results a")
        search.click()
        search.fill("size budgets")
        expect(results.first).to_contain_text("Deployment")
        expect(results.first).to_have_attribute("href", "../deployment/#size-budgets")
        # Words deep in a page's body, which the old index (600 characters a page) never held;
        # each result shows the passage with the words marked.
        for query, marked in (("turnstile", r"turnstile"), ("webhook signature", r"webhook|signature")):
            search.fill(query)
            expect(results.first.locator("p mark").first).to_have_text(re.compile(marked, re.I))
        search.fill("scaling out redis")
        expect(results.first).to_have_attribute("href", "../proxy/#scaling-out-with-redis")
        expect(results.first).to_contain_text("Proxy")
        search.press("Enter")
        expect(page).to_have_url(f"http://127.0.0.1:{port}/proxy/#scaling-out-with-redis")
        # At 1280 px the settings table stays in the content column, clear of the sticky TOC (long
        # values wrap; a table still too wide scrolls in its box).
        toc = page.locator("aside.toc").bounding_box()
        for element in ("main .table-scroll", "main .table-scroll table"):
            box = page.locator(element).first.bounding_box()
            assert box["x"] + box["width"] <= toc["x"], (element, box, toc)
        search = page.get_by_role("searchbox", name="Search the docs")
        search.fill("zzzz-no-such-word")
        expect(page.locator(".search .results li")).to_have_text("No results")
        assert page.evaluate("window.__violations") == []
