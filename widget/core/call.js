// The call flow of both widget lines, written once: the microphone, Retell's call SDK, the bot
// check, a fresh token from the proxy, and the call until it ends. It draws nothing; each line
// shows the states it reports (v1 in the page's DOM, v2 in its panel). Published inside each
// line's release folder as core/ (see builder/cdn.py), and imported on a visitor's first intent.
//
// The call runs on Retell's own browser SDK (retell-client-js-sdk 2.x over livekit-client). What
// it emits, in order: call_ready (the agent's audio track is subscribed), call_started (the room
// is connected), then update / agent_start_talking / agent_stop_talking / metadata as the agent's
// data packets arrive, and call_ended when the room disconnects. A start that fails emits only
// `error`, never call_ended, and startCall() resolves all the same.

import { botToken, loadBotCheck } from './bot.js';
import { agreed, consentHash, forget, remember } from './consent.js';
import { errorCode, fetchError, httpError, microphoneError, retryAfterSeconds } from './errors.js';
import { Levels } from './levels.js';

// If the SDK hasn't confirmed a hang-up this long after stopCall(), end the call anyway.
const HANGUP_GRACE_MS = 3000;
// livekit gives up on a connection after 15 s; past this, the widget does too, so it never hangs.
const START_TIMEOUT_MS = 20000;
// A visitor's microphone that stays below SOUND this long in a call, unmuted, while the agent is
// not talking, is reported as silent (the widget says it can't hear them).
const SILENCE_MS = 6000;
const SOUND = 0.1;
const BUSY = ['requesting-microphone', 'connecting', 'in-call'];
const IGNORE = () => {};

// The SDK is imported once per page and URL. A failed import may stay failed in the browser's
// module map, so a retry asks for the URL again with a query that makes it a new module.
const sdks = new Map();
let sdkRetries = 0;
function loadSdk(url) {
  if (!url) return Promise.reject(new TypeError('RetellWidget: no sdkUrl given and no default is known'));
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

function stopClient(client) {
  try {
    client.stopCall();
  } catch (err) {
    console.error('RetellWidget: stopCall failed', err);
  }
}

// livekit's Room (the SDK's undocumented `room`, made by startCall) tells what the SDK's events
// don't: a dropped connection (it tries to reconnect only after losing one; the agent hanging up
// also ends in call_ended), and the tracks to measure: the agent's subscribed audio and the
// visitor's published microphone.
function watchRoom(client, onLost, levels) {
  const room = client.room;
  if (!room || typeof room.on !== 'function') return;
  room.on('reconnecting', onLost);
  room.on('signalReconnecting', onLost);
  if (!levels) return;
  room.on('trackSubscribed', (track) => levels.track('agent', track && track.mediaStreamTrack));
  room.on('localTrackPublished', (pub) => levels.track('you', pub && pub.track && pub.track.mediaStreamTrack));
}

// The create request's body: the agent, and the page's own fields only when it has them, so a
// page that uses none of them sends what older releases sent.
function createBody(options, bot, hash) {
  const body = { agent_id: options.agentId };
  if (bot) body.bot_token = bot;
  if (options.dynamicVariables) body.retell_llm_dynamic_variables = options.dynamicVariables;
  if (hash) body.consent_hash = hash;
  return body;
}

// A fresh token for every attempt: tokens expire 30 s after creation and work once.
// -> {token, callId} or a failure {code, cause, seconds, status}
async function fetchToken(options, hash, signal) {
  // A website with a bot check sends a fresh provider token with each request.
  let bot = null;
  if (options.botCheck) {
    try {
      bot = await botToken(options.botCheck, options.botSiteKey);
    } catch (err) {
      return failure('bot-check', err);
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
      body: JSON.stringify(createBody(options, bot, hash)),
      signal,
    });
  } catch (err) {
    return failure(fetchError(), err); // a CORS refusal looks exactly like a network failure
  }
  if (!res.ok) {
    const wait = retryAfterSeconds(res);
    const refusal = await errorCode(res);
    const code = httpError(res.status, wait, refusal);
    const cause = `token request failed: HTTP ${res.status}` + (refusal ? ` (${refusal})` : '');
    return failure(code, cause, code === 'rate-limited' ? wait : 0, res.status);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: handled below
  }
  if (!body || typeof body.access_token !== 'string' || !body.access_token) {
    return failure('unavailable', 'the token response has no access_token');
  }
  return { token: body.access_token, callId: typeof body.call_id === 'string' ? body.call_id : null };
}

