"""``python -m builder serve`` in the browser: an edit reloads the open page; a broken one shows why."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.builder.test_serve import edit, serving, with_page

pytestmark = pytest.mark.e2e

# A rebuild of the small fixture site takes well under a second; this bounds a stuck watcher.
RELOAD_TIMEOUT_MS = 15_000


def test_an_edited_docs_page_reloads_in_the_open_browser(site_factory, page: Page):
    root = site_factory()
    doc = with_page(root)
    with serving(root) as serve:
        page.goto(f"{serve.url}/docs/live-reload/")
        expect(page.get_by_text("The marker says original.")).to_be_visible()

        edit(doc, "says original", "says edited")
        expect(page.get_by_text("The marker says edited.")).to_be_visible(timeout=RELOAD_TIMEOUT_MS)
        expect(page.locator("#__livereload-error")).to_have_count(0)


def test_a_broken_edit_shows_the_error_over_the_last_good_page(site_factory, page: Page):
    root = site_factory()
    doc = with_page(root)
    overlay = page.locator("#__livereload-error")
    with serving(root) as serve:
        page.goto(f"{serve.url}/docs/live-reload/")
        expect(page.get_by_text("The marker says original.")).to_be_visible()

        # The bad file first: whichever of the two writes a rebuild sees first, every rebuild from
        # now on fails, so the last good build stays the original (the other order let a loaded
        # machine's watcher build the edit alone, good, before the bad file came).
        (root / "site_src/docs/Bad Name.md").write_text("# Bad\n")
        edit(doc, "says original", "says broken")
        expect(overlay).to_contain_text("Bad Name.md:1: ", timeout=RELOAD_TIMEOUT_MS)
        expect(overlay).to_contain_text("Rebuild failed with 1 error(s)")
        # Underneath, and for anyone who loads it now, the page is still the last good build.
        expect(page.get_by_text("The marker says original.")).to_be_attached()
        assert "The marker says original." in httpx.get(f"{serve.url}/docs/live-reload/").text
        page.reload()
        expect(overlay).to_contain_text("Bad Name.md:1: ")
        expect(page.get_by_text("The marker says original.")).to_be_attached()

        (root / "site_src/docs/Bad Name.md").unlink()
        expect(page.get_by_text("The marker says broken.")).to_be_visible(timeout=RELOAD_TIMEOUT_MS)
        expect(overlay).to_have_count(0)
