// The call panel: status, the pre-call step (why the microphone, the consent text, progress), live
// levels of both sides, the transcript, mute, hang up and retry; and the two buttons the launcher
// gets during a call (mute and hang up), so a minimised call stays in reach.
// Loaded with the call controller on first interaction; it only renders, the controller decides.

const CSS = `
.panel{pointer-events:auto;box-sizing:border-box;display:flex;flex-direction:column;gap:10px;padding:16px;
width:min(340px,calc(100vw - 2 * var(--retell-offset,16px)));max-height:min(520px,calc(100vh - 104px));
border:1px solid var(--_b);border-radius:16px;background:var(--retell-surface,var(--_s));color:var(--retell-text,var(--_t));
box-shadow:0 8px 32px rgb(0 0 0/.25);overflow:hidden}
.panel:focus{outline:none}
.head{display:flex;align-items:center;gap:4px}
.title{margin:0 auto 0 0;font-weight:700;font-size:16px}
.status{margin:0;overflow-wrap:anywhere}
:host([data-state=error]) .status,.silent .status{border-left:4px solid var(--retell-danger,var(--_d));padding-left:8px}
.why{margin:0;font-size:14px;color:var(--retell-muted,var(--_m))}
.steps{display:flex;gap:6px;margin:0;padding:0;list-style:none;font-size:13px;color:var(--retell-muted,var(--_m))}
.steps li{flex:1;min-width:0;padding-top:6px;border-top:4px solid var(--_b);overflow-wrap:anywhere}
.steps .done{border-color:var(--a)}.steps [aria-current]{border-color:var(--a);color:var(--retell-text,var(--_t));font-weight:700}
.levels{display:grid;grid-template-columns:auto 1fr;align-items:center;gap:4px 8px;margin:0;font-size:13px;color:var(--retell-muted,var(--_m))}
.levels i{height:8px;border-radius:4px;background:var(--_b);overflow:hidden}
.levels i::before{content:"";display:block;height:100%;background:var(--retell-text,var(--_t));transform-origin:left;transform:scaleX(var(--la,0))}
.levels i.you::before{background:var(--retell-live,var(--_l));transform:scaleX(var(--ly,0))}
.talking{margin:0;font-size:14px;color:var(--retell-muted,var(--_m))}
.log{margin:0;overflow:auto;min-height:48px;max-height:220px;display:flex;flex-direction:column;gap:6px;font-size:14px;
border-radius:8px;overscroll-behavior:contain}
.log p{margin:0;padding:6px 10px;border-radius:10px;background:rgb(127 127 127/.14);overflow-wrap:anywhere}
.log b{margin-inline-end:4px}
.consent{margin:0;display:flex;flex-direction:column;gap:6px;font-size:14px;border-radius:8px;max-height:200px;overflow:auto;padding:6px}
.consent p{margin:0;white-space:pre-line}.consent a{color:inherit;font-weight:600}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin-top:auto}
.actions button{min-height:44px;max-width:100%;padding:4px 16px;border:1px solid transparent;border-radius:999px;font-weight:600;overflow-wrap:anywhere}
.primary{background:var(--a);color:var(--at)}
.primary[aria-disabled=true]{cursor:not-allowed}
.mute,.asking .hangup{background:transparent;color:inherit;border-color:var(--_m)!important}
.mute[aria-pressed=true]{background:var(--retell-text,var(--_t));color:var(--retell-surface,var(--_s))}
.hangup{background:var(--retell-danger,var(--_d));color:#fff}
.tool{flex:none;min-width:44px;min-height:44px;border:0;border-radius:8px;background:transparent;color:inherit;display:grid;place-items:center}
.tool svg,.mini svg{width:22px;height:22px;fill:currentColor}
.busy{height:min(520px,calc(100vh - 104px))}.busy .log{flex:1 1 0;max-height:none}
.wide{width:min(560px,calc(100vw - 2 * var(--retell-offset,16px)));max-height:calc(100vh - 104px)}
.wide .log{flex:1 1 auto;max-height:none;min-height:min(360px,40vh)}.wide.busy{height:calc(100vh - 104px)}
.mini{width:44px;height:44px;border-radius:50%;border:0;display:grid;place-items:center;box-shadow:0 4px 16px rgb(0 0 0/.25);
background:var(--retell-surface,var(--_s));color:var(--retell-text,var(--_t))}
.mini[aria-pressed=true]{background:var(--retell-text,var(--_t));color:var(--retell-surface,var(--_s))}
.mini.end{background:var(--retell-danger,var(--_d));color:#fff}
@media (max-width:480px),(max-height:520px){.panel,.wide{position:fixed;inset:0;width:auto;height:auto;max-height:none;border:0;border-radius:0}
.log,.wide .log{flex:1 1 0;max-height:none;min-height:48px}.expand{display:none}}`;

