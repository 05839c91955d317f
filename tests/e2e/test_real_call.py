"""What only a real call can show: Retell's SDK, WebRTC audio both ways, and who hung up."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from harness.browser import PEER_CONNECTIONS
from tests.e2e.lines import LINES, until_state
from tests.e2e.test_widget_v2 import INSTRUMENT, new_calls

pytestmark = pytest.mark.e2e

INBOUND_AUDIO = """async () => {
  let packets = 0, energy = 0;
  for (const pc of window.__pcs) {
    for (const report of (await pc.getStats()).values()) {
      if (report.type === 'inbound-rtp' && report.kind === 'audio') {
        packets += report.packetsReceived || 0;
        energy += report.totalAudioEnergy || 0;
      }
    }
  }
  return {packets, energy};
}"""


def inbound_audio(page: Page) -> dict:
    return page.evaluate(INBOUND_AUDIO)


def until_inbound(page: Page, condition: str, timeout_ms: int = 10_000) -> dict:
    """Waits, in the page, until ``condition`` (a JS expression of ``s``: packets, energy) holds
    for the inbound audio stats; returns them."""
    return page.evaluate(f"""async () => {{
      const stats = {INBOUND_AUDIO};
      const until = Date.now() + {timeout_ms};
      for (;;) {{
        const s = await stats();
        if ({condition}) return s;
        if (Date.now() > until) throw new Error('inbound audio never met: {condition}: ' + JSON.stringify(s));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }}
    }}""")


def agent_finished_greeting(page: Page) -> None:
    """v2's agent-talking events went on, then off (the widget says "Listening" before as well)."""
    page.wait_for_function("window.__retell.events.filter(e => e.type === 'agent-talking').map(e => e.detail.talking)"
                           ".join() === 'true,false'")


def open_line(page: Page, sandbox, folder: str):
    page.add_init_script(PEER_CONNECTIONS)
    page.add_init_script(INSTRUMENT)
    page.goto(f"{sandbox.client('client-a').origin}/sandbox/{folder}/")
    line = LINES[folder]
    root = page.locator(line.root)
    until_state(root, "idle")
    return line, root


def the_call(sandbox, before: dict) -> dict:
    """The one call made since ``before``, once the media server has seen it end."""
    (call,) = sandbox.ended_calls(before)
    return call


def test_the_browser_hears_the_agent_and_the_agent_hears_the_browser(page: Page, sandbox):
    before = sandbox.retell_records()
    line, root = open_line(page, sandbox, "v2")
    root.locator(line.start).click()
    until_state(root, "in-call")
    # The agent's greeting arrives as RTP audio with energy (real speech, not silence).
    heard = until_inbound(page, "s.packets > 20 && s.energy > 0")
    assert heard["packets"] > 20 and heard["energy"] > 0
    agent_finished_greeting(page)
    root.locator(line.hang_up).click()
    until_state(root, "ended")
    call = the_call(sandbox, before)
    assert call["disconnection_reason"] == "user_hangup" and call["duration_ms"] > 0
    assert call["agent_audio_frames"] > 50
    assert call["microphone"]["frames_above_-40dBFS"] > 0  # Chromium's fake microphone beeps


def test_while_muted_the_agent_hears_no_audio_and_sees_the_track_muted(page: Page, sandbox):
    before = sandbox.retell_records()
    line, root = open_line(page, sandbox, "v2")
    root.locator(line.start).click()
    until_state(root, "in-call")
    agent_finished_greeting(page)  # 2 s of microphone audio so far
    root.get_by_role("button", name="Mute").click()
    # The call's own clock: 75 of the agent's 20 ms packets are 1.5 s of call.
    start = inbound_audio(page)["packets"]
    until_inbound(page, f"s.packets > {start + 75}")
    root.get_by_role("button", name="Unmute").click()
    start = inbound_audio(page)["packets"]
    until_inbound(page, f"s.packets > {start + 75}")
    root.locator(line.hang_up).click()
    until_state(root, "ended")
    segments = the_call(sandbox, before)["microphone"]["segments"]
    assert [s["muted"] for s in segments] == [False, True, False], segments
    before_mute, muted, after = segments
    assert before_mute["frames_above_-40dBFS"] > 0
    # Chromium sends a disabled track as silence, with Opus DTX hardly any packets at all.
    assert muted["frames_above_-40dBFS"] == 0, muted
    assert after["frames_above_-40dBFS"] > 0, after


