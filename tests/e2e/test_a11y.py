"""harness.a11y, the axe scan every accessibility test and ``harness check`` run: it finds a
violation, only in the element it is given, and a second scan of the page reuses its axe."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from harness import a11y

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html><html lang="en"><title>a11y</title>
<div id="widget"><button id="unnamed"></button><button>One</button><button>Two</button></div>
<div id="elsewhere"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></div>"""


def test_a_scan_reports_the_elements_violations_and_injects_axe_once(page: Page):
    page.set_content(PAGE)
    found = a11y.scan(page, "#widget")
    assert [v["id"] for v in found.response["violations"]] == ["button-name"]  # not the image elsewhere
    # Violations only: a passing rule names at most one node (axe's resultTypes).
    assert all(len(rule["nodes"]) <= 1 for rule in found.response["passes"])
    page.evaluate("window.axe.__marked = true")
    page.eval_on_selector("#unnamed", "b => b.textContent = 'Call'")
    assert a11y.scan(page, "#widget").violations_count == 0
    assert page.evaluate("window.axe.__marked") is True  # the same axe, not injected again
    assert [v["id"] for v in a11y.scan(page, "#elsewhere").response["violations"]] == ["image-alt"]