// Icons (24 x 24): expand, shrink, microphone off, hang up.
const ICONS = {
  expand: 'M4 4h6v2H6v4H4zm10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z',
  shrink: 'M8 4h2v6H4V8h4zm6 0h2v4h4v2h-6zM4 14h6v6H8v-4H4zm10 0h6v2h-4v4h-2z',
  mute: 'M19 11h-2c0 .74-.16 1.43-.43 2.05l1.5 1.5A7 7 0 0 0 19 11zm-4 .17V5a3 3 0 0 0-5.94-.6zM4.27 3 3 4.27l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.92V21h2v-3.08a7 7 0 0 0 3.5-1.35L19.73 21 21 19.73z',
  hangup: 'M12 9c-1.6 0-3.15.25-4.6.72v3.1c0 .39-.23.74-.56.9-.98.49-1.87 1.12-2.66 1.85a1 1 0 0 1-1.41-.01L.29 13.08a1 1 0 0 1 0-1.41C3.34 8.78 7.46 7 12 7s8.66 1.78 11.71 4.67a1 1 0 0 1 0 1.41l-2.48 2.48a1 1 0 0 1-1.41.01 11 11 0 0 0-2.67-1.85 1 1 0 0 1-.56-.9v-3.1C15.15 9.25 13.6 9 12 9z',
};
const BUSY = ['requesting-microphone', 'connecting', 'in-call'];
const PRE = ['consent', 'requesting-microphone', 'connecting'];
const STEPS = ['step-mic', 'step-connect', 'step-call'];

let sheet = null;

function h(tag, attrs, ...children) {
  const node = tag === 'svg' || tag === 'path' ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const icon = (name) => h('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' }, h('path', { d: ICONS[name] }));

function button(cls, part, handler, attrs, ...children) {
  const b = h('button', { class: cls, part, type: 'button', ...attrs }, ...children);
  b.addEventListener('click', () => b.getAttribute('aria-disabled') !== 'true' && handler());
  return b;
}

// The pre-call step: why the microphone is asked for, and the progress from the microphone to the call.
function preCall(t) {
  const steps = h('ol', { class: 'steps', part: 'steps', 'aria-label': t('steps') }, ...STEPS.map((key) => h('li', {}, t(key))));
  return { pre: h('div', { class: 'pre', part: 'pre-call' }, h('p', { class: 'why' }, t('why')), steps), steps };
}

// The website's consent text (in its own words) and its link; Agree and start / Cancel are the actions.
function consentStep(t, consent) {
  const node = h('div', { class: 'consent', part: 'consent', role: 'group', 'aria-labelledby': 'consent', tabindex: '-1', hidden: '' });
  if (consent) {
    node.append(h('p', { id: 'consent' }, consent.text));
    if (consent.url) node.append(h('a', { href: consent.url, target: '_blank', rel: 'noopener', part: 'consent-link' }, t('consentLink')));
  }
  return node;
}

// The panel's nodes, built by hand (no innerHTML: pages enforcing Trusted Types accept it).
function build(t, consent, on) {
  const { pre, steps } = preCall(t);
  const parts = {
    status: h('p', { class: 'status', part: 'status' }),
    pre,
    steps,
    consent: consentStep(t, consent),
    // Levels are drawn, not announced (20 changes a second); the talking line and the silence
    // warning say in words what they show.
    levels: h('div', { class: 'levels', part: 'levels', 'aria-hidden': 'true' }, t('agent'), h('i'), t('you'), h('i', { class: 'you' })),
    talking: h('p', { class: 'talking', part: 'talking' }),
    log: h('div', { class: 'log', part: 'transcript', role: 'log', 'aria-live': 'off', 'aria-label': t('transcript'), tabindex: '0', hidden: '' }),
    primary: button('primary', 'button primary', on.primary),
    hangup: button('hangup', 'button hangup', on.hangup),
    mute: button('mute', 'button mute', on.mute, { 'aria-pressed': 'false' }),
    expand: button('tool expand', 'expand', on.expand, { 'aria-expanded': 'false', 'aria-label': t('expand') }, icon('expand')),
    minimize: button('tool', 'minimize', on.minimize, { 'aria-label': t('minimize') }, '–'),
    miniMute: button('mini', 'mini-mute', on.mute, { 'aria-pressed': 'false', 'aria-label': t('mute'), hidden: '' }, icon('mute')),
    miniHangup: button('mini end', 'mini-hangup', on.hangup, { 'aria-label': t('hangup'), hidden: '' }, icon('hangup')),
  };
  parts.panel = h('section', { class: 'panel', part: 'panel', id: 'panel', role: 'dialog', 'aria-labelledby': 'title', tabindex: '-1', hidden: '' },
    h('div', { class: 'head' }, h('h2', { class: 'title', id: 'title', part: 'title' }, t('title')), parts.expand, parts.minimize),
    parts.status, parts.pre, parts.consent, parts.levels, parts.talking, parts.log,
    h('div', { class: 'actions', part: 'actions' }, parts.primary, parts.hangup, parts.mute));
  return parts;
}

