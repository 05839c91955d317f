"""How tests drive each widget line: v1 lives in the page's DOM, v2 in a shadow root."""

from __future__ import annotations

from dataclasses import dataclass


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
