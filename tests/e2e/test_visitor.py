"""v2 2.6.0 as a visitor meets it: the launcher's states, live levels, the silence warning, the
keyboard, and what happens after a call (issue 23). Screenshots are in test_visitor_screenshots.py."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from playwright.sync_api import BrowserType, Page, expect

from tests.e2e.lines import until_state
from tests.e2e.test_widget_v2 import token_requests, visit

pytestmark = pytest.mark.e2e

# Records every AudioContext the page makes, so a test can see that the meters' one is closed.
CONTEXTS = """
(() => {
  const Native = window.AudioContext;
  window.__contexts = [];
  window.AudioContext = class extends Native { constructor(...a) { super(...a); window.__contexts.push(this); } };
})();
"""
# The levels the launcher and the panel draw, sampled as the widget sets them: resolves with the
# highest of each side seen within `ms`.
PEAKS = """(ms) => new Promise((resolve) => {
  const root = document.querySelector('retell-widget').shadowRoot.querySelector('.root');
  const peak = { agent: 0, you: 0 };
  const read = () => {
    peak.agent = Math.max(peak.agent, Number(root.style.getPropertyValue('--la') || 0));
    peak.you = Math.max(peak.you, Number(root.style.getPropertyValue('--ly') || 0));
  };
  const observer = new MutationObserver(read);
  observer.observe(root, { attributes: true, attributeFilter: ['style'] });
  setTimeout(() => { observer.disconnect(); read(); resolve(peak); }, ms);
})"""


def test_after_a_call_the_launcher_opens_the_panel_and_never_redials(page: Page, sandbox):
    host = visit(page, sandbox)
    launcher = host.locator(".launcher")
    launcher.click()
    until_state(host, "in-call")
    expect(host.get_by_role("log", name="Transcript")).to_contain_text("Hello! How can I help?")
    host.get_by_role("button", name="Hang up").click()
    until_state(host, "ended")
    expect(host.locator(".status")).to_have_text("Call ended.")  # the visitor hung up
    host.get_by_role("button", name="Minimize").click()
    expect(host.get_by_role("dialog")).to_be_hidden()

    before = sandbox.retell_records()
    launcher.click()
    dialog = host.get_by_role("dialog", name="Voice assistant")
    expect(dialog).to_be_visible()
    expect(host.get_by_role("log", name="Transcript")).to_contain_text("Hello! How can I help?")
    expect(host.get_by_role("button", name="Call again")).to_be_visible()
    assert host.get_attribute("data-state") == "ended"
    launcher.click()  # and again: it hides the panel, still without calling
    expect(dialog).to_be_hidden()
    assert token_requests(sandbox, before) == 0
    # The launcher's name never changed; its description tells the state.
    expect(launcher).to_have_accessible_name("Talk to our assistant")
    expect(launcher).to_have_accessible_description("Call ended.")


def test_levels_follow_both_sides_and_stop_with_the_call(page: Page, sandbox):
    page.add_init_script(CONTEXTS)
    host = visit(page, sandbox)
    host.locator(".launcher").click()
    until_state(host, "in-call")
    # While the agent greets (sandbox speech over WebRTC) and the fake microphone beeps.
    expect(host.locator(".talking")).to_have_text("Assistant is speaking")
    peaks = page.evaluate(PEAKS, 1500)
    assert peaks["agent"] >= 0.3 and peaks["you"] >= 0.3, peaks
    host.get_by_role("button", name="Hang up").click()
    until_state(host, "ended")
    # Nothing is read any more: the meters' audio context is closed and both levels are zero.
    page.wait_for_function("window.__contexts.length > 0 && window.__contexts.every(c => c.state === 'closed')")
    style = host.locator(".root").evaluate("r => [r.style.getPropertyValue('--la'), r.style.getPropertyValue('--ly')]")
    assert style == ["0", "0"]


def silent_wav(path: Path) -> Path:
    """Two seconds of digital silence: what a dead input or a hardware mute switch sends."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(b"\0\0" * 96_000)
    return path


def test_a_silent_microphone_is_told(browser_type: BrowserType, browser_type_launch_args, sandbox, tmp_path):
    # Chromium reads the fake microphone's file once per launch: this needs a browser of its own.
    wav = silent_wav(tmp_path / "silence.wav")
    browser = browser_type.launch(**{**browser_type_launch_args, "args": [
        *browser_type_launch_args["args"], f"--use-file-for-fake-audio-capture={wav}"]})
    try:
        told_silent(browser.new_page(), sandbox)
    finally:
        browser.close()


def told_silent(page: Page, sandbox) -> None:
    host = visit(page, sandbox)
    host.locator(".launcher").click()
    until_state(host, "in-call")
    status = host.locator(".status")
    expect(status).to_have_text("We can't hear you. Check that your microphone is on and not muted.", timeout=15_000)
    expect(host.locator("[role=status]")).to_have_text("We can't hear you. Check that your microphone is on and not muted.")
    # Muted is not silent: the warning goes, and the visitor is told they are muted instead.
    host.get_by_role("button", name="Mute").click()
    expect(status).to_have_text("In call")
    expect(host.locator(".talking")).to_have_text("Your microphone is muted")
    host.get_by_role("button", name="Hang up").click()
    until_state(host, "ended")


def test_keyboard_enter_escape_and_focus(page: Page, sandbox):
    host = visit(page, sandbox)
    launcher = host.locator(".launcher")
    page.keyboard.press("Tab")
    expect(launcher).to_be_focused()
    assert launcher.evaluate("b => getComputedStyle(b).outlineStyle") == "solid"  # visible focus
    page.keyboard.press("Enter")
    dialog = host.get_by_role("dialog", name="Voice assistant")
    expect(dialog).to_be_focused()  # the call starts and the keyboard is in the panel
    until_state(host, "in-call")
    expect(host.get_by_role("heading", name="Voice assistant")).to_be_visible()
    # The greeting has begun, so the ended call below has a transcript for the panel to keep (a
    # quick browser could hang up before the agent's first words).
    expect(host.locator(".log")).to_contain_text("Hello!")
    page.keyboard.press("Tab")
    expect(host.get_by_role("button", name="Expand the transcript")).to_be_focused()
    page.keyboard.press("Enter")
    expect(host.get_by_role("button", name="Shrink the transcript")).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")  # from inside the panel: minimised, the focus back on the launcher
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    # Minimised, the call's buttons sit beside the launcher.
    page.keyboard.press("Shift+Tab")
    expect(host.get_by_role("button", name="Hang up")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    mute = host.get_by_role("button", name="Mute")
    expect(mute).to_be_focused()
    page.keyboard.press("Space")
    expect(host).to_have_attribute("data-muted", "")
    expect(launcher).to_have_accessible_description("Your microphone is muted")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")  # in a call the launcher opens the panel
    expect(dialog).to_be_focused()
    launcher.focus()
    page.keyboard.press("Escape")  # Escape on the launcher minimises too
    expect(dialog).to_be_hidden()
    page.keyboard.press("Shift+Tab")
    expect(host.get_by_role("button", name="Hang up")).to_be_focused()
    page.keyboard.press("Enter")
    until_state(host, "ended")
    expect(launcher).to_be_focused()  # the button went with the call: focus moved, not lost
    page.keyboard.press("Enter")
    expect(dialog).to_be_focused()
    # The panel's order: its tools, the transcript of the call that ended, then "Call again".
    for name in ("button:Shrink the transcript", "button:Minimize", "log:Transcript", "button:Call again"):
        role, _, label = name.partition(":")
        page.keyboard.press("Tab")
        expect(host.get_by_role(role, name=label)).to_be_focused()