// "Try again in N s" on the primary button until Retry-After has passed; returns the timer.
function countdown(primary, t, wait) {
  const until = Date.now() + wait * 1000;
  let timer = 0;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) {
      primary.setAttribute('aria-disabled', 'true');
      primary.textContent = t('retryIn', left);
    } else {
      clearInterval(timer);
      primary.removeAttribute('aria-disabled');
      primary.textContent = t('retry');
    }
  };
  tick();
  timer = setInterval(tick, 250);
  return timer;
}

// Which parts a state shows, and their words. From the click to the hang-up the panel keeps one
// height (the pre-call step, then the levels and the transcript, which takes what is left).
function layout(parts, t, state, message) {
  const { panel, status, pre, steps, consent, levels, talking, log, primary, mute, hangup } = parts;
  const busy = BUSY.includes(state);
  const live = state === 'in-call';
  const asking = state === 'consent';
  status.textContent = message;
  panel.classList.toggle('busy', busy);
  panel.classList.toggle('asking', asking);
  pre.hidden = !PRE.includes(state);
  const at = state === 'requesting-microphone' ? 0 : state === 'connecting' ? 1 : -1;
  [...steps.children].forEach((li, i) => {
    li.classList.toggle('done', i < at);
    if (i === at) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  });
  consent.hidden = !asking;
  levels.hidden = talking.hidden = !live;
  log.hidden = !live && !log.children.length;
  parts.expand.hidden = log.hidden; // only a transcript can be expanded
  primary.hidden = busy;
  primary.textContent = t(asking ? 'agree' : state === 'idle' ? 'start' : state === 'ended' ? 'again' : 'retry');
  mute.hidden = !live;
  hangup.hidden = !busy && !asking;
  hangup.textContent = t(live ? 'hangup' : 'cancel');
}

// Shows the utterances of `items` at the indices `changed`; no other line is touched. The words of
// each line take their own direction (dir=auto), so a Hebrew answer reads right to left beside
// the widget's English "You:".
function utterances({ log, expand }, t, items, changed) {
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  for (const i of changed) {
    while (log.children.length <= i) log.append(h('p', {}, h('b'), h('span', { dir: 'auto' })));
    const p = log.children[i];
    const who = t(items[i].role === 'agent' ? 'agent' : 'you') + ':';
    if (p.firstChild.textContent !== who) p.firstChild.textContent = who;
    p.lastChild.textContent = items[i].content;
  }
  if (items.length) log.hidden = expand.hidden = false;
  if (atEnd) log.scrollTop = log.scrollHeight; // follow the conversation unless the user scrolled up
}

