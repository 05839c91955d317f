"""The built docs site in Chromium: search finds a heading, navigation marks the page, demo page runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from builder.__main__ import main
from harness.sites import static_site
from tests.conftest import running

pytestmark = pytest.mark.e2e


def test_search_finds_a_section_and_goes_there(site_factory, page: Page):
    root = site_factory()
    assert main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"),
                 "--out", str(root / "dist")]) == 0
    with running(static_site(root / "dist" / "docs")) as port:
        page.goto(f"http://127.0.0.1:{port}/deployment/")
        expect(page.locator('nav.pages a[aria-current="page"]')).to_have_text("Deployment")
        expect(page.locator("aside.toc a", has_text="Size budgets")).to_have_attribute("href", "#size-budgets")
        search = page.get_by_role("searchbox", name="Search the docs")
        search.click()
        search.fill("size budgets")
        results = page.locator(".search .results a")
        expect(results.first).to_contain_text("Deployment")
        expect(results.first).to_have_attribute("href", "../deployment/#size-budgets")
        search.fill("scaling out redis")
        expect(results.first).to_contain_text("Proxy")
        search.press("Enter")
        expect(page).to_have_url(f"http://127.0.0.1:{port}/proxy/#scaling-out-with-redis")
        search = page.get_by_role("searchbox", name="Search the docs")
        search.fill("zzzz-no-such-word")
        expect(page.locator(".search .results li")).to_have_text("No results")
