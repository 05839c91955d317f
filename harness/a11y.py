"""axe-core scans of the widget, one definition for the e2e tests and ``python -m harness check``:
WCAG 2.0 and 2.1, levels A and AA, run on the widget's element only.

axe-core (about 550 KB of script, from axe-playwright-python) is injected once per page load,
not once per scan, and a scan collects the failing rules' nodes only: what it reports is what
fails, and a page scanned in several states parses axe once.
"""

from __future__ import annotations

from axe_playwright_python.base import AXE_SCRIPT, AxeResults

OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],  # passing rules are not given their nodes
}
_LOADED = "() => typeof window.axe === 'object'"
_RUN = "([context, options]) => axe.run(context, options)"


def scan(page, context: str) -> AxeResults:  # noqa: ANN001 - a sync Playwright page
    """The axe scan of ``context`` (a selector) on ``page`` as it is now."""
    if not page.evaluate(_LOADED):
        page.evaluate(AXE_SCRIPT)
    return AxeResults(page.evaluate(_RUN, [context, OPTIONS]))


async def scan_async(page, context: str) -> AxeResults:  # noqa: ANN001 - an async Playwright page
    """``scan``, for an async Playwright page."""
    if not await page.evaluate(_LOADED):
        await page.evaluate(AXE_SCRIPT)
    return AxeResults(await page.evaluate(_RUN, [context, OPTIONS]))