// What went wrong: a code of errors.js, its cause (for the console), the seconds of a rate
// limit's Retry-After, and the HTTP status of a refused token request (0 for anything else).
function failure(code, cause, seconds = 0, status = 0) {
  return { code, cause, seconds, status };
}

/**
 * One widget's calls, one at a time: idle -> (consent ->) requesting-microphone -> connecting ->
 * in-call -> ended (or error). `options` are the widget's validated options (agentId,
 * proxyEndpoint, sdkUrl, botCheck, botSiteKey, dynamicVariables, consent {text, url}). With a
 * consent text not agreed yet, start() stops at 'consent' until agree() (or stop(): back to idle).
 * `on` hears what happens, each hook optional:
 *   state(next, failure)  every change of state; `failure` with 'error', else null
 *   started(callId, talking)  the call is up (after state 'in-call'); whether the agent talks already
 *   talking(on)           the agent started or stopped talking (possibly before `started`)
 *   update(update)        the SDK's `update` event (a window of the transcript)
 *   ended(callId, reason) a call that had started is over (after its final state); reason is
 *                         agent, hangup, cancelled, removed, dropped or error
 *   failed(failure)       after the 'error' state (and `ended`, if the call had started)
 *   levels({agent, you})  the loudness of each side, 0..1 (null: no track yet), 20 times a
 *                         second in a call; all zero once when it ends
 *   silent(on)            the visitor's microphone has sent only silence for a while, or no longer
 *                         (levels are measured only for a widget that gives one of these two)
 * `state` also gets, as a third argument, why an 'ended' or 'consent' state came (a reason above).
 */
export class Call {
  #o;
  #on;
  #state = 'idle';
  #attempt = 0; // bumped whenever an attempt's late callbacks must be ignored
  #abort = null; // the token request in flight
  #stream = null; // our own microphone check, held until the SDK's call has started
  #client = null;
  #callId = null;
  #started = false; // `started` was reported for this attempt
  #talking = false; // the agent's last talking event, which may come before call_started
  #lost = false; // the connection dropped and livekit is trying to get it back
  #hangupTimer = 0;
  #startTimer = 0;
  #hash = null; // promise of the consent text's hash, computed once
  #consentHash = ''; // the hash sent with token requests, once agreed
  #fresh = false; // the visitor agreed during this attempt
  #measure; // whether the widget shows levels (v1 doesn't: it makes no analysers)
  #levels = null; // this attempt's level meters
  #muted = false;
  #quietSince = 0; // when the visitor's microphone was last heard (or last had no reason to be)
  #silent = false;

