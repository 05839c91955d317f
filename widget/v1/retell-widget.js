/*
 * Retell voice widget v1: a "talk to our assistant" button for client pages.
 * Classic script (not a module) so it can be dropped in with a plain <script src>.
 * Defines window.RetellWidget and nothing else.
 */
(function () {
  'use strict';

  // currentScript is only set while this file is first executing, so read it now.
  // By default the SDK (Retell's retell-client-js-sdk) is the CDN's copy of the exact version this
  // release was tested with: <cdn>/sdk/2.0.8/retell-web-client.js (the build checks it).
  // Null when there is no usable base (inline script on a data: or about:blank page);
  // then the page must pass sdkUrl, and a click without one reports a load failure.
  const script = document.currentScript;
  const DEFAULT_SDK_URL = (() => {
    try {
      return new URL('../sdk/2.0.8/retell-web-client.js', (script && script.src) || location.href).href;
    } catch (err) {
      return null;
    }
  })();

  const POSITIONS = ['bottom-right', 'bottom-left', 'top-right', 'top-left'];
  const THEMES = ['purple', 'blue', 'green', 'dark'];
  const DEFAULT_LABEL = 'Talk to our assistant';

  const STATUS = { idle: '', connecting: 'Connecting…', 'in-call': 'In call', ended: 'Call ended' };
  const MSG = {
    network: "We couldn't reach the assistant. Check your connection and try again.",
    forbidden: "This website isn't allowed to use this assistant.",
    busy: 'Too many calls right now. Please try again in a moment.',
    refused: "The assistant couldn't start a call.",
    unavailable: 'The assistant is unavailable right now. Please try again later.',
    botCheck: "The security check didn't pass. Please try again.",
    sdk: 'The call service failed to load. Please try again.',
    interrupted: 'The call was interrupted.',
    micDenied: 'Microphone access was denied. Allow it in your browser to talk to the assistant.',
    noMic: 'No microphone was found.',
    startFailed: "The call couldn't be started.",
  };

  // If the call SDK hasn't reported call_ended this long after a hang-up, end the call in the UI anyway.
  const HANGUP_GRACE_MS = 3000;
  // livekit gives up on a connection after 15 s; past this the widget does too, so it never hangs.
  const START_TIMEOUT_MS = 20000;
  const INTENT = ['pointerenter', 'focus', 'touchstart'];

  // The SDK is imported on intent (hover, focus, touch) or a click, and then only once per page
  // (per URL). A failed import is forgotten so that "try again" really tries again.
  const sdkCache = new Map();
  function loadSdk(url) {
    if (!url) return Promise.reject(new TypeError('RetellWidget: no sdkUrl given and no default is known'));
    let promise = sdkCache.get(url);
    if (!promise) {
      promise = import(url).then((mod) => {
        if (typeof mod.RetellWebClient !== 'function') {
          throw new TypeError('RetellWebClient is not exported by ' + url);
        }
        return mod.RetellWebClient;
      });
      promise.catch(() => {
        if (sdkCache.get(url) === promise) sdkCache.delete(url);
      });
      sdkCache.set(url, promise);
    }
    return promise;
  }

  // Describe a bad option value without calling its toString().
  function describe(value) {
    return typeof value === 'string' ? JSON.stringify(value) : typeof value;
  }

  function parseUrl(value, name) {
    try {
      return new URL(value, location.href).href;
    } catch (err) {
      throw new TypeError(`RetellWidget: option "${name}" is not a valid URL (got ${describe(value)})`);
    }
  }

  function oneOf(value, allowed, name) {
    if (value == null) return allowed[0];
    if (!allowed.includes(value)) {
      throw new RangeError(
        `RetellWidget: option "${name}" must be one of ${allowed.join(', ')} (got ${describe(value)})`
      );
    }
    return value;
  }

  function readOptions(options) {
    const o = options || {};
    if (typeof o.agentId !== 'string' || !o.agentId.trim()) {
      throw new TypeError(`RetellWidget: option "agentId" must be a non-empty string (got ${describe(o.agentId)})`);
    }
    if (typeof o.proxyEndpoint !== 'string' || !o.proxyEndpoint.trim()) {
      throw new TypeError(
        `RetellWidget: option "proxyEndpoint" must be a non-empty URL string (got ${describe(o.proxyEndpoint)})`
      );
    }
    for (const name of ['sdkUrl', 'label', 'botSiteKey']) {
      if (o[name] != null && typeof o[name] !== 'string') {
        throw new TypeError(`RetellWidget: option "${name}" must be a string (got ${describe(o[name])})`);
      }
    }
    if (o.botCheck != null && !(o.botSiteKey || '').trim()) {
      throw new TypeError(`RetellWidget: option "botSiteKey" must be set with botCheck (got ${describe(o.botSiteKey)})`);
    }
    return {
      agentId: o.agentId,
      proxyEndpoint: parseUrl(o.proxyEndpoint, 'proxyEndpoint'),
      position: oneOf(o.position, POSITIONS, 'position'),
      theme: oneOf(o.theme, THEMES, 'theme'),
      // Resolved against the page, not against this script (which is what a bare import() would do).
      sdkUrl: o.sdkUrl ? parseUrl(o.sdkUrl, 'sdkUrl') : DEFAULT_SDK_URL,
      label: (o.label && o.label.trim()) || DEFAULT_LABEL,
      botCheck: o.botCheck == null ? null : oneOf(o.botCheck, BOT_CHECKS, 'botCheck'),
      botSiteKey: o.botCheck == null ? null : o.botSiteKey.trim(),
    };
  }

  // The bot check a website may require (Cloudflare Turnstile or reCAPTCHA v3): the provider's
  // script loads on intent, and each call gets a fresh token, without a visible challenge where
  // the provider allows it. The proxy verifies it.
  const BOT_CHECKS = ['turnstile', 'recaptcha'];
  const botLoads = new Map();
  function loadBotCheck(provider, key) {
    const src = provider === 'recaptcha'
      ? 'https://www.google.com/recaptcha/api.js?render=' + encodeURIComponent(key)
      : 'https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit';
    const name = provider === 'recaptcha' ? 'grecaptcha' : 'turnstile';
    let load = botLoads.get(src);
    if (!load) {
      load = new Promise((resolve, reject) => {
        if (window[name]) return resolve(window[name]);
        const tag = document.createElement('script');
        tag.src = src;
        tag.async = true;
        tag.onload = () => (window[name] ? resolve(window[name]) : reject(new Error(src + ' defined no ' + name)));
        tag.onerror = () => reject(new Error('could not load ' + src));
        document.head.append(tag);
      });
      load.catch(() => botLoads.delete(src));
      botLoads.set(src, load);
    }
    return load;
  }

  async function botToken(provider, key) {
    const api = await loadBotCheck(provider, key);
    let timer;
    const token = provider === 'recaptcha'
      ? new Promise((resolve, reject) => api.ready(() => api.execute(key, { action: 'start_call' }).then(resolve, reject)))
      : new Promise((resolve, reject) => {
          const box = document.createElement('div'); // Turnstile's frame shows only if the visitor must interact
          box.style.cssText = 'position:fixed;bottom:0;left:0;z-index:2147483647';
          document.body.append(box);
          const done = (fn) => (value) => { box.remove(); fn(value); };
          api.execute(api.render(box, {
            sitekey: key, action: 'start_call', execution: 'execute', appearance: 'interaction-only',
            callback: done(resolve), 'error-callback': done((code) => reject(new Error('the bot check failed: ' + code))),
          }));
        });
    try {
      return await Promise.race([token, new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the bot check did not answer')), 15000);
      })]);
    } finally {
      clearTimeout(timer);
    }
  }

  function httpErrorMessage(res, code) {
    // The website's quota is used up until the next day or month: no countdown to wait out.
    if (code === 'quota_exceeded') return MSG.unavailable;
    if (code === 'bot_check_failed') return MSG.botCheck;
    if (res.status === 403) return MSG.forbidden;
    if (res.status === 429) {
      const seconds = retryAfterSeconds(res);
      return seconds
        ? `Too many calls right now. Please try again in ${seconds} second${seconds === 1 ? '' : 's'}.`
        : MSG.busy;
    }
    if (res.status >= 400 && res.status < 500) return MSG.refused;
    return MSG.unavailable;
  }

  // The proxy's error code ({"error": "...", "message": "..."}), or '' for any other answer.
  async function errorCode(res) {
    try {
      const body = await res.json();
      return body && typeof body.error === 'string' ? body.error : '';
    } catch {
      return '';
    }
  }

  // Cross-origin, Retry-After is only readable if the proxy lists it in Access-Control-Expose-Headers.
  function retryAfterSeconds(res) {
    const value = (res.headers.get('Retry-After') || '').trim();
    if (!value) return 0;
    const seconds = /^\d+$/.test(value)
      ? Number(value)
      : Math.ceil((Date.parse(value) - Date.now()) / 1000); // HTTP-date form
    return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  }

  // A dropped connection and the agent hanging up both end in call_ended. livekit's Room (the
  // SDK's undocumented `room`) tells them apart: it tries to reconnect only after losing it.
  function watchConnection(client, onLost) {
    const room = client.room;
    if (room && typeof room.on === 'function') {
      room.on('reconnecting', onLost);
      room.on('signalReconnecting', onLost);
    }
  }

  function stopTracks(stream) {
    for (const track of stream ? stream.getTracks() : []) track.stop();
  }

  function startErrorMessage(err) {
    const name = err && err.name;
    if (name === 'NotAllowedError') return MSG.micDenied;
    if (name === 'NotFoundError') return MSG.noMic;
    return MSG.startFailed;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  class RetellWidget {
    #opts;
    #root;
    #status;
    #button;
    #hangup;
    #state = 'idle';
    #attempt = 0; // bumped whenever an attempt's late callbacks must be ignored
    #abort = null; // AbortController of the in-flight token request
    #client = null;
    #hangupTimer = 0;
    #startTimer = 0;
    #stream = null; // our microphone check, held until the SDK's call has started
    #destroyed = false;
    #onIntent = () => {
      loadSdk(this.#opts.sdkUrl).catch(() => {});
      if (this.#opts.botCheck) loadBotCheck(this.#opts.botCheck, this.#opts.botSiteKey).catch(() => {});
    };
    #onClick = () => this.start();
    #onHangup = () => this.stop();
    #onReady = () => document.body.appendChild(this.#root);

    constructor(options) {
      this.#opts = readOptions(options);
      const { position, theme, label } = this.#opts;

      const root = el('div', `retell-widget retell-widget--${position} retell-widget--theme-${theme}`);
      root.dataset.state = 'idle';
      const status = el('div', 'retell-widget__status');
      status.setAttribute('role', 'status');
      status.setAttribute('aria-live', 'polite');
      const hangup = el('button', 'retell-widget__hangup', 'Hang up');
      hangup.type = 'button';
      hangup.hidden = true;
      const button = el('button', 'retell-widget__button');
      button.type = 'button';
      button.setAttribute('aria-label', label);
      const dot = el('span', 'retell-widget__dot');
      dot.setAttribute('aria-hidden', 'true');
      button.append(dot, el('span', 'retell-widget__label', label));
      root.append(status, hangup, button);

      button.addEventListener('click', this.#onClick);
      for (const type of INTENT) button.addEventListener(type, this.#onIntent, { passive: true });
      hangup.addEventListener('click', this.#onHangup);
      this.#root = root;
      this.#status = status;
      this.#button = button;
      this.#hangup = hangup;

      // The script may be loaded in <head>, before <body> exists.
      if (document.body) this.#onReady();
      else document.addEventListener('DOMContentLoaded', this.#onReady, { once: true });
    }

    get state() {
      return this.#state;
    }

    /** Starts a call. Outcomes are reported through `state`, never by rejecting. */
    async start() {
      if (this.#destroyed || this.#state === 'connecting' || this.#state === 'in-call') return;
      const attempt = ++this.#attempt;
      const current = () => attempt === this.#attempt;
      this.#setState('connecting');

      // 1. The microphone first: no token is spent on a visitor who can't or won't talk (the
      // SDK would start the call without one). The SDK downloads meanwhile, if not already.
      const sdk = loadSdk(this.#opts.sdkUrl);
      sdk.catch(() => {});
      let mic;
      try {
        mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err) {
        if (current()) this.#fail(startErrorMessage(err), err);
        return;
      }
      if (!current()) return stopTracks(mic);
      this.#stream = mic;

      // 2. The call SDK, before the token, so that a token never waits on a download.
      let RetellWebClient;
      try {
        RetellWebClient = await sdk;
      } catch (err) {
        if (current()) this.#fail(MSG.sdk, err);
        return;
      }
      if (!current()) return;

      // 3. A fresh token on every attempt: tokens expire 30 s after creation, so never reuse one.
      // A website with a bot check sends a fresh provider token with the request.
      let bot = null;
      if (this.#opts.botCheck) {
        try {
          bot = await botToken(this.#opts.botCheck, this.#opts.botSiteKey);
        } catch (err) {
          if (current()) this.#fail(MSG.botCheck, err);
          return;
        }
        if (!current()) return;
      }
      const abort = (this.#abort = new AbortController());
      let res;
      try {
        res = await fetch(this.#opts.proxyEndpoint, {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          cache: 'no-store',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(bot ? { agent_id: this.#opts.agentId, bot_token: bot } : { agent_id: this.#opts.agentId }),
          signal: abort.signal,
        });
      } catch (err) {
        // A network failure and a CORS refusal look identical to page script.
        if (current()) this.#fail(MSG.network, err);
        return;
      }
      if (!current()) return;
      if (!res.ok) {
        const code = await errorCode(res);
        if (!current()) return;
        return this.#fail(httpErrorMessage(res, code), `token request failed: HTTP ${res.status}${code ? ` (${code})` : ''}`);
      }
      let token;
      try {
        token = (await res.json()).access_token;
      } catch (err) {
        // Not JSON (or aborted mid-body): handled just below.
      }
      if (!current()) return;
      if (typeof token !== 'string' || !token) {
        return this.#fail(MSG.unavailable, 'token response has no string access_token');
      }
      this.#abort = null;

      // 4. The call on Retell's SDK: call_ready, then call_started once connected; a start that
      // fails emits only 'error' (never call_ended) while startCall() resolves. A stand-in SDK
      // may reject instead. Decide once it settles.
      const client = (this.#client = new RetellWebClient());
      let settled = false;
      let startError = null;
      let lost = false;
      client.on('call_started', () => {
        if (!current() || this.#state !== 'connecting') return;
        clearTimeout(this.#startTimer);
        stopTracks(this.#stream); // the SDK holds its own microphone track now
        this.#stream = null;
        this.#setState('in-call');
      });
      client.on('call_ended', () => {
        if (!current()) return;
        if (this.#state === 'in-call' && !lost) this.#finish('ended');
        else this.#finish('error', this.#state === 'in-call' ? MSG.interrupted : MSG.startFailed, 'call ended');
      });
      client.on('error', (err) => {
        if (!current()) return;
        if (!settled) startError = startError || err || new Error('error event');
        else this.#finish('error', this.#state === 'in-call' ? MSG.interrupted : MSG.startFailed, err);
      });
      this.#startTimer = setTimeout(() => {
        if (current() && this.#state === 'connecting') this.#finish('error', MSG.startFailed, 'the call did not connect in time');
      }, START_TIMEOUT_MS);
      let starting;
      try {
        starting = client.startCall({ accessToken: token }); // creates the SDK's room at once
      } catch (err) {
        starting = Promise.reject(err);
      }
      watchConnection(client, () => {
        lost = true;
      });
      // Still within the click's user activation: let the agent be heard where autoplay needs it.
      if (typeof client.startAudioPlayback === 'function') {
        Promise.resolve().then(() => client.startAudioPlayback()).catch(() => {});
      }
      try {
        await starting;
      } catch (err) {
        startError = err; // a rejection carries the most specific error (e.g. NotAllowedError)
      }
      settled = true;
      if (!current()) return;
      if (startError) this.#finish('error', startErrorMessage(startError), startError);
    }

    /** Hangs up. The state becomes `ended` once the SDK confirms, or at once if no call started yet. */
    stop() {
      if (this.#state === 'connecting') {
        this.#finish('ended');
      } else if (this.#state === 'in-call' && this.#client && !this.#hangupTimer) {
        const attempt = this.#attempt;
        // Don't leave the UI stuck "In call" if call_ended never comes back.
        this.#hangupTimer = setTimeout(() => {
          if (attempt === this.#attempt) this.#finish('ended');
        }, HANGUP_GRACE_MS);
        this.#stopClient(this.#client);
      }
    }

    /** Ends any call and removes the widget from the page. */
    destroy() {
      if (this.#destroyed) return;
      if (this.#state === 'connecting' || this.#state === 'in-call') this.#finish('ended');
      this.#destroyed = true;
      document.removeEventListener('DOMContentLoaded', this.#onReady);
      this.#button.removeEventListener('click', this.#onClick);
      for (const type of INTENT) this.#button.removeEventListener(type, this.#onIntent);
      this.#hangup.removeEventListener('click', this.#onHangup);
      this.#root.remove();
    }

    // Moves to a final state (ended/error) and releases everything the attempt held,
    // bumping the attempt so its late callbacks are ignored.
    #finish(state, message, cause) {
      this.#attempt++;
      clearTimeout(this.#startTimer);
      clearTimeout(this.#hangupTimer);
      stopTracks(this.#stream);
      this.#stream = null;
      this.#hangupTimer = 0;
      if (this.#abort) this.#abort.abort();
      this.#abort = null;
      const client = this.#client;
      this.#client = null;
      if (client) {
        client.removeAllListeners();
        this.#stopClient(client); // harmless if the call already ended; releases the mic if not
      }
      if (state === 'error' && cause && startErrorMessage(cause) !== MSG.micDenied) {
        console.error('RetellWidget:', message, cause); // a user's "Block" on the mic prompt isn't a fault
      }
      this.#setState(state, message);
    }

    #fail(message, cause) {
      this.#finish('error', message, cause);
    }

    #stopClient(client) {
      try {
        client.stopCall();
      } catch (err) {
        console.error('RetellWidget: stopCall failed', err);
      }
    }

    #setState(state, message = STATUS[state]) {
      this.#state = state;
      const busy = state === 'connecting' || state === 'in-call';
      const button = this.#button;
      const hangup = this.#hangup;
      // Disabling or hiding the focused button would drop keyboard focus to <body>; move it along.
      const active = document.activeElement;
      this.#root.dataset.state = state;
      this.#status.textContent = message;
      button.disabled = busy;
      button.setAttribute('aria-disabled', String(busy));
      hangup.hidden = !busy;
      if (busy && active === button) hangup.focus();
      if (!busy && active === hangup) button.focus();
      this.#root.dispatchEvent(
        new CustomEvent('retell-widget:state', { bubbles: true, composed: true, detail: { state, message } })
      );
    }
  }

  window.RetellWidget = RetellWidget;
})();