@pytest.mark.parametrize("folder", ["v1", "v2"])
def test_the_agent_hanging_up_ends_the_call_in_the_widget(page: Page, sandbox, folder):
    before = sandbox.retell_records()
    line, root = open_line(page, sandbox, folder)
    root.locator(line.start).click()
    until_state(root, "in-call")
    (call,) = new_calls(sandbox, before)  # still in progress
    call_id = call["call_id"]
    response = sandbox.http.post(sandbox.local("control") + f"/calls/{call_id}/hangup")
    assert response.status_code == 200, response.text
    until_state(root, "ended")
    assert the_call(sandbox, before)["disconnection_reason"] == "agent_hangup"
    if folder == "v2":
        ends = [e["detail"] for e in page.evaluate("window.__retell.events") if e["type"] == "call-end"]
        assert ends == [{"callId": call_id, "reason": "agent"}]


def test_a_scripted_call_length_ends_with_the_agent(page: Page, sandbox, faults):
    faults({"agent": {"hangup_after": 1}})
    before = sandbox.retell_records()
    line, root = open_line(page, sandbox, "v2")
    root.locator(line.start).click()
    until_state(root, "in-call")
    until_state(root, "ended")
    call = the_call(sandbox, before)
    assert call["disconnection_reason"] == "agent_hangup" and call["duration_ms"] >= 1000
    # The visitor is told the assistant ended it, apart from their own hang-up.
    expect(root.locator(".status")).to_have_text("The assistant ended the call.")


def test_a_reused_token_is_refused_by_the_media_server_and_the_sdk_says_so(page: Page, sandbox):
    """Straight through Retell's SDK: a token joins once; the second start emits only `error`."""
    open_line(page, sandbox, "v2")
    manifest = sandbox.http.get(sandbox.local("cdn") + "/manifest.json").json()
    result = page.evaluate("""async ([sdkUrl, proxy, agentId]) => {
      const { RetellWebClient } = await import(sdkUrl);
      const res = await fetch(proxy, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                      body: JSON.stringify({agent_id: agentId})});
      const { access_token } = await res.json();
      const run = async () => {
        const client = new RetellWebClient();
        const seen = [];
        for (const name of ['call_ready', 'call_started', 'call_ended', 'error']) client.on(name, () => seen.push(name));
        await client.startCall({accessToken: access_token});
        return {client, seen};
      };
      const first = await run();
      const second = await run();
      first.client.stopCall();
      return [first.seen, second.seen];
    }""", [f"{sandbox.state.origins['cdn']}/{manifest['sdk']['path']}", sandbox.state.proxy_endpoint,
           sandbox.client("client-a").agents[0]])
    assert result[0] == ["call_ready", "call_started", "call_ended"]
    assert result[1] == ["error"]  # never call_ended for a start that failed


def test_no_candidate_but_loopback_is_gathered_accepted_or_dialled(page: Page, sandbox):
    before = sandbox.retell_records()
    line, root = open_line(page, sandbox, "v2")
    root.locator(line.start).click()
    until_state(root, "in-call")
    # "In call" can come a moment before the browser's stats show the nominated pair: wait for
    # the pair (polling getStats, the only way to see it), up to 10 s.
    local = page.evaluate("""async () => {
      const seen = [];
      for (const deadline = Date.now() + 10000; !seen.length && Date.now() < deadline;) {
        for (const pc of window.__pcs) for (const r of (await pc.getStats()).values()) {
          if (r.type === 'candidate-pair' && r.state === 'succeeded') seen.push(r.remoteCandidateId);
        }
        if (!seen.length) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const remotes = [];
      for (const pc of window.__pcs) for (const r of (await pc.getStats()).values()) {
        if (r.type === 'remote-candidate') remotes.push(r.address);
      }
      return {pairs: seen.length, remotes};
    }""")
    root.locator(line.hang_up).click()
    until_state(root, "ended")
    ice = the_call(sandbox, before)["ice"]
    assert ice["local"] == ["127.0.0.1"]
    # The browser sent its candidates, and the server took only loopback ones. Chromium's headless
    # shell names its host candidates by mDNS (`<uuid>.local`), as Chrome does for a page without
    # microphone permission: the server drops those unresolved, and the pair forms from the
    # browser's own checks arriving from 127.0.0.1.
    assert ice["remote"] or ice["dropped"], "the server heard no candidate from the browser"
    assert set(ice["remote"]) <= {"127.0.0.1", "::1"}
    assert ice["pairs"] and all(pair == ["127.0.0.1", "127.0.0.1"] for pair in ice["pairs"])
    # The browser, too, was only ever offered the server's 127.0.0.1.
    assert local["pairs"] >= 1 and set(local["remotes"]) == {"127.0.0.1"}, json.dumps(local)
