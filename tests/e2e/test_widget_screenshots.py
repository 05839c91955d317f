"""Widget v2's themes and corners compared with approved screenshots kept in tests/e2e/screenshots/.

Re-approve after an intended visual change, then review the new images in the diff:

    RETELL_APPROVE_SCREENSHOTS=1 python -m pytest tests/e2e/test_widget_screenshots.py

Chromium renders the same fonts the same way on one machine; another machine (other fonts,
other Chromium) may need its own approval. The tolerance absorbs anti-aliasing noise only: at most
0.5% of pixels may differ, each by any amount, and no image may change size.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Page, expect

from registry import POSITIONS, THEMES
from tests.e2e.lines import until_state
from tests.e2e.levels import STEADY_LEVELS
from tests.e2e.test_widget_v2 import visit
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e

APPROVED = Path(__file__).parent / "screenshots"
MAX_DIFFERENT_PIXELS = 0.005
CHANNEL_NOISE = 16  # a channel difference up to this is anti-aliasing, not a change
# Taller than the panel's full-screen breakpoint (520 px), wider than the launcher's (480 px).
VIEWPORT = {"width": 560, "height": 600}


def matches_approved(png: bytes, name: str) -> None:
    path = APPROVED / f"{name}.png"
    if os.environ.get("RETELL_APPROVE_SCREENSHOTS") == "1":
        APPROVED.mkdir(exist_ok=True)
        path.write_bytes(png)
        return
    assert path.exists(), f"no approved image {path}; run with RETELL_APPROVE_SCREENSHOTS=1 and review it"
    actual, approved = Image.open(io.BytesIO(png)).convert("RGB"), Image.open(path).convert("RGB")
    assert actual.size == approved.size, f"{name}: size {actual.size} != approved {approved.size}"
    changed = changed_share(actual, approved)
    if changed > MAX_DIFFERENT_PIXELS:
        (APPROVED / f"{name}.actual.png").write_bytes(png)  # untracked; look at it next to the approved one
        pytest.fail(f"{name}: {changed:.2%} of pixels differ from the approved image (allowed "
                    f"{MAX_DIFFERENT_PIXELS:.1%}); see {name}.actual.png")


def changed_share(a: Image.Image | bytes, b: Image.Image | bytes) -> float:
    """The share of pixels that differ beyond anti-aliasing noise: per pixel, the largest channel
    difference must exceed CHANNEL_NOISE."""
    a, b = (Image.open(io.BytesIO(x)).convert("RGB") if isinstance(x, bytes) else x for x in (a, b))
    r, g, b_ = ImageChops.difference(a, b).split()
    largest = ImageChops.lighter(ImageChops.lighter(r, g), b_)
    return sum(largest.histogram()[CHANNEL_NOISE + 1:]) / (a.size[0] * a.size[1])


# One call shows every theme, and one page visits every corner (tests/e2e/variants.py).
def test_every_theme_in_call(page: Page, sandbox, subtests):
    """A theme is the host's ``theme`` attribute (the option sets it, as the first visit shows), so
    one call is restyled theme by theme, each screenshot judged on its own."""
    page.set_viewport_size(VIEWPORT)
    page.add_init_script(STEADY_LEVELS)  # the level meters hold still
    first = next(iter(THEMES))
    host = visit(page, sandbox, theme=first)
    assert host.get_attribute("theme") == first
    host.locator(".launcher").click()
    until_state(host, "in-call")
    # Once the agent has said its greeting: the transcript is whole (it grows word by word while
    # spoken, as Retell's does) and the panel is still, listening.
    expect(host.get_by_role("log")).to_have_text("Assistant:Hello! How can I help?")
    expect(host.locator(".talking")).to_have_text("Listening")
    page.mouse.move(0, 0)
    try:
        for theme in THEMES:
            with subtests.test(msg=f"theme={theme}"):
                host.evaluate("(el, theme) => el.setAttribute('theme', theme)", theme)
                matches_approved(page.screenshot(animations="disabled", caret="hide"), f"theme-{theme}")
    finally:
        host.get_by_role("button", name="Hang up").click()
        until_state(host, "ended")


@in_one_page("position", POSITIONS)
def test_every_corner_idle(page: Page, sandbox, position):
    page.set_viewport_size(VIEWPORT)
    visit(page, sandbox, position=position)
    matches_approved(page.screenshot(animations="disabled", caret="hide"), f"position-{position}")


def test_position_open_at_the_top_puts_the_panel_below(page: Page, sandbox):
    page.set_viewport_size(VIEWPORT)
    host = visit(page, sandbox, position="top-left", theme="teal")
    page.evaluate("document.querySelector('retell-widget').open()")
    expect(host.get_by_role("dialog")).to_be_visible()
    launcher, panel = host.locator(".launcher").bounding_box(), host.locator(".panel").bounding_box()
    assert panel["y"] > launcher["y"] + launcher["height"]
    page.mouse.move(0, 0)
    matches_approved(page.screenshot(animations="disabled", caret="hide"), "position-top-left-open")
