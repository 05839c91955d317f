/*
 * Retell voice widget v2, the part every page loads: the <retell-widget> element, the
 * v1-compatible `new RetellWidget(options)` constructor and the launcher button.
 * A classic script, so the v1 snippet shape keeps working; the call itself (call.js, panel.js,
 * core/, then Retell's call SDK) is imported on first hover, focus or click.
 */
(() => {
  'use strict';

  const TAG = 'retell-widget';
  if (customElements.get(TAG)) return; // loaded twice: the first copy stays in charge

  // currentScript is only set while this file first runs. Chunks sit beside this file; the SDK,
  // by default, in the CDN's sdk/ folder beside the version folders, at the exact version this
  // release was tested with (the build checks it matches widget/sdk/).
  const script = document.currentScript;
  const BASE = (script && script.src) || location.href;
  const POSITIONS = ['bottom-right', 'bottom-left', 'top-right', 'top-left'];
  const THEMES = ['purple', 'blue', 'green', 'dark', 'rose', 'teal'];
  const SCHEMES = ['light', 'dark', 'auto'];
  const EVENTS = ['call-start', 'call-end', 'transcript', 'agent-talking', 'error', 'state-change'];
  // Option -> attribute. Attributes are the element's configuration; options the constructor's.
  const ATTRS = {
    agentId: 'agent-id',
    proxyEndpoint: 'proxy-endpoint',
    position: 'position',
    theme: 'theme',
    scheme: 'scheme',
    sdkUrl: 'sdk-url',
    label: 'label',
    lang: 'lang',
    strings: 'strings',
    botCheck: 'bot-check',
    botSiteKey: 'bot-site-key',
    dynamicVariables: 'dynamic-variables',
    consentText: 'consent-text',
    consentUrl: 'consent-url',
    consent: 'consent-text, consent-url',
  };
  const STATE = 'data-state';
  const MIC = 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11z';
  // The launcher's label is needed before any chunk loads; every other string is in core/messages.js.
  const LAUNCH = {
    en: 'Talk to our assistant',
    es: 'Habla con nuestro asistente',
    de: 'Mit unserem Assistenten sprechen',
  };

  const CSS = `
:host{all:initial!important;position:fixed!important;z-index:2147483647!important;display:block!important;
inset:auto var(--retell-offset,16px) var(--retell-offset,16px) auto!important;margin:0!important;padding:0!important;
border:0!important;background:none!important;overflow:visible!important;width:auto!important;height:auto!important;
max-width:none!important;max-height:none!important;visibility:visible!important;opacity:1!important;
transform:none!important;pointer-events:none!important;color-scheme:light;
--_a:#6d28d9;--_at:#fff;--_s:#fff;--_t:#1f2937;--_m:#4b5563;--_d:#b91c1c;--_b:#d1d5db;--_f:#1f2937;--_l:#15803d}
:host([position=bottom-left]){inset:auto auto var(--retell-offset,16px) var(--retell-offset,16px)!important}
:host([position=top-right]){inset:var(--retell-offset,16px) var(--retell-offset,16px) auto auto!important}
:host([position=top-left]){inset:var(--retell-offset,16px) auto auto var(--retell-offset,16px)!important}
:host([theme=blue]){--_a:#1d4ed8}:host([theme=green]){--_a:#15803d}:host([theme=rose]){--_a:#be123c}
:host([theme=teal]){--_a:#0f766e}:host([theme=dark]){--_a:#111827}
:host([scheme=dark]),:host([theme=dark]:not([scheme])){color-scheme:dark;--_s:#111827;--_t:#f9fafb;--_m:#d1d5db;--_b:#4b5563;--_f:#f9fafb;--_l:#4ade80}
:host([scheme=dark][theme=dark]){--_a:#374151}
@media (prefers-color-scheme:dark){:host(:not([scheme=light])){color-scheme:dark;--_s:#111827;--_t:#f9fafb;--_m:#d1d5db;--_b:#4b5563;--_f:#f9fafb;--_l:#4ade80}
:host([theme=dark]:not([scheme=light])){--_a:#374151}}
.root{display:flex;flex-direction:column-reverse;align-items:flex-end;gap:12px;
font:400 15px/1.4 var(--retell-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif);color:var(--retell-text,var(--_t));
--a:var(--retell-accent,var(--_a));--at:var(--retell-accent-text,var(--_at))}
:host([position$=left]) .root{align-items:flex-start}
:host([position^=top]) .root{flex-direction:column}
:host(:not([data-state])) .root{display:none}
[hidden]{display:none!important}
.bar{display:flex;align-items:center;gap:8px}:host([position$=left]) .bar{flex-direction:row-reverse}
button{pointer-events:auto;font:inherit;margin:0;cursor:pointer;-webkit-tap-highlight-color:transparent}
.launcher{position:relative;display:inline-flex;align-items:center;gap:10px;min-height:48px;padding:0 20px 0 16px;border:0;
border-radius:var(--retell-radius,999px);background:var(--a);color:var(--at);font-weight:600;
box-shadow:0 0 0 1px rgb(255 255 255/.25),0 4px 16px rgb(0 0 0/.25)}
button:focus-visible,[tabindex]:focus-visible{outline:3px solid var(--retell-focus,var(--_f));outline-offset:2px;box-shadow:0 0 0 2px var(--retell-surface,var(--_s))}
.icon{flex:none;display:grid;place-items:center;width:22px;height:22px}.icon>*{grid-area:1/1}
svg{width:22px;height:22px;fill:currentColor}
.spin,.bars{display:none}
:host([data-state=connecting]) .spin,:host([data-state=requesting-microphone]) .spin{display:block;width:16px;height:16px;
border:3px solid currentColor;border-right-color:transparent;border-radius:50%;animation:r 1s linear infinite}
:host([data-state=in-call]) .bars{display:flex;align-items:center;gap:3px;height:20px}
:host([data-state=connecting]) .mic,:host([data-state=requesting-microphone]) .mic,:host([data-state=in-call]) .mic{display:none}
.bars i{width:4px;height:100%;border-radius:2px;background:currentColor;transform:scaleY(calc(.25 + var(--la,0) * .75))}
.bars i:nth-child(2){transform:scaleY(calc(.35 + var(--la,0) * .65))}
@keyframes r{to{transform:rotate(1turn)}}
:host([data-state=in-call]) .launcher{box-shadow:0 0 0 3px var(--retell-live,var(--_l)),0 4px 16px rgb(0 0 0/.25)}
.badge{position:absolute;top:-4px;right:-4px;width:20px;height:20px;border-radius:50%;border:2px solid var(--retell-surface,var(--_s));
box-sizing:border-box;background:var(--retell-danger,var(--_d)) linear-gradient(45deg,transparent 44%,#fff 44% 56%,transparent 56%)}
:host(:not([data-muted])) .badge{display:none}
.sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (max-width:480px){.launcher{width:56px;height:56px;padding:0;justify-content:center}
.launcher .label{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}
.bars i,.bars i:nth-child(2){transform:none;opacity:calc(.4 + var(--la,0) * .6)}}`;

  let sheet = null; // one constructable sheet for every widget: allowed under a strict style-src
  function styles() {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
    }
    return sheet;
  }

  // DOM by hand rather than innerHTML, so pages enforcing Trusted Types accept it too.
  function h(tag, attrs, ...children) {
    const node = tag === 'svg' || tag === 'path' ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  let template = null;
  function content() {
    if (!template) {
      template = document.createElement('template');
      template.content.append(
        // Every language the widget speaks is written left to right, whatever the page's direction;
        // transcript lines follow their own words (dir=auto, panel.js).
        h('div', { class: 'root', part: 'root', dir: 'ltr' },
          // The launcher shows the call's state without motion: a microphone when idle, a ring
          // while connecting, level bars and a coloured ring in a call, a badge when muted. Its name
          // stays the label; the state is its description (#state).
          h('div', { class: 'bar', part: 'launcher-bar' },
            h('button', { class: 'launcher', part: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'panel', 'aria-describedby': 'state' },
              h('span', { class: 'icon', 'aria-hidden': 'true' },
                h('svg', { class: 'mic', viewBox: '0 0 24 24' }, h('path', { d: MIC })),
                h('span', { class: 'spin' }), h('span', { class: 'bars' }, h('i'), h('i'), h('i'))),
              h('span', { class: 'label' }),
              h('span', { class: 'badge', 'aria-hidden': 'true' }))),
          h('span', { id: 'state', hidden: '' }),
          h('div', { class: 'sr', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' }))
      );
    }
    return template.content.cloneNode(true);
  }

  // Describe a bad value without calling its toString().
  const describe = (v) => (typeof v === 'string' ? JSON.stringify(v) : typeof v);
  const bad = (Err, name, what, value) =>
    new Err(`RetellWidget: option "${name}" (attribute ${ATTRS[name]}) ${what} (got ${describe(value)})`);

  function url(value, name) {
    try {
      return new URL(value, location.href).href;
    } catch {
      throw bad(TypeError, name, 'is not a valid URL', value);
    }
  }

  function oneOf(value, allowed, name) {
    if (value == null) return allowed[0];
    if (!allowed.includes(value)) throw bad(RangeError, name, 'must be one of ' + allowed.join(', '), value);
    return value;
  }

  // {name: value} of strings, or null when empty (nothing is sent then).
  function variables(v) {
    if (v == null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad(TypeError, 'dynamicVariables', 'must be an object of strings', v);
    for (const [key, value] of Object.entries(v)) {
      if (typeof value !== 'string') throw bad(TypeError, 'dynamicVariables', `must map "${key}" to a string`, value);
    }
    return Object.keys(v).length ? { ...v } : null;
  }

  // The text is kept exactly as given: its hash must match the one the proxy computes.
  function consent(c) {
    if (c == null) return null;
    if (typeof c !== 'object' || typeof c.text !== 'string' || !c.text.trim()) throw bad(TypeError, 'consent', 'must have a non-empty text', c && c.text);
    if (c.url == null || c.url === '') return { text: c.text, url: null };
    const href = url(c.url, 'consent');
    if (!/^https?:/.test(href)) throw bad(RangeError, 'consent', 'url must be http: or https:', c.url);
    return { text: c.text, url: href };
  }

  function readOptions(o, host) {
    if (!o || typeof o !== 'object') throw new TypeError('RetellWidget: options must be an object');
    for (const name of ['agentId', 'proxyEndpoint']) {
      if (typeof o[name] !== 'string' || !o[name].trim()) throw bad(TypeError, name, 'must be a non-empty string', o[name]);
    }
    for (const name of ['sdkUrl', 'label', 'lang', 'botSiteKey']) {
      if (o[name] != null && typeof o[name] !== 'string') throw bad(TypeError, name, 'must be a string', o[name]);
    }
    if (o.strings != null && typeof o.strings !== 'object') throw bad(TypeError, 'strings', 'must be an object', o.strings);
    if (o.botCheck != null && !(o.botSiteKey || '').trim()) throw bad(TypeError, 'botSiteKey', 'must be set with botCheck', o.botSiteKey);
    const lang = (o.lang || (host.parentElement && host.parentElement.closest('[lang]')?.lang) || document.documentElement.lang || 'en')
      .toLowerCase().split('-')[0];
    return {
      agentId: o.agentId.trim(),
      proxyEndpoint: url(o.proxyEndpoint, 'proxyEndpoint'),
      position: oneOf(o.position, POSITIONS, 'position'),
      theme: oneOf(o.theme, THEMES, 'theme'),
      scheme: o.scheme == null ? null : oneOf(o.scheme, SCHEMES, 'scheme'),
      // Resolved against the page, like v1; without one, the CDN's copy of Retell's SDK.
      sdkUrl: url(o.sdkUrl || new URL('../sdk/2.0.8/retell-web-client.js', BASE).href, 'sdkUrl'),
      lang: LAUNCH[lang] ? lang : 'en',
      strings: { ...o.strings },
      label: (o.label && o.label.trim()) || '',
      botCheck: o.botCheck == null ? null : oneOf(o.botCheck, ['turnstile', 'recaptcha'], 'botCheck'),
      botSiteKey: o.botCheck == null ? null : o.botSiteKey.trim(),
      dynamicVariables: variables(o.dynamicVariables),
      consent: consent(o.consent),
    };
  }

  function fromAttributes(host) {
    const o = {};
    for (const [name, attr] of Object.entries(ATTRS)) {
      const value = host.getAttribute(attr);
      if (value != null) o[name] = value;
    }
    if (o.strings != null) {
      try {
        o.strings = JSON.parse(o.strings);
      } catch {
        throw bad(TypeError, 'strings', 'must be a JSON object', o.strings);
      }
    }
    if (o.dynamicVariables != null) {
      try {
        o.dynamicVariables = JSON.parse(o.dynamicVariables);
      } catch {
        throw bad(TypeError, 'dynamicVariables', 'must be a JSON object of strings', o.dynamicVariables);
      }
    }
    if (o.consentText != null || o.consentUrl != null) o.consent = { text: o.consentText, url: o.consentUrl };
    delete o.consentText;
    delete o.consentUrl;
    if (o.lang === '') delete o.lang;
    return o;
  }

  class RetellWidget extends HTMLElement {
    #o = null; // validated options
    #ctl = null; // promise of the call controller (call.js), created on first interaction
    #subs = []; // [name, fn] added through on()
    #destroyed = false;
    #launcher;
    #warm = () => this.#controller().catch(() => {});
    #click = () => this.#with((c) => c.launch());
    #attach = () => document.body.append(this);

    constructor(options) {
      super();
      const root = this.attachShadow({ mode: 'open' });
      root.adoptedStyleSheets = [styles()];
      root.append(content());
      this.#launcher = root.querySelector('.launcher');
      for (const type of ['pointerenter', 'focus', 'touchstart']) this.#launcher.addEventListener(type, this.#warm, { passive: true });
      this.#launcher.addEventListener('click', this.#click);
      // Created by the parser or createElement: configured by attributes when connected.
      if (options === undefined) return;
      this.#configure(readOptions(options, this));
      for (const name of ['position', 'theme', 'scheme']) if (this.#o[name]) this.setAttribute(name, this.#o[name]);
      // The v1 constructor adds the widget to the page; its script may run in <head>.
      if (document.body) this.#attach();
      else document.addEventListener('DOMContentLoaded', this.#attach, { once: true });
    }

    connectedCallback() {
      if (this.#destroyed) return;
      if (!this.#o) this.#configure(readOptions(fromAttributes(this), this)); // throws, naming the attribute
      // The top layer is above every z-index on the page, and immune to its transforms.
      if (this.showPopover && !this.matches(':popover-open')) {
        this.popover = 'manual';
        try {
          this.showPopover();
        } catch {
          // Not shown as a popover (e.g. inside a modal dialog): position:fixed still applies.
        }
      }
    }

    disconnectedCallback() {
      // A single-page app removed us: end any call so the microphone is released.
      if (this.#ctl) this.#with((c) => c.halt());
    }

    get state() {
      return this.getAttribute(STATE) || 'idle';
    }

    start() { return this.#with((c) => c.start()); }
    stop() { return this.#with((c) => c.stop()); }
    mute() { return this.#with((c) => c.mute(true)); }
    unmute() { return this.#with((c) => c.mute(false)); }
    open() { return this.#with((c) => c.open()); }
    close() { return this.#with((c) => c.close()); }

    /** Adds a listener for one of the widget's events; returns a function that removes it. */
    on(name, fn) {
      if (!EVENTS.includes(name)) throw new RangeError(`RetellWidget: on() takes one of ${EVENTS.join(', ')} (got ${describe(name)})`);
      if (typeof fn !== 'function') throw new TypeError('RetellWidget: on() needs a listener function');
      const sub = [name, fn];
      this.addEventListener(name, fn);
      this.#subs.push(sub);
      return () => {
        this.removeEventListener(name, fn);
        this.#subs = this.#subs.filter((s) => s !== sub);
      };
    }

    /** Ends any call, releases the microphone and removes every node and listener. */
    destroy() {
      if (this.#destroyed) return;
      this.#destroyed = true;
      const done = this.#ctl && this.#ctl.then((c) => c.destroy(), () => {});
      document.removeEventListener('DOMContentLoaded', this.#attach);
      for (const type of ['pointerenter', 'focus', 'touchstart']) this.#launcher.removeEventListener(type, this.#warm);
      this.#launcher.removeEventListener('click', this.#click);
      for (const [name, fn] of this.#subs) this.removeEventListener(name, fn);
      this.#subs = [];
      if (this.matches(':popover-open')) this.hidePopover();
      this.shadowRoot.replaceChildren();
      this.shadowRoot.adoptedStyleSheets = [];
      this.remove();
      return done || Promise.resolve();
    }

    #configure(o) {
      this.#o = o;
      this.#launcher.querySelector('.label').textContent = o.label || o.strings.launch || LAUNCH[o.lang];
      this.setAttribute(STATE, 'idle');
    }

    // Runs fn with the controller, loading it first; API calls after destroy() do nothing.
    async #with(fn) {
      if (this.#destroyed || !this.#o) return;
      const c = await this.#controller().catch((cause) => {
        // Our own chunks didn't load (so neither did the strings): say so in English or as overridden.
        const message = this.#o.strings.sdk || "The call service didn't load. Please try again.";
        console.error('RetellWidget:', message, cause);
        this.setAttribute(STATE, 'error');
        this.setAttribute('data-error', 'sdk');
        this.shadowRoot.querySelector('[role=status]').textContent = message;
        this.dispatchEvent(new CustomEvent('error', { bubbles: true, composed: true, detail: { code: 'sdk', message, retryAfter: null, cause } }));
      });
      if (c && !this.#destroyed) return fn(c);
    }

    #controller() {
      if (!this.#ctl) {
        const load = this.#ctl = import(new URL('call.js', BASE).href).then((m) =>
          m.createController({ host: this, root: this.shadowRoot, options: this.#o, events: EVENTS }));
        // Forget a failed load, so that trying again really tries again.
        load.catch(() => {
          if (this.#ctl === load) this.#ctl = null;
        });
      }
      return this.#ctl;
    }
  }

  customElements.define(TAG, RetellWidget);
  window.RetellWidget = RetellWidget;
})();
