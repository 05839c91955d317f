// The call controller: idle -> requesting-microphone -> connecting -> in-call -> ended (or error).
// Imported by retell-widget.js on first interaction, with the panel and the strings.
//
// The call runs on Retell's own browser SDK (retell-client-js-sdk 2.x over livekit-client). What
// it emits, in order: call_ready (the agent's audio track is subscribed), call_started (the room
// is connected), then update / agent_start_talking / agent_stop_talking / metadata as the agent's
// data packets arrive, and call_ended when the room disconnects. A start that fails emits only
// `error`, never call_ended, and startCall() resolves all the same.

import { botToken, loadBotCheck } from './bot.js';
import { errorCode, fetchError, httpError, microphoneError, retryAfterSeconds } from './errors.js';
import { messages } from './messages.js';
import { createPanel } from './panel.js';
import { createTranscript } from './transcript.js';

// If the SDK hasn't confirmed a hang-up this long after stopCall(), end the call in the UI anyway.
const HANGUP_GRACE_MS = 3000;
// livekit gives up on a connection after 15 s; past this, the widget does too, so it never hangs.
const START_TIMEOUT_MS = 20000;
const BUSY = ['requesting-microphone', 'connecting', 'in-call'];

// The SDK is imported once per page and URL. A failed import stays failed in the browser's module
// map, so a retry asks for the URL again with a query that makes it a new module.
const sdks = new Map();
let sdkRetries = 0;
function loadSdk(url) {
  let load = sdks.get(url);
  if (!load) {
    const target = sdkRetries ? url + (url.includes('?') ? '&' : '?') + 'retry=' + sdkRetries : url;
    load = import(target).then((mod) => {
      if (typeof mod.RetellWebClient !== 'function') throw new TypeError('RetellWebClient is not exported by ' + url);
      return mod.RetellWebClient;
    });
    load.catch(() => {
      sdks.delete(url);
      sdkRetries++;
    });
    sdks.set(url, load);
  }
  return load;
}

function stopTracks(stream) {
  for (const track of stream ? stream.getTracks() : []) track.stop();
}

// A dropped connection and the agent hanging up both end in call_ended. livekit's Room (the SDK's
// undocumented `room`) tells them apart: it tries to reconnect only after losing the connection.
function watchConnection(client, onLost) {
  const room = client.room;
  if (room && typeof room.on === 'function') {
    room.on('reconnecting', onLost);
    room.on('signalReconnecting', onLost);
  }
}

// 1. The microphone first: no token is spent on a visitor who can't or won't talk.
// -> {stream} or {code, cause}
async function askMicrophone() {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true }) };
  } catch (err) {
    return { code: microphoneError(err), cause: err };
  }
}

// 2. The SDK (loadSdk, above), before the token, so that a token never waits on a download.

// 3. A fresh token for every attempt: tokens expire 30 s after creation and work once.
// -> {token, callId} or {code, cause, seconds}
async function fetchToken(options, signal) {
  // A website with a bot check sends a fresh provider token with each request.
  let bot = null;
  if (options.botCheck) {
    try {
      bot = await botToken(options.botCheck, options.botSiteKey);
    } catch (err) {
      return { code: 'bot-check', cause: err };
    }
  }
  let res;
  try {
    res = await fetch(options.proxyEndpoint, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(bot ? { agent_id: options.agentId, bot_token: bot } : { agent_id: options.agentId }),
      signal,
    });
  } catch (err) {
    return { code: fetchError(), cause: err }; // a CORS refusal looks exactly like a network failure
  }
  if (!res.ok) {
    const wait = retryAfterSeconds(res);
    const code = httpError(res.status, wait, await errorCode(res));
    return { code, cause: `token request failed: HTTP ${res.status}`, seconds: code === 'rate-limited' ? wait : 0 };
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: handled below
  }
  if (!body || typeof body.access_token !== 'string' || !body.access_token) {
    return { code: 'unavailable', cause: 'the token response has no access_token' };
  }
  return { token: body.access_token, callId: typeof body.call_id === 'string' ? body.call_id : null };
}

