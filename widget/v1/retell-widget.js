/*
 * Retell voice widget v1: a "talk to our assistant" button for client pages.
 * Classic script (not a module) so it can be dropped in with a plain <script src>.
 * Defines window.RetellWidget and nothing else.
 */
(function () {
  'use strict';

  // currentScript is only set while this file is first executing, so read it now. The call flow
  // (microphone, Retell's SDK, bot check, token, the call) is the call core, core/call.js beside
  // this file, imported on intent (hover, focus, touch) or a click, as v2 imports its chunks.
  // By default the SDK (Retell's retell-client-js-sdk) is the CDN's copy of the exact version this
  // release was tested with: <cdn>/sdk/2.0.8/retell-web-client.js (the build checks it).
  // Null when there is no usable base (inline script on a data: or about:blank page).
  const script = document.currentScript;
  const BASE = (script && script.src) || location.href;
  const resolve = (path) => {
    try {
      return new URL(path, BASE).href;
    } catch (err) {
      return null;
    }
  };
  const DEFAULT_SDK_URL = resolve('../sdk/2.0.8/retell-web-client.js');
  const CORE_URL = resolve('core/call.js');
  // The strings of every language, shared with v2; loaded with the call core.
  const MESSAGES_URL = resolve('core/messages.js');

  const POSITIONS = ['bottom-right', 'bottom-left', 'top-right', 'top-left'];
  const THEMES = ['purple', 'blue', 'green', 'dark'];
  // The button's label is needed before the strings load (with the core, on intent).
  const LAUNCH = {
    en: 'Talk to our assistant',
    es: 'Habla con nuestro asistente',
    de: 'Mit unserem Assistenten sprechen',
  };
  // Said when the core itself didn't load, so neither did the strings.
  const CORE_FAILED = "The call service didn't load. Please try again.";
  const BOT_CHECKS = ['turnstile', 'recaptcha'];
  const INTENT = ['pointerenter', 'focus', 'touchstart'];
  // "Call ended." stays this long, then the widget is idle again.
  const ENDED_MS = 10000;
  // An ended call says who ended it: the assistant, or the visitor (hang-up or cancel).
  const ENDED = { agent: 'ended-agent', cancelled: 'cancelled' };

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
    for (const name of ['sdkUrl', 'label', 'botSiteKey', 'lang']) {
      if (o[name] != null && typeof o[name] !== 'string') {
        throw new TypeError(`RetellWidget: option "${name}" must be a string (got ${describe(o[name])})`);
      }
    }
    if (o.botCheck != null && !(o.botSiteKey || '').trim()) {
      throw new TypeError(`RetellWidget: option "botSiteKey" must be set with botCheck (got ${describe(o.botSiteKey)})`);
    }
    // As v2: the option, else the page's language, else English.
    const lang = (o.lang || document.documentElement.lang || 'en').toLowerCase().split('-')[0];
    return {
      agentId: o.agentId,
      proxyEndpoint: parseUrl(o.proxyEndpoint, 'proxyEndpoint'),
      position: oneOf(o.position, POSITIONS, 'position'),
      theme: oneOf(o.theme, THEMES, 'theme'),
      // Resolved against the page, not against this script (which is what a bare import() would do).
      sdkUrl: o.sdkUrl ? parseUrl(o.sdkUrl, 'sdkUrl') : DEFAULT_SDK_URL,
      lang: LAUNCH[lang] ? lang : 'en',
      label: (o.label && o.label.trim()) || LAUNCH[LAUNCH[lang] ? lang : 'en'],
      botCheck: o.botCheck == null ? null : oneOf(o.botCheck, BOT_CHECKS, 'botCheck'),
      botSiteKey: o.botCheck == null ? null : o.botSiteKey.trim(),
      dynamicVariables: variables(o.dynamicVariables),
      consent: consent(o.consent),
    };
  }

  // {name: value} of strings, sent as retell_llm_dynamic_variables; null when empty.
  function variables(v) {
    if (v == null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new TypeError(`RetellWidget: option "dynamicVariables" must be an object of strings (got ${describe(v)})`);
    }
    for (const [key, value] of Object.entries(v)) {
      if (typeof value !== 'string') {
        throw new TypeError(`RetellWidget: option "dynamicVariables" must map "${key}" to a string (got ${describe(value)})`);
      }
    }
    return Object.keys(v).length ? { ...v } : null;
  }

  // {text, url}: shown before the microphone prompt; url is optional, http(s) only. The text is
  // kept exactly as given: its hash must match the one the proxy computes from the registry.
  function consent(c) {
    if (c == null) return null;
    if (typeof c !== 'object' || typeof c.text !== 'string' || !c.text.trim()) {
      throw new TypeError(`RetellWidget: option "consent" must have a non-empty text (got ${describe(c && c.text)})`);
    }
    if (c.url == null || c.url === '') return { text: c.text, url: null };
    const url = parseUrl(c.url, 'consent');
    if (!/^https?:/.test(url)) throw new RangeError(`RetellWidget: option "consent" url must be http: or https: (got ${describe(c.url)})`);
    return { text: c.text, url };
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
    #consent = null; // the consent step's element, made when first shown
    #t = null; // the strings, once loaded with the core
    #state = 'idle';
    #until = 0; // when a rate limit's Retry-After has passed (Date.now() time)
    #timer = 0; // the countdown's interval, or the timeout that clears "Call ended." (clearInterval clears either)
    #call = null; // the call core's Call, once imported
    #loading = null; // the call core's import, in flight or done
    #destroyed = false;
    #onIntent = () => this.#core().catch(() => {});
    // After a call or an error a click clears the message and makes no call: the next click
    // does. A rate limit's button counts down, then says "Try again", and then tries again.
    #onClick = () => {
      const state = this.#state;
      if (Date.now() < this.#until) return;
      if (state === 'ended' || (state === 'error' && !this.#until)) this.#setState('idle');
      else this.start();
    };
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
      if (this.#destroyed || this.#state === 'connecting' || this.#state === 'in-call' || Date.now() < this.#until) return;
      let call;
      try {
        call = await this.#core();
      } catch (err) {
        if (!this.#destroyed) this.#show('error', { code: 'sdk', cause: err, seconds: 0, status: 0 });
        return;
      }
      if (!this.#destroyed) call.start();
    }

    /** Hangs up. The state becomes `ended` once the SDK confirms, or at once if no call started yet. */
    stop() {
      if (this.#call) this.#call.stop();
    }

    /** Ends any call and removes the widget from the page. */
    destroy() {
      if (this.#destroyed) return;
      if (this.#call) this.#call.halt();
      this.#destroyed = true;
      clearInterval(this.#timer);
      document.removeEventListener('DOMContentLoaded', this.#onReady);
      this.#button.removeEventListener('click', this.#onClick);
      for (const type of INTENT) this.#button.removeEventListener(type, this.#onIntent);
      this.#hangup.removeEventListener('click', this.#onHangup);
      this.#root.remove();
    }

    // The call core, imported once per widget on intent or a click, as v2 imports its controller;
    // a failed import is forgotten, so that "try again" really tries again.
    #core() {
      if (!this.#loading) {
        const imported = CORE_URL
          ? Promise.all([import(CORE_URL), import(MESSAGES_URL)])
          : Promise.reject(new TypeError('RetellWidget: no base URL for core/call.js'));
        const load = (this.#loading = imported.then(([core, strings]) => {
          if (!this.#call) {
            this.#t = strings.messages(this.#opts.lang, {});
            this.#hangup.textContent = this.#t('hangup');
            this.#call = new core.Call(this.#opts, { state: (next, failure, why) => this.#show(next, failure, why) });
            this.#call.warm(); // on intent (or a click): fetch the SDK now, off the click's path
          }
          return this.#call;
        }));
        load.catch(() => {
          if (this.#loading === load) this.#loading = null;
        });
      }
      return this.#loading;
    }

    // The call core's states, v1's way: asking for the microphone is part of connecting.
    #show(next, failure, why) {
      const state = next === 'requesting-microphone' ? 'connecting' : next;
      if (state === 'connecting' && this.#state === 'connecting') return;
      const t = this.#t || ((key) => (key === 'sdk' ? CORE_FAILED : ''));
      const key = state === 'ended' ? ENDED[why] || state : state;
      const text = failure ? t(failure.code, failure.seconds) : state === 'idle' ? '' : t(key);
      // A visitor's "Block" on the microphone prompt isn't a fault.
      if (failure && failure.code !== 'mic-denied') console.error('RetellWidget:', text, failure.cause);
      // The proxy's 429 and Retell's (its 503 with Retry-After) alike: wait as long as told.
      this.#setState(state, text, failure && failure.code === 'rate-limited' ? failure.seconds : 0);
    }

    // The button's words are its accessible name too.
    #label(text) {
      this.#button.lastChild.textContent = text;
      this.#button.setAttribute('aria-label', text);
    }

    // "Try again in N s" on the button (aria-disabled) until Retry-After has passed, then "Try again".
    #countdown(wait) {
      this.#until = Date.now() + wait * 1000;
      const tick = () => {
        const left = Math.ceil((this.#until - Date.now()) / 1000);
        this.#button.setAttribute('aria-disabled', String(left > 0));
        this.#label(this.#t(left > 0 ? 'retryIn' : 'retry', left));
        if (left <= 0) clearInterval(this.#timer);
      };
      tick();
      this.#timer = setInterval(tick, 250);
    }

    // The consent step, in v1's own markup: the website's text, its link, Agree and start, Cancel.
    #consentStep() {
      if (!this.#consent) {
        const { text, url } = this.#opts.consent;
        const t = this.#t;
        const step = el('div', 'retell-widget__consent');
        step.setAttribute('role', 'group');
        step.tabIndex = -1;
        const words = el('p', 'retell-widget__consent-text', text);
        words.id = `retell-widget-consent-${Math.random().toString(36).slice(2)}`;
        step.setAttribute('aria-labelledby', words.id);
        step.append(words);
        if (url) {
          const link = el('a', 'retell-widget__consent-link', t('consentLink'));
          link.href = url;
          link.target = '_blank';
          link.rel = 'noopener';
          step.append(link);
        }
        const agree = el('button', 'retell-widget__agree', t('agree'));
        const cancel = el('button', 'retell-widget__cancel', t('cancel'));
        agree.type = cancel.type = 'button';
        agree.addEventListener('click', () => this.#call && this.#call.agree());
        cancel.addEventListener('click', () => this.stop());
        const actions = el('div', 'retell-widget__consent-actions');
        actions.append(agree, cancel);
        step.append(actions);
        step.hidden = true;
        this.#status.after(step);
        this.#consent = step;
      }
      return this.#consent;
    }

    #setState(state, message = '', wait = 0) {
      const asking = state === 'consent';
      const step = asking || this.#consent ? this.#consentStep() : null;
      const wasAsking = this.#state === 'consent';
      this.#state = state;
      const busy = state === 'connecting' || state === 'in-call';
      const button = this.#button;
      const hangup = this.#hangup;
      // Disabling or hiding the focused button would drop keyboard focus to <body>; move it along.
      const active = document.activeElement;
      const t = this.#t;
      this.#root.dataset.state = state;
      this.#status.textContent = message;
      button.disabled = busy;
      button.setAttribute('aria-disabled', String(busy));
      // In a call the button says so ("Connecting…", "In call"); else it is the launcher again.
      this.#label(busy ? t(state) : this.#opts.label);
      if (t) hangup.textContent = t(state === 'connecting' ? 'cancel' : 'hangup');
      hangup.hidden = !busy;
      clearInterval(this.#timer);
      this.#until = 0;
      if (wait > 0) this.#countdown(wait);
      if (state === 'ended') this.#timer = setTimeout(() => this.#setState('idle'), ENDED_MS);
      if (step) step.hidden = !asking;
      // The consent step takes the focus, so its text is read first; leaving it gives it back.
      if (asking) step.focus();
      else if (wasAsking && step.contains(active)) (busy ? hangup : button).focus();
      if (busy && active === button) hangup.focus();
      if (!busy && active === hangup) button.focus();
      this.#root.dispatchEvent(
        new CustomEvent('retell-widget:state', { bubbles: true, composed: true, detail: { state, message } })
      );
    }
  }

  window.RetellWidget = RetellWidget;
})();
