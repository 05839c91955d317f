// The call controller: v2's face of the call core (core/call.js, which runs the call itself):
// the panel (with the pre-call and consent steps), the levels, the transcript, the launcher's
// state (data-state, data-muted and its description), data-error, the events, and the cooldown
// after a rate limit. Imported by retell-widget.js on first
// interaction, with the panel and the strings (core/messages.js, which v1 shares).

import { Call } from './core/call.js';
import { messages } from './core/messages.js';
import { createPanel } from './panel.js';
import { createTranscript } from './transcript.js';

class Controller {
  #host;
  #events;
  #consent;
  #t;
  #announcer;
  #described; // the launcher's description: the call's state, in words
  #panel;
  #call;
  #muted = false;
  #cooldownUntil = 0; // from a 429's Retry-After
  #destroyed = false;
  #transcript = createTranscript(); // the whole conversation, from Retell's windows of it

  constructor({ host, root, options, events }) {
    this.#host = host;
    this.#events = events;
    this.#consent = options.consent;
    const t = (this.#t = messages(options.lang, options.strings));
    this.#announcer = root.querySelector('[role=status]');
    this.#described = root.getElementById('state');
    this.#panel = createPanel(root, t, options.consent, {
      primary: () => (this.#call.state === 'consent' ? this.#call.agree() : this.start()),
      hangup: () => this.stop(),
      mute: () => this.mute(!this.#muted),
      minimize: () => this.#panel.close(),
    });
    this.#panel.show('idle', t('idle'));
    this.#call = new Call(options, {
      state: (next, failure, reason) => this.#show(next, failure, reason),
      started: (callId, talking) => {
        this.#panel.setTalking(talking);
        this.#emit('call-start', { callId });
      },
      talking: (on) => this.#talking(on),
      update: (update) => this.#update(update),
      ended: (callId, reason) => this.#emit('call-end', { callId, reason }),
      failed: (failure) => this.#failed(failure),
      levels: (now) => this.#panel.levels(now),
      silent: (on) => this.#silent(on),
    });
    // Created on intent (hover, focus, touch) or a click: fetch the SDK now, off the click's path.
    this.#call.warm();
  }

  start() {
    if (this.#destroyed || this.#call.busy) return;
    this.#panel.open();
    if (Date.now() < this.#cooldownUntil) return; // the panel shows the countdown; honour Retry-After
    this.#muted = false;
    this.#transcript = createTranscript();
    this.#panel.setMuted(false);
    this.#panel.clearTranscript();
    this.#call.start();
  }

  stop() {
    this.#call.stop();
  }

  mute(on) {
    if (!this.#call.mute(on)) return;
    this.#muted = on;
    this.#panel.setMuted(on);
    this.#host.toggleAttribute('data-muted', on);
    this.#described.textContent = this.#announcer.textContent = on ? this.#t('muted') : this.#t('in-call');
  }

  open() {
    this.#panel.open();
  }

  close() {
    this.#panel.close();
  }

  // The launcher hides an open panel, else opens it and moves the keyboard into it. Only a widget
  // that is idle (no call yet) starts one: after a call it shows its transcript and "Call again".
  launch() {
    const panel = this.#panel;
    if (panel.isOpen) return panel.close();
    if (this.#call.state === 'idle' && Date.now() >= this.#cooldownUntil) this.start();
    panel.open(true);
  }

  // Removed from the page: end the call now, without waiting for the SDK.
  halt() {
    this.#call.halt();
  }

  destroy() {
    if (this.#destroyed) return;
    this.halt();
    this.#destroyed = true;
    this.#panel.destroy();
  }

  #emit(name, detail) {
    if (this.#events.includes(name)) this.#host.dispatchEvent(new CustomEvent(name, { bubbles: true, composed: true, detail }));
  }

  #show(next, failure, reason) {
    const code = failure ? failure.code : null;
    const seconds = failure ? failure.seconds : 0;
    if (seconds) this.#cooldownUntil = Date.now() + seconds * 1000;
    // An ended call says who ended it: the assistant, or the visitor (hang-up or cancel).
    const key = next === 'ended' ? ({ agent: 'ended-agent', cancelled: 'cancelled' })[reason] || 'ended' : next;
    const message = code ? this.#t(code, seconds) : this.#t(key);
    this.#host.setAttribute('data-state', next);
    if (next !== 'in-call') this.#host.removeAttribute('data-muted');
    this.#described.textContent = next === 'idle' ? '' : message;
    if (code) this.#host.setAttribute('data-error', code);
    else this.#host.removeAttribute('data-error');
    this.#panel.show(next, message, code === 'rate-limited' ? seconds : 0);
    if (next !== 'in-call') this.#panel.setTalking(false);
    // Announce each change once, in the live region that has been on the page from the start.
    // The consent step is read out with the page's text, and takes the focus (panel.js).
    this.#announcer.textContent = next === 'idle' ? '' : next === 'consent' ? `${message} ${this.#consent.text}` : message;
    this.#emit('state-change', { state: next, message, code });
  }

  #failed({ code, cause, seconds }) {
    const message = this.#t(code, seconds);
    if (code !== 'mic-denied') console.error('RetellWidget:', message, cause);
    this.#emit('error', { code, message, retryAfter: seconds || null, cause });
  }

  // The visitor's microphone has sent only silence for a while (or sends sound again): the status
  // line says so, and a screen reader hears it once.
  #silent(on) {
    const message = this.#t(on ? 'silent' : 'in-call');
    this.#panel.silent(on, message);
    if (on) this.#announcer.textContent = message;
  }

  #talking(on) {
    this.#panel.setTalking(on);
    if (!on && this.#muted) this.#panel.setMuted(true);
    this.#emit('agent-talking', { talking: on });
  }

  // Each update holds only Retell's last few utterances: merged into the whole conversation,
  // redrawing only what changed.
  #update(update) {
    if (!update || !Array.isArray(update.transcript)) return;
    const changed = this.#transcript.update(update.transcript);
    if (!changed.length) return;
    const all = this.#transcript.all();
    this.#panel.showUtterances(all, changed);
    this.#emit('transcript', { transcript: all });
  }
}

/** The controller retell-widget.js drives: start, stop, mute, open, close, launch, halt, destroy. */
export function createController(args) {
  return new Controller(args);
}
