"""How tests drive each widget line: v1 lives in the page's DOM, v2 in a shadow root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    root: str
    start: str
    hang_up: str
    transcript: str | None


V1 = Line(root=".retell-widget", start=".retell-widget__button", hang_up=".retell-widget__hangup", transcript=None)
V2 = Line(root="retell-widget", start=".launcher", hang_up="role=button[name='Hang up']", transcript="role=log[name='Transcript']")
LINES = {"v1": V1, "v2": V2, "latest": V2}
