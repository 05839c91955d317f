"""A client's fixed dynamic variables, from the registry through the proxy to what Retell's agent
says: the agent's greeting names the client, and Retell's call record says whose call it was."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.lines import until_state

pytestmark = pytest.mark.e2e


def test_the_agent_greets_with_the_clients_own_name(page: Page, sandbox, agent_script):
    client_id, name = "client-a", "Acme Dental"
    client = sandbox.client(client_id)
    agent_script(client.agents[0], {"greeting": "Thanks for calling {{client_name}}."})
    before = sandbox.retell_records()
    page.goto(f"{client.origin}/sandbox/v2/")
    host = page.locator("retell-widget")
    until_state(host, "idle")
    host.locator(".launcher").click()
    until_state(host, "in-call")
    expect(host.get_by_role("log", name="Transcript")).to_contain_text(f"Thanks for calling {name}.")
    host.get_by_role("button", name="Hang up").click()
    (call,) = sandbox.ended_calls(before)
    # As Retell keeps it: the variables the call was created with, and whose call it was.
    assert call["retell_llm_dynamic_variables"] == {"client_name": name}
    assert call["metadata"]["client_id"] == client_id and call["metadata"]["origin"] == client.origin
