"""``python -m builder serve`` in the browser: an edit reloads the open page; a broken one shows why."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.builder.test_serve import edit, serving

pytestmark = pytest.mark.e2e

# A rebuild of the small fixture site takes well under a second; this bounds a stuck watcher.
RELOAD_TIMEOUT_MS = 15_000


def test_an_edited_docs_page_reloads_in_the_open_browser(site_factory, page: Page):
    root = site_factory()
    with serving(root) as serve:
        page.goto(f"{serve.url}/docs/getting-started/")
        expect(page.get_by_text("Three parts work together")).to_be_visible()

        edit(root / "site_src/docs/getting-started.md", "Three parts work together", "Three parts (edited) work together")
        expect(page.get_by_text("Three parts (edited) work together")).to_be_visible(timeout=RELOAD_TIMEOUT_MS)
        expect(page.locator("#__livereload-error")).to_have_count(0)


def test_a_broken_edit_shows_the_error_over_the_last_good_page(site_factory, page: Page):
    root = site_factory()
    doc = root / "site_src/docs/getting-started.md"
    overlay = page.locator("#__livereload-error")
    with serving(root) as serve:
        page.goto(f"{serve.url}/docs/getting-started/")
        expect(page.get_by_text("Three parts work together")).to_be_visible()

        edit(doc, "Three parts work together", "Three parts (broken) work together")
        (root / "site_src/docs/Bad Name.md").write_text("# Bad\n")
        expect(overlay).to_contain_text("Bad Name.md:1: page file names are lower-case", timeout=RELOAD_TIMEOUT_MS)
        expect(overlay).to_contain_text("Rebuild failed with 1 error(s)")
        # Underneath, and for anyone who loads it now, the page is still the last good build.
        expect(page.get_by_text("Three parts work together")).to_be_attached()
        assert "Three parts work together" in httpx.get(f"{serve.url}/docs/getting-started/").text
        page.reload()
        expect(overlay).to_contain_text("page file names are lower-case")
        expect(page.get_by_text("Three parts work together")).to_be_attached()

        (root / "site_src/docs/Bad Name.md").unlink()
        expect(page.get_by_text("Three parts (broken) work together")).to_be_visible(timeout=RELOAD_TIMEOUT_MS)
        expect(overlay).to_have_count(0)
