"""How tests drive each widget line: v1 lives in the page's DOM, v2 in a shadow root."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Locator, expect


@dataclass(frozen=True)
class Line:
    root: str
    start: str
    hang_up: str
    transcript: str | None
    status: str  # the visible message
    retry: str  # what a visitor presses to try again after an error


V1 = Line(root=".retell-widget", start=".retell-widget__button", hang_up=".retell-widget__hangup", transcript=None,
          status=".retell-widget__status", retry=".retell-widget__button")
V2 = Line(root="retell-widget", start=".launcher", hang_up="role=button[name='Hang up']", transcript="role=log[name='Transcript']",
          status=".status", retry="role=button[name='Try again']")
LINES = {"v1": V1, "v2": V2, "latest": V2}


# Resolves true once the element's data-state is the one wanted, woken by the attribute's own
# change; false after the timeout.
_UNTIL_STATE = """(el, [want, ms]) => new Promise((resolve) => {
  if (el.getAttribute('data-state') === want) return resolve(true);
  const observer = new MutationObserver(() => {
    if (el.getAttribute('data-state') === want) { clearTimeout(timer); observer.disconnect(); resolve(true); }
  });
  const timer = setTimeout(() => { observer.disconnect(); resolve(false); }, ms);
  observer.observe(el, { attributes: true, attributeFilter: ['data-state'] });
})"""


def until_state(root: Locator, state: str, timeout: float = 5_000) -> None:
    """Waits until the widget ``root`` (v1's element or v2's host) is in ``state``, like
    ``expect(root).to_have_attribute("data-state", state)`` but woken by the change itself:
    Playwright's expect polls every 500 ms after its first quarter second, which every wait on a
    real call (about a second to connect) paid, 0.25 s on average. On a timeout the same expect
    fails with its full report."""
    if not root.evaluate(_UNTIL_STATE, [state, timeout]):
        expect(root).to_have_attribute("data-state", state, timeout=1)