export function createController({ host, root, options, events }) {
  const t = messages(options.lang, options.strings);
  const announcer = root.querySelector('[role=status]');
  // During a call the launcher says so, for when the panel is minimized.
  const inCallLabel = root.querySelector('.launcher .label').lastChild;
  let state = 'idle';
  let attempt = 0; // bumped whenever an attempt's late callbacks must be ignored
  let abort = null; // the token request in flight
  let stream = null; // our own microphone check, held until the SDK's call has started
  let client = null;
  let callId = null;
  let started = false; // call-start was emitted for this attempt
  let muted = false;
  let talkingNow = false; // the agent's last talking event, which may come before call_started
  let lost = false; // the connection dropped and livekit is trying to get it back
  let hangupTimer = 0;
  let startTimer = 0;
  let cooldownUntil = 0; // from a 429's Retry-After
  let destroyed = false;
  let transcript = createTranscript(); // the whole conversation, from Retell's windows of it

  const emit = (name, detail) => {
    if (events.includes(name)) host.dispatchEvent(new CustomEvent(name, { bubbles: true, composed: true, detail }));
  };

  const panel = createPanel(root, t, {
    primary: () => start(),
    hangup: () => stop(),
    mute: () => mute(!muted),
    minimize: () => panel.close(),
  });
  panel.show('idle', t('idle'));
  // Created on intent (hover, focus, touch) or a click: fetch the SDK now, off the click's path.
  loadSdk(options.sdkUrl).catch(() => {});
  if (options.botCheck) loadBotCheck(options.botCheck, options.botSiteKey).catch(() => {});

  function setState(next, code, seconds) {
    state = next;
    const message = code ? t(code, seconds) : t(next);
    host.setAttribute('data-state', next);

    if (code) host.setAttribute('data-error', code);
    else host.removeAttribute('data-error');
    panel.show(next, message, code === 'rate-limited' ? seconds : 0);
    if (next !== 'in-call') panel.setTalking(false);
    // Announce each change once, in the live region that has been on the page from the start.
    announcer.textContent = next === 'idle' ? '' : message;
    emit('state-change', { state: next, message, code: code || null });
  }

  // A call, phase by phase; each phase returns what the next needs, or null once it has failed
  // (or a newer attempt took over). `live()` says whether this attempt is still the current one.
  async function start() {
    if (destroyed || BUSY.includes(state)) return;
    panel.open();
    if (Date.now() < cooldownUntil) return; // the panel shows the countdown; honour Retry-After
    const n = ++attempt;
    const live = () => n === attempt;
    reset();
    setState('requesting-microphone');
    // Usually loaded on intent already; else it downloads while the permission prompt is up.
    const sdk = loadSdk(options.sdkUrl);
    sdk.catch(() => {});
    if (!(await microphone(live))) return;
    setState('connecting');
    const RetellWebClient = await sdkClass(sdk, live);
    if (!RetellWebClient) return;
    const token = await requestToken(live);
    if (!token) return;
    await call(RetellWebClient, token, live);
  }

  function reset() {
    inCallLabel.textContent = t('in-call'); // shown (in the launcher's width) once the call is up
    started = false;
    muted = false;
    talkingNow = false;
    lost = false;
    callId = null;
    transcript = createTranscript();
    panel.setMuted(false);
    panel.clearTranscript();
  }

  async function microphone(live) {
    const got = await askMicrophone();
    if (!live()) {
      stopTracks(got.stream);
      return false;
    }
    if (got.code) {
      fail(got.code, got.cause);
      return false;
    }
    stream = got.stream;
    return true;
  }

  async function sdkClass(sdk, live) {
    try {
      const RetellWebClient = await sdk;
      return live() ? RetellWebClient : null;
    } catch (err) {
      if (live()) fail(navigator.onLine === false ? 'offline' : 'sdk', err);
      return null;
    }
  }

  async function requestToken(live) {
    abort = new AbortController();
    const got = await fetchToken(options, abort.signal);
    if (!live()) return null;
    abort = null;
    if (got.code) {
      if (got.seconds) cooldownUntil = Date.now() + got.seconds * 1000;
      fail(got.code, got.cause, got.seconds);
      return null;
    }
    callId = got.callId;
    return got.token;
  }

  // 4. The call. Start-up failures arrive as an 'error' event while startCall() resolves (a
  // stand-in SDK may reject instead); decide once it settles.
  async function call(RetellWebClient, accessToken, live) {
    const c = (client = new RetellWebClient());
    const starting = { settled: false, error: null };
    listen(c, live, starting);
    startTimer = setTimeout(() => live() && state === 'connecting' && fail('start-failed', 'the call did not connect in time'),
      START_TIMEOUT_MS);
    let running;
    try {
      running = c.startCall({ accessToken }); // creates the SDK's room at once
    } catch (err) {
      running = Promise.reject(err);
    }
    watchConnection(c, () => {
      lost = true;
    });
    // Still within the click's user activation (browsers allow about 5 s): let the agent be heard
    // where autoplay needs a gesture. Before the room exists this just rejects, harmlessly.
    if (typeof c.startAudioPlayback === 'function') Promise.resolve().then(() => c.startAudioPlayback()).catch(() => {});
    try {
      await running;
    } catch (err) {
      starting.error = err;
    }
    starting.settled = true;
    if (live() && starting.error) fail('start-failed', starting.error);
  }

  // What the SDK emits: call_ready, call_started, the agent's data (update, agent_start_talking,
  // agent_stop_talking, possibly before call_started), error, call_ended.
  function listen(c, live, starting) {
    c.on('call_started', () => {
      if (!live() || state !== 'connecting') return;
      clearTimeout(startTimer);
      stopTracks(stream); // the SDK holds its own microphone track now
      stream = null;
      started = true;
      setState('in-call');
      panel.setTalking(talkingNow);
      emit('call-start', { callId });
    });
    c.on('agent_start_talking', () => live() && talking(true));
    c.on('agent_stop_talking', () => live() && talking(false));
    // Each update holds only Retell's last few utterances: merged into the whole conversation,
    // redrawing only what changed.
    c.on('update', (update) => {
      if (!live() || !update || !Array.isArray(update.transcript)) return;
      const changed = transcript.update(update.transcript);
      if (!changed.length) return;
      const all = transcript.all();
      panel.showUtterances(all, changed);
      emit('transcript', { transcript: all });
    });
    c.on('call_ended', () => {
      if (!live()) return;
      if (state === 'in-call') {
        if (lost) fail('dropped', 'the connection to the call was lost');
        else finish('ended', null, 'agent');
      } else {
        fail('start-failed', 'the call ended before it started');
      }
    });
    c.on('error', (err) => {
      if (!live()) return;
      if (!starting.settled) starting.error = starting.error || err || 'error';
      else fail(state === 'in-call' ? 'dropped' : 'start-failed', err);
    });
  }

  function talking(on) {
    talkingNow = on;
    panel.setTalking(on);
    if (!on && muted) panel.setMuted(true);
    emit('agent-talking', { talking: on });
  }

  function stop() {
    if (state === 'requesting-microphone' || state === 'connecting') return finish('ended', null, 'cancelled');
    if (state !== 'in-call' || !client || hangupTimer) return;
    const n = attempt;
    hangupTimer = setTimeout(() => n === attempt && finish('ended', null, 'hangup'), HANGUP_GRACE_MS);
    // The SDK's call_ended (or the grace timer) completes the hang-up.
    client.removeAllListeners('call_ended');
    client.on('call_ended', () => n === attempt && finish('ended', null, 'hangup'));
    stopClient(client);
  }

  function mute(on) {
    if (state !== 'in-call' || !client) return;
    muted = on;
    if (on) client.mute();
    else client.unmute();
    panel.setMuted(on);
    announcer.textContent = on ? t('muted') : t('in-call');
  }

  function fail(code, cause, seconds = 0) {
    if (code !== 'mic-denied') console.error('RetellWidget:', t(code, seconds), cause);
    finish('error', code, code === 'dropped' ? 'dropped' : 'error', seconds);
    emit('error', { code, message: t(code, seconds), retryAfter: seconds || null, cause });
  }

  // Moves to ended/error and releases everything the attempt held. Late callbacks of the
  // attempt are ignored from here on.
  function finish(next, code, reason, seconds) {
    attempt++;
    clearTimeout(startTimer);
    clearTimeout(hangupTimer);
    hangupTimer = 0;
    if (abort) abort.abort();
    abort = null;
    stopTracks(stream);
    stream = null;
    const c = client;
    client = null;
    if (c) {
      c.removeAllListeners();
      stopClient(c); // harmless after the call ended; releases the microphone if it hadn't
    }
    const wasStarted = started;
    started = false;
    // The agent is not speaking once the call is over, even when its last "stop" came after the
    // hang-up (they travel separately: data channel and signalling).
    if (talkingNow) {
      talkingNow = false;
      emit('agent-talking', { talking: false });
    }
    setState(next, code, seconds);
    if (wasStarted) emit('call-end', { callId, reason });
  }

  function stopClient(c) {
    try {
      c.stopCall();
    } catch (err) {
      console.error('RetellWidget: stopCall failed', err);
    }
  }

  return {
    start,
    stop,
    mute,
    open: () => panel.open(),
    close: () => panel.close(),
    // The launcher: start a call when none is going (opening the panel), else show or hide it.
    launch() {
      if (!BUSY.includes(state) && !panel.isOpen && Date.now() >= cooldownUntil) start();
      else if (panel.isOpen) panel.close();
      else panel.open();
    },
    // Removed from the page: end the call now, without waiting for the SDK.
    halt() {
      if (BUSY.includes(state)) finish('ended', null, 'removed');
    },
    destroy() {
      if (destroyed) return;
      this.halt();
      destroyed = true;
      panel.destroy();
    },
  };
}
