"""The scenario matrix: every widget line, and latest, on more than one client site.

Each cell makes a real call: the widget gets a token from the proxy for that client's agent,
the transcript appears (v2 shows it; v1 has no transcript view), and hanging up ends the call
at the fake Retell.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.lines import LINES, until_state

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("client_id", ["client-a", "client-b"])
@pytest.mark.parametrize("folder", list(LINES))
def test_a_call_on_every_line_and_client(page: Page, sandbox, folder, client_id):
    line, client = LINES[folder], sandbox.client(client_id)
    before = sandbox.retell_records()
    page.goto(f"{client['origin']}/sandbox/{folder}/")
    widget: Locator = page.locator(line.root)
    until_state(widget, "idle")

    widget.locator(line.start).click()
    until_state(widget, "in-call")
    if line.transcript:
        expect(widget.locator(line.transcript)).to_contain_text("How can I help you today?")

    widget.locator(line.hang_up).click()
    until_state(widget, "ended")
    calls = sandbox.ended_calls(before)
    assert [(c["agent_id"], c["call_status"], c["disconnection_reason"]) for c in calls] == [
        (client["agents"][0], "ended", "user_hangup")]
