"""v2 2.6.0's states as a visitor sees them, compared with approved screenshots (see
test_widget_screenshots.py for how to re-approve): every state at desktop and phone sizes, light
and dark; a minimised muted call against idle; a 20-turn transcript on a right-to-left page; 200%
zoom. The call is real (the sandbox's agent, Retell's SDK, WebRTC); two things are held still so
that images can be compared: the level meters read a fixed level, and the transcript of the long
conversation is fed through the SDK's own `update` event."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from harness import a11y
from tests.e2e.levels import STEADY_LEVELS
from tests.e2e.lines import until_state
from tests.e2e.test_widget_screenshots import changed_share, matches_approved
from tests.e2e.test_widget_v2 import visit

pytestmark = pytest.mark.e2e

CREATE = "**/api/create-web-call"
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
}
# The part of a desktop page the widget uses (bottom right); a phone's whole screen.
CLIP = {"desktop": {"x": 800, "y": 180, "width": 480, "height": 620}, "phone": None}
SDK = "/sdk/2.0.8/retell-web-client.js"
# Retell's SDK, each RetellWebClient it makes kept in window.__clients, so a test can emit the
# SDK's own `update` event.
KEEP_CLIENTS = ("import { RetellWebClient as Sdk } from %s;\n"
                "export class RetellWebClient extends Sdk {\n"
                "  constructor(...args) { super(...args); (window.__clients ||= []).push(this); }\n}\n")


def shoot(page: Page, size: str, name: str, scan: bool = False) -> bytes:
    """Approved-image checks of the page as it is now, light then dark (with ``scan``, an axe scan
    of each too: the states test_widget_v2's scan cannot hold still); returns the light image."""
    images = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        images[scheme] = page.screenshot(animations="disabled", caret="hide", clip=CLIP[size])
        matches_approved(images[scheme], f"2.6.0-{size}-{name}-{scheme}")
        if scan:
            results = a11y.scan(page, "retell-widget")
            assert results.violations_count == 0, f"{name}, {scheme}\n" + results.generate_report()
    page.emulate_media(color_scheme="light")
    return images["light"]


def listening(host) -> None:
    """Once the agent's greeting is whole and it listens: the panel is still."""
    expect(host.get_by_role("log")).to_have_text("Assistant:Hello! How can I help?")
    expect(host.locator(".talking")).to_have_text("Listening")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_state_light_and_dark(browser: Browser, sandbox, faults, subtests, size):
    context = browser.new_context(**SIZES[size])
    try:
        page = context.new_page()
        page.add_init_script(STEADY_LEVELS)
        page.mouse.move(0, 0)
        host = visit(page, sandbox, consent="look")
        with subtests.test(msg="idle"):
            idle = shoot(page, size, "idle")
        held: list[Route] = []
        page.route(CREATE, lambda route: held.append(route))
        host.locator(".launcher").click()
        until_state(host, "consent")
        with subtests.test(msg="consent"):
            shoot(page, size, "consent", scan=size == "desktop")
        with page.expect_request(CREATE):  # and held: connecting stays
            host.get_by_role("button", name="Agree and start").click()
        until_state(host, "connecting")
        with subtests.test(msg="connecting"):
            shoot(page, size, "connecting", scan=size == "desktop")
        held[0].continue_()
        page.unroute(CREATE)
        until_state(host, "in-call")
        listening(host)
        page.mouse.move(0, 0)
        with subtests.test(msg="in call"):
            shoot(page, size, "in-call")
        host.get_by_role("button", name="Mute").click()
        host.get_by_role("button", name="Minimize").click()
        page.mouse.move(0, 0)
        with subtests.test(msg="minimised and muted"):
            muted = shoot(page, size, "minimised-muted")
        # A live call never looks idle, however still the page is.
        assert changed_share(muted, idle) > 0.001
        host.get_by_role("button", name="Hang up").click()
        until_state(host, "ended")
        host.locator(".launcher").click()
        page.mouse.move(0, 0)
        with subtests.test(msg="ended"):
            shoot(page, size, "ended")
        faults({"create": {"status": 402}})
        host.get_by_role("button", name="Call again").click()
        until_state(host, "error")
        page.mouse.move(0, 0)
        with subtests.test(msg="error"):
            shoot(page, size, "error")
    finally:
        context.close()


def conversation(turns: int) -> list[dict]:
    """The agent's greeting and `turns` exchanges; one visitor line is Hebrew, one a long URL."""
    said = [{"role": "agent", "content": "Hello! How can I help?"}]
    for n in range(1, turns + 1):
        user = f"Question {n}: can I book a cleaning for Tuesday?"
        if n == 3:
            user = "אפשר לקבוע תור ליום שלישי?"
        if n == 5:
            user = "My booking is https://booking.example.com/appointments/2026/12/02/cleaning?ref=abcdefghijklmnopqrstuvwxyz"
        said += [{"role": "user", "content": user}, {"role": "agent", "content": f"Answer {n}: yes, Tuesday at nine works."}]
    return said


def test_a_20_turn_transcript_on_a_right_to_left_page(page: Page, sandbox):
    page.set_viewport_size(SIZES["desktop"]["viewport"])
    page.add_init_script(STEADY_LEVELS)
    sdk = sandbox.state.origins["cdn"] + SDK
    page.route(sdk, lambda route: route.fulfill(body=KEEP_CLIENTS % json.dumps(sdk + "?kept"), content_type="text/javascript",
                                                headers={"Access-Control-Allow-Origin": "*"}))
    host = visit(page, sandbox)
    page.evaluate("document.documentElement.dir = 'rtl'")
    host.locator(".launcher").click()
    until_state(host, "in-call")
    listening(host)
    # Fed as Retell sends it: after each utterance, a window of the last five.
    said = conversation(20)
    page.evaluate("""(said) => {
      const client = window.__clients.at(-1);
      for (let n = 1; n <= said.length; n++) client.emit('update', { event_type: 'update', transcript: said.slice(Math.max(0, n - 5), n) });
    }""", said)
    lines = host.locator(".log p")
    expect(lines).to_have_count(len(said))
    assert lines.evaluate_all("ps => ps.every(p => p.lastChild.dir === 'auto')")
    # The widget's English reads left to right on the right-to-left page; each line's words take
    # their own direction: Hebrew right to left.
    directions = lines.evaluate_all("ps => ps.map(p => getComputedStyle(p.lastChild).direction)")
    assert lines.evaluate_all("ps => ps.every(p => getComputedStyle(p).direction === 'ltr')")
    assert directions[0] == "ltr" and directions[5] == "rtl"
    panel = host.locator(".panel").bounding_box()
    widest = lines.evaluate_all("ps => Math.max(...ps.map(p => p.scrollWidth - p.clientWidth))")
    assert widest == 0  # the long URL wraps
    page.mouse.move(0, 0)
    matches_approved(page.screenshot(animations="disabled", caret="hide", clip=CLIP["desktop"]), "2.6.0-transcript-rtl")
    host.get_by_role("button", name="Expand the transcript").click()
    wide = host.locator(".panel").bounding_box()
    assert wide["width"] > panel["width"] and wide["height"] > panel["height"]
    page.mouse.move(0, 0)
    matches_approved(page.screenshot(animations="disabled", caret="hide"), "2.6.0-transcript-expanded")
    host.get_by_role("button", name="Hang up").click()
    until_state(host, "ended")


@pytest.mark.parametrize("size", list(SIZES))
def test_200_percent_zoom_keeps_everything_inside(browser: Browser, sandbox, size):
    """200% zoom halves the CSS viewport and doubles the pixels per CSS pixel."""
    viewport = SIZES[size]["viewport"]
    context = browser.new_context(**{**SIZES[size], "viewport": {k: v // 2 for k, v in viewport.items()}, "device_scale_factor": 2})
    try:
        page = context.new_page()
        page.add_init_script(STEADY_LEVELS)
        host = visit(page, sandbox)
        host.locator(".launcher").click()
        until_state(host, "in-call")
        listening(host)
        panel = host.locator(".panel").bounding_box()
        half = {k: v // 2 for k, v in viewport.items()}
        # Full screen below the breakpoint: every button inside the panel, the panel inside the screen.
        assert (panel["x"], panel["y"], panel["width"], panel["height"]) == (0, 0, half["width"], half["height"])
        for box in host.locator(".panel button").evaluate_all("bs => bs.filter(b => b.checkVisibility()).map(b => b.getBoundingClientRect().toJSON())"):
            assert box["left"] >= 0 and box["right"] <= half["width"] and box["bottom"] <= half["height"], box
        assert host.locator(".log").bounding_box()["height"] >= 48
        page.mouse.move(0, 0)
        matches_approved(page.screenshot(animations="disabled", caret="hide"), f"2.6.0-{size}-zoom-200")
        host.get_by_role("button", name="Hang up").click()
        until_state(host, "ended")
    finally:
        context.close()
