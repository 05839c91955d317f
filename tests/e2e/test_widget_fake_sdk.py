"""The sandbox's fake call SDK has RetellWebClient 2.x's public interface, driven from a page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.test_widget_v2 import sdk_url, visit

pytestmark = pytest.mark.e2e

# Runs in a client page: a real token from the proxy, then a whole call through the fake SDK.
SCRIPT = """
async ([sdkUrl, proxyEndpoint, agentId]) => {
  const { RetellWebClient } = await import(sdkUrl);
  const token = async () => (await (await fetch(proxyEndpoint, {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({agent_id: agentId}),
  })).json()).access_token;
  const client = new RetellWebClient();
  const seen = [];
  const frames = [];
  for (const name of ['call_started', 'call_ready', 'agent_start_talking', 'agent_stop_talking', 'update', 'call_ended']) {
    client.on(name, () => seen.push(name));
  }
  let onces = 0;
  client.once('call_ready', () => onces++);
  client.on('audio', (frame) => frames.push(frame));
  const result = {
    surface: ['startCall', 'stopCall', 'mute', 'unmute', 'startAudioPlayback', 'on', 'once', 'off',
              'addListener', 'removeListener', 'removeAllListeners', 'emit', 'listeners', 'listenerCount',
              'eventNames'].filter((m) => typeof client[m] !== 'function'),
  };
  try { await client.startCall({accessToken: 'x', sampleRate: 5}); } catch (e) { result.badRate = e.name; }
  const ended = new Promise((resolve) => client.on('call_ended', resolve));
  const talked = new Promise((resolve) => client.on('agent_stop_talking', resolve));
  await client.startCall({accessToken: await token(), sampleRate: 16000, emitRawAudioSamples: true,
                          captureDeviceId: 'default', playbackDeviceId: 'default'});
  await client.startAudioPlayback();
  await talked;
  result.volume = typeof client.analyzerComponent.calculateVolume();
  result.analyser = client.analyzerComponent.analyser instanceof AnalyserNode;
  client.mute();
  client.unmute();
  client.stopCall();
  await ended;
  result.seen = seen;
  result.onces = onces;
  result.isAgentTalking = client.isAgentTalking;
  result.analyzerAfter = client.analyzerComponent;
  result.frameTypes = [...new Set(frames.map((f) => f.constructor.name + ':' + f.length))];
  result.emitReturns = client.emit('nobody-listens');
  return result;
}
"""


def test_the_fake_sdk_runs_a_call_with_the_2x_interface(page: Page, sandbox):
    visit(page, sandbox)
    result = page.evaluate(SCRIPT, [sdk_url(sandbox), sandbox.state["proxy_endpoint"], sandbox.client("client-a")["agents"][0]])
    assert result["surface"] == []
    assert result["badRate"] == "RangeError"
    assert result["seen"] == ["call_started", "call_ready", "agent_start_talking", "update", "agent_stop_talking", "call_ended"]
    assert result["onces"] == 1
    assert result["volume"] == "number" and result["analyser"] is True
    assert result["isAgentTalking"] is False and result["analyzerAfter"] is None
    assert result["frameTypes"] == ["Float32Array:1600"]  # 100 ms frames at 16 kHz while the agent talked
    assert result["emitReturns"] is False
    assert page.evaluate("window.__retell.streams.flatMap(s => s.getTracks()).every(t => t.readyState === 'ended')")
