"""The scenario matrix: every widget line, and latest, on more than one client site.

Each cell makes a real call: the widget gets a token from the proxy for that client's agent,
the transcript appears (v2 shows it; v1 has no transcript view), and hanging up ends the call
at the fake Retell.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.lines import LINES, until_state
from tests.e2e.variants import in_one_page

pytestmark = pytest.mark.e2e


# Every cell is a fresh visit of its own page; they share one browser page (tests/e2e/variants.py).
@in_one_page("cell", [f"{folder}-{client}" for folder in LINES for client in ("client-a", "client-b")])
def test_a_call_on_every_line_and_client(page: Page, sandbox, cell):
    folder, _, client_id = cell.partition("-")
    line, client = LINES[folder], sandbox.client(client_id)
    before = sandbox.retell_records()
    page.goto(f"{client.origin}/sandbox/{folder}/")
    widget: Locator = page.locator(line.root)
    until_state(widget, "idle")

    widget.locator(line.start).click()
    until_state(widget, "in-call")
    if line.transcript:
        expect(widget.locator(line.transcript)).to_contain_text("Hello!")  # the greeting, as it starts

    widget.locator(line.hang_up).click()
    until_state(widget, "ended")
    calls = sandbox.ended_calls(before)
    assert [(c["agent_id"], c["call_status"], c["disconnection_reason"]) for c in calls] == [
        (client.agents[0], "ended", "user_hangup")]