// The panel in a widget's shadow root; the controller (call.js) tells it what to show.
class Panel {
  #root;
  #t;
  #on;
  #parts;
  #top; // the shadow root's .root: the levels are drawn through its custom properties
  #launcher;
  #timer = 0; // a rate limit's countdown
  #state = 'idle';
  #drawn = { la: -1, ly: -1 };
  #onKey = (e) => {
    // Escape minimises from anywhere in the widget: the launcher, the panel or the call's buttons.
    if (e.key === 'Escape' && this.isOpen) {
      e.stopPropagation();
      this.#on.minimize();
    }
  };

  constructor(root, t, consent, on) {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
    }
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
    this.#root = root;
    this.#t = t;
    this.#on = on;
    const parts = (this.#parts = build(t, consent, { ...on, expand: () => this.#expand(!parts.panel.classList.contains('wide')) }));
    this.#top = root.querySelector('.root');
    this.#launcher = root.querySelector('.launcher');
    this.#launcher.parentElement.after(parts.panel); // the launcher's row, then the panel (above it, or below at the top)
    this.#launcher.before(parts.miniMute, parts.miniHangup);
    this.#top.addEventListener('keydown', this.#onKey);
  }

  get isOpen() {
    return !this.#parts.panel.hidden;
  }

  /** Shows the panel; with `focus`, moves the keyboard into it (the dialog itself, read by its title). */
  open(focus = false) {
    const { panel, consent } = this.#parts;
    panel.hidden = false;
    this.#launcher.setAttribute('aria-expanded', 'true');
    this.#minibar();
    if (focus) (this.#state === 'consent' ? consent : panel).focus();
  }

  close() {
    const inside = this.#parts.panel.contains(this.#root.activeElement);
    this.#parts.panel.hidden = true;
    this.#launcher.setAttribute('aria-expanded', 'false');
    this.#minibar();
    if (inside) this.#launcher.focus();
  }

  /** Shows a state: its message, and which buttons apply. `wait` is a Retry-After countdown. */
  show(next, message, wait = 0) {
    const { primary, consent } = this.#parts;
    this.#state = next;
    this.#keepFocus(() => {
      layout(this.#parts, this.#t, next, message);
      clearInterval(this.#timer);
      primary.removeAttribute('aria-disabled');
      if (wait > 0) this.#timer = countdown(primary, this.#t, wait);
    });
    this.#minibar();
    // The consent step takes the focus, so its text is read first and Tab reaches the link,
    // Agree and start, then Cancel.
    if (next === 'consent' && this.isOpen) consent.focus();
  }

  /** The status line says the visitor's microphone sends only silence (or no longer). */
  silent(on, message) {
    this.#parts.panel.classList.toggle('silent', on);
    this.#parts.status.textContent = message;
  }

  /** Draws both levels (0..1) on the launcher's bars and the panel's meters; unchanged levels cost nothing. */
  levels({ agent, you }) {
    const next = { la: Math.round((agent || 0) * 20) / 20, ly: Math.round((you || 0) * 20) / 20 };
    for (const name of ['la', 'ly']) if (next[name] !== this.#drawn[name]) this.#top.style.setProperty('--' + name, String(next[name]));
    this.#drawn = next;
  }

  setTalking(on) {
    this.#parts.talking.textContent = this.#t(on ? 'speaking' : 'listening');
  }

  setMuted(on) {
    const { mute, miniMute, talking } = this.#parts;
    for (const b of [mute, miniMute]) b.setAttribute('aria-pressed', String(on));
    mute.textContent = this.#t(on ? 'unmute' : 'mute');
    miniMute.setAttribute('aria-label', this.#t(on ? 'unmute' : 'mute'));
    if (on) talking.textContent = this.#t('muted');
  }

  clearTranscript() {
    this.#parts.log.replaceChildren();
    this.#parts.log.hidden = this.#parts.expand.hidden = true;
  }

  /** Shows the utterances of `items` at the indices `changed`; no other line is touched. */
  showUtterances(items, changed) {
    utterances(this.#parts, this.#t, items, changed);
  }

  destroy() {
    const { panel, miniMute, miniHangup } = this.#parts;
    clearInterval(this.#timer);
    this.#top.removeEventListener('keydown', this.#onKey);
    for (const node of [panel, miniMute, miniHangup]) node.remove();
  }

  // Hiding the focused button would drop keyboard focus to the page; move it along instead.
  #keepFocus(update) {
    const { primary, hangup } = this.#parts;
    const focused = this.#root.activeElement;
    const visible = (b) => b.isConnected && !b.closest('[hidden]');
    update();
    if (focused && focused !== this.#launcher && !visible(focused)) {
      (visible(primary) ? primary : visible(hangup) ? hangup : this.#launcher).focus();
    }
  }

  // During a call, mute and hang up sit beside the launcher while the panel is minimised.
  #minibar() {
    const { miniMute, miniHangup } = this.#parts;
    this.#keepFocus(() => {
      miniHangup.hidden = !BUSY.includes(this.#state) || this.isOpen;
      miniMute.hidden = this.#state !== 'in-call' || this.isOpen;
      miniHangup.setAttribute('aria-label', this.#t(this.#state === 'in-call' ? 'hangup' : 'cancel'));
    });
  }

  #expand(on) {
    const { panel, expand, log } = this.#parts;
    panel.classList.toggle('wide', on);
    expand.setAttribute('aria-expanded', String(on));
    expand.setAttribute('aria-label', this.#t(on ? 'shrink' : 'expand'));
    expand.replaceChildren(icon(on ? 'shrink' : 'expand'));
    if (on) log.scrollTop = log.scrollHeight;
  }
}

/**
 * Adds the panel to `root` (the widget's shadow root). `t` looks strings up; `consent` is the
 * page's {text, url} or null; `on` has the handlers primary(), hangup(), mute() and minimize().
 */
export function createPanel(root, t, consent, on) {
  return new Panel(root, t, consent, on);
}