  constructor(options, on) {
    this.#o = options;
    this.#on = { state: IGNORE, started: IGNORE, talking: IGNORE, update: IGNORE, ended: IGNORE, failed: IGNORE,
      levels: IGNORE, silent: IGNORE, ...on };
    this.#measure = Boolean(on.levels || on.silent);
  }

  get state() {
    return this.#state;
  }

  get busy() {
    return BUSY.includes(this.#state);
  }

  /** Fetches what a call needs ahead of the click (on hover, focus or touch): the SDK, the bot check. */
  warm() {
    if (this.#o.consent) this.#hashed().catch(IGNORE);
    loadSdk(this.#o.sdkUrl).catch(IGNORE);
    if (this.#o.botCheck) loadBotCheck(this.#o.botCheck, this.#o.botSiteKey).catch(IGNORE);
  }

  /** A call, phase by phase; outcomes are reported through `on`, never by rejecting. */
  async start() {
    if (this.busy || this.#state === 'consent') return;
    if (this.#o.consent) {
      const n = ++this.#attempt;
      let hash;
      try {
        hash = await this.#hashed();
      } catch (err) {
        if (n === this.#attempt) this.#fail(failure('start-failed', err)); // no crypto.subtle: not a secure context
        return;
      }
      if (n !== this.#attempt || this.busy || this.#state === 'consent') return;
      this.#consentHash = hash;
      this.#fresh = false;
      if (!agreed(hash)) return this.#set('consent');
    }
    return this.#begin();
  }

  /** The visitor agreed to the consent text shown: remembered, then the call starts. */
  agree() {
    if (this.#state !== 'consent') return;
    remember(this.#consentHash);
    this.#fresh = true;
    return this.#begin();
  }

  #hashed() {
    if (!this.#hash) {
      this.#hash = consentHash(this.#o.consent.text);
      this.#hash.catch(() => {
        this.#hash = null;
      });
    }
    return this.#hash;
  }

  async #begin() {
    if (this.busy) return;
    const n = ++this.#attempt;
    const live = () => n === this.#attempt; // whether this attempt is still the current one
    this.#started = false;
    this.#talking = false;
    this.#lost = false;
    this.#callId = null;
    this.#set('requesting-microphone');
    // Usually loaded on intent already; else it downloads while the permission prompt is up.
    const sdk = loadSdk(this.#o.sdkUrl);
    sdk.catch(IGNORE);
    if (!(await this.#microphone(live))) return;
    this.#set('connecting');
    const RetellWebClient = await this.#sdkClass(sdk, live);
    if (!RetellWebClient) return;
    const token = await this.#token(live);
    if (!token) return;
    await this.#call(RetellWebClient, token, live);
  }

  /** Hangs up, or cancels a call still starting. */
  stop() {
    if (this.#state === 'consent') return this.#finish('idle', null, 'cancelled');
    if (this.#state === 'requesting-microphone' || this.#state === 'connecting') return this.#finish('ended', null, 'cancelled');
    if (this.#state !== 'in-call' || !this.#client || this.#hangupTimer) return;
    const n = this.#attempt;
    const hungUp = () => n === this.#attempt && this.#finish('ended', null, 'hangup');
    this.#hangupTimer = setTimeout(hungUp, HANGUP_GRACE_MS);
    // The SDK's call_ended (or the grace timer) completes the hang-up.
    this.#client.removeAllListeners('call_ended');
    this.#client.on('call_ended', hungUp);
    stopClient(this.#client);
  }

  /** Mutes or unmutes the microphone in a call; returns whether there was a call to do it in. */
  mute(on) {
    if (this.#state !== 'in-call' || !this.#client) return false;
    if (on) this.#client.mute();
    else this.#client.unmute();
    this.#muted = on;
    return true;
  }

  /** Ends any call now, without waiting for the SDK (the widget left the page). */
  halt() {
    if (this.busy) this.#finish('ended', null, 'removed');
  }

  // 1. The microphone first: no token is spent on a visitor who can't or won't talk.
  async #microphone(live) {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      if (live()) this.#fail(failure(microphoneError(err), err));
      return false;
    }
    if (!live()) {
      stopTracks(stream);
      return false;
    }
    this.#stream = stream;
    return true;
  }

  // 2. The SDK, before the token, so that a token never waits on a download.
  async #sdkClass(sdk, live) {
    try {
      const RetellWebClient = await sdk;
      return live() ? RetellWebClient : null;
    } catch (err) {
      if (live()) this.#fail(failure(navigator.onLine === false ? 'offline' : 'sdk', err));
      return null;
    }
  }

  // 3. The token (with the bot check's, if the website has one).
  async #token(live) {
    this.#abort = new AbortController();
    const got = await fetchToken(this.#o, this.#o.consent ? this.#consentHash : '', this.#abort.signal);
    if (!live()) return null;
    this.#abort = null;
    if (got.code === 'consent') {
      // The proxy wants another text's agreement (the page's text is stale): ask again, unless
      // the visitor just agreed to this very text, or the page sets none (a page configuration error).
      if (this.#o.consent && !this.#fresh) {
        forget(this.#consentHash);
        this.#finish('consent', null, 'cancelled');
        return null;
      }
      got.code = 'misconfigured';
    }
    if (got.code) {
      this.#fail(got);
      return null;
    }
    this.#callId = got.callId;
    return got.token;
  }

  // 4. The call. Start-up failures arrive as an 'error' event while startCall() resolves (a
  // stand-in SDK may reject instead); decide once it settles.
  async #call(RetellWebClient, accessToken, live) {
    const client = (this.#client = new RetellWebClient());
    const starting = { settled: false, error: null };
    const levels = (this.#levels = this.#measure ? new Levels((now) => live() && this.#heard(now)) : null);
    this.#listen(client, live, starting);
    this.#startTimer = setTimeout(() => live() && this.#state === 'connecting' &&
      this.#fail(failure('start-failed', 'the call did not connect in time')), START_TIMEOUT_MS);
    let running;
    try {
      running = client.startCall({ accessToken }); // creates the SDK's room at once
    } catch (err) {
      running = Promise.reject(err);
    }
    watchRoom(client, () => {
      this.#lost = true;
    }, levels);
    // Still within the click's user activation (browsers allow about 5 s): let the agent be heard
    // where autoplay needs a gesture. Before the room exists this just rejects, harmlessly.
    if (typeof client.startAudioPlayback === 'function') Promise.resolve().then(() => client.startAudioPlayback()).catch(IGNORE);
    try {
      await running;
    } catch (err) {
      starting.error = err;
    }
    starting.settled = true;
    if (live() && starting.error) this.#fail(failure('start-failed', starting.error));
  }

  // What the SDK emits: call_ready, call_started, the agent's data (update, agent_start_talking,
  // agent_stop_talking, possibly before call_started), error, call_ended.
  #listen(client, live, starting) {
    client.on('call_started', () => {
      if (!live() || this.#state !== 'connecting') return;
      clearTimeout(this.#startTimer);
      stopTracks(this.#stream); // the SDK holds its own microphone track now
      this.#stream = null;
      this.#started = true;
      this.#muted = false;
      this.#quietSince = performance.now();
      this.#set('in-call');
      this.#on.started(this.#callId, this.#talking);
    });
    client.on('agent_start_talking', () => live() && this.#talk(true));
    client.on('agent_stop_talking', () => live() && this.#talk(false));
    client.on('update', (update) => live() && this.#on.update(update));
    client.on('call_ended', () => {
      if (!live()) return;
      if (this.#state !== 'in-call') this.#fail(failure('start-failed', 'the call ended before it started'));
      else if (this.#lost) this.#fail(failure('dropped', 'the connection to the call was lost'));
      else this.#finish('ended', null, 'agent');
    });
    client.on('error', (err) => {
      if (!live()) return;
      if (!starting.settled) starting.error = starting.error || err || 'error';
      else this.#fail(failure(this.#state === 'in-call' ? 'dropped' : 'start-failed', err));
    });
  }

  #talk(on) {
    this.#talking = on;
    this.#on.talking(on);
  }

  // A reading of both levels: passed on, and the visitor's silence judged. Silence counts only in
  // a call, unmuted, while the agent is not talking.
  #heard(now) {
    this.#on.levels(now);
    if (this.#state !== 'in-call') return;
    const at = performance.now();
    if (now.you == null || now.you >= SOUND || this.#muted || this.#talking) this.#quietSince = at;
    this.#silence(at - this.#quietSince >= SILENCE_MS);
  }

  #silence(on) {
    if (on === this.#silent) return;
    this.#silent = on;
    this.#on.silent(on);
  }

  #set(next, failed = null, reason = null) {
    this.#state = next;
    this.#on.state(next, failed, reason);
  }

  #fail(failed) {
    this.#finish('error', failed, failed.code === 'dropped' ? 'dropped' : 'error');
    this.#on.failed(failed);
  }

  // Moves to ended/error and releases everything the attempt held. Late callbacks of the
  // attempt are ignored from here on.
  #finish(next, failed, reason) {
    this.#attempt++;
    clearTimeout(this.#startTimer);
    clearTimeout(this.#hangupTimer);
    this.#hangupTimer = 0;
    if (this.#abort) this.#abort.abort();
    this.#abort = null;
    stopTracks(this.#stream);
    this.#stream = null;
    const client = this.#client;
    this.#client = null;
    if (client) {
      client.removeAllListeners();
      stopClient(client); // harmless after the call ended; releases the microphone if it hadn't
    }
    const wasStarted = this.#started;
    this.#started = false;
    // The agent is not speaking once the call is over, even when its last "stop" came after the
    // hang-up (they travel separately: data channel and signalling).
    if (this.#talking) this.#talk(false);
    if (this.#levels) {
      this.#levels.stop();
      this.#levels = null;
      this.#on.levels({ agent: 0, you: 0 });
    }
    this.#silence(false);
    this.#set(next, failed, reason);
    if (wasStarted) this.#on.ended(this.#callId, reason);
  }
}
