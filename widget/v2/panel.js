// The call panel: status, the consent step, agent-talking indicator, live transcript, mute, hang
// up and retry.
// Loaded with the call controller on first interaction; it only renders, the controller decides.

const CSS = `
.panel{pointer-events:auto;box-sizing:border-box;display:flex;flex-direction:column;gap:10px;padding:16px;
width:min(340px,calc(100vw - 2 * var(--retell-offset,16px)));max-height:min(480px,calc(100vh - 104px));
border:1px solid var(--_b);border-radius:16px;background:var(--retell-surface,var(--_s));color:var(--retell-text,var(--_t));
box-shadow:0 8px 32px rgb(0 0 0/.25)}
.head{display:flex;align-items:center;justify-content:space-between;gap:8px}
.title{margin:0;font-weight:700;font-size:16px}
.status{margin:0}
:host([data-state=error]) .status{border-left:4px solid var(--retell-danger,var(--_d));padding-left:8px}
.talking{margin:0;display:flex;align-items:center;gap:8px;font-size:14px;color:var(--retell-muted,var(--_m))}
.talking::before{content:"";flex:none;width:10px;height:10px;border-radius:50%;background:currentColor}
.talking[data-on]::before{background:var(--a);animation:p .8s ease-in-out infinite}
.log{margin:0;overflow:auto;min-height:48px;max-height:220px;display:flex;flex-direction:column;gap:6px;font-size:14px;
border-radius:8px;overscroll-behavior:contain}
.log p{margin:0;padding:6px 10px;border-radius:10px;background:rgb(127 127 127/.14)}
.log b{margin-right:4px}
.consent{margin:0;display:flex;flex-direction:column;gap:6px;font-size:14px;border-radius:8px;max-height:200px;overflow:auto;padding:6px}
.asking .hangup{background:transparent;color:inherit;border-color:var(--_m)!important}
.consent p{margin:0;white-space:pre-line}.consent a{color:inherit;font-weight:600}
.consent:focus-visible,.consent a:focus-visible{outline:3px solid var(--retell-focus,var(--_f));outline-offset:2px}
.actions{display:flex;flex-wrap:wrap;gap:8px}
.actions button{min-height:44px;padding:0 16px;border:1px solid transparent;border-radius:999px;font-weight:600}
.primary{background:var(--a);color:var(--at)}
.primary[aria-disabled=true]{cursor:not-allowed}
.mute{background:transparent;color:inherit;border-color:var(--_m)!important}
.mute[aria-pressed=true]{background:var(--retell-text,var(--_t));color:var(--retell-surface,var(--_s))}
.hangup{background:var(--retell-danger,var(--_d));color:#fff}
.min{min-width:44px;min-height:44px;border:0;border-radius:8px;background:transparent;color:inherit;font-size:22px;line-height:1}
.busy .log{height:120px}.busy:not(.live) .talking,.busy:not(.live) .mute{visibility:hidden}
@media (max-width:480px){.panel{max-height:calc(100vh - 120px)}.log{max-height:30vh}}`;

let sheet = null;

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// The panel's nodes, built by hand (no innerHTML: pages enforcing Trusted Types accept it).
function build(t, consent, on) {
  const button = (cls, part, handler, extra) => {
    const b = h('button', { class: cls, part, type: 'button', ...extra });
    b.addEventListener('click', () => b.getAttribute('aria-disabled') !== 'true' && handler());
    return b;
  };
  const parts = {
    status: h('p', { class: 'status', part: 'status' }),
    talking: h('p', { class: 'talking', part: 'talking', hidden: '' }),
    log: h('div', { class: 'log', part: 'transcript', role: 'log', 'aria-live': 'off', 'aria-label': t('transcript'), tabindex: '0', hidden: '' }),
    primary: button('primary', 'button primary', on.primary),
    mute: button('mute', 'button mute', on.mute, { 'aria-pressed': 'false' }),
    hangup: button('hangup', 'button hangup', on.hangup),
    minimize: button('min', 'minimize', on.minimize, { 'aria-label': t('minimize') }),
  };
  parts.minimize.textContent = '–';
  // The website's consent text (in its own words), its link, then Agree and start / Cancel.
  parts.consent = h('div', { class: 'consent', part: 'consent', role: 'group', 'aria-labelledby': 'consent', tabindex: '-1', hidden: '' });
  if (consent) {
    parts.consent.append(h('p', { id: 'consent' }, consent.text));
    if (consent.url) parts.consent.append(h('a', { href: consent.url, target: '_blank', rel: 'noopener', part: 'consent-link' }, t('consentLink')));
  }
  parts.panel = h('section', { class: 'panel', part: 'panel', id: 'panel', role: 'dialog', 'aria-labelledby': 'title', hidden: '' },
    h('div', { class: 'head' }, h('p', { class: 'title', id: 'title', part: 'title' }, t('title')), parts.minimize),
    parts.status, parts.consent, parts.talking, parts.log,
    h('div', { class: 'actions', part: 'actions' }, parts.primary, parts.mute, parts.hangup));
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
// size: the talking line, the transcript (a fixed height that scrolls) and mute are laid out while
// connecting and shown in the call, so nothing on the page moves when they fill in (no layout shift).
function layout({ panel, status, consent, talking, log, primary, mute, hangup }, t, state, message) {
  const busy = state === 'requesting-microphone' || state === 'connecting' || state === 'in-call';
  const asking = state === 'consent';
  status.textContent = message;
  panel.classList.toggle('busy', busy);
  panel.classList.toggle('live', state === 'in-call');
  panel.classList.toggle('asking', asking);
  talking.hidden = !busy;
  consent.hidden = !asking;
  log.hidden = asking || (!busy && !log.children.length);
  primary.hidden = busy;
  primary.textContent = t(asking ? 'agree' : state === 'idle' ? 'start' : state === 'ended' ? 'again' : 'retry');
  mute.hidden = !busy;
  hangup.hidden = !busy && !asking;
  hangup.textContent = t(state === 'in-call' ? 'hangup' : 'cancel');
}

// Shows the utterances of `items` at the indices `changed`; no other line is touched.
function utterances({ panel, log }, t, items, changed) {
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  for (const i of changed) {
    while (log.children.length <= i) log.append(h('p', {}, h('b'), h('span')));
    const p = log.children[i];
    const who = t(items[i].role === 'agent' ? 'agent' : 'you') + ':';
    if (p.firstChild.textContent !== who) p.firstChild.textContent = who;
    p.lastChild.textContent = items[i].content;
  }
  log.hidden = items.length === 0 && !panel.classList.contains('busy');
  if (atEnd) log.scrollTop = log.scrollHeight; // follow the conversation unless the user scrolled up
}

/**
 * Adds the panel to `root` (the widget's shadow root). `t` looks strings up; `consent` is the
 * page's {text, url} or null; `on` has the handlers primary(), hangup(), mute() and minimize().
 */
export function createPanel(root, t, consent, on) {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  const parts = build(t, consent, on);
  const { panel, talking, log, primary, mute, hangup } = parts;
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      on.minimize();
    }
  };
  panel.addEventListener('keydown', onKey);
  const launcher = root.querySelector('.launcher');
  launcher.after(panel);

  let timer = 0;
  const visible = (b) => b.isConnected && !b.hidden;
  // Hiding the focused button would drop keyboard focus to the page; move it along instead.
  function keepFocus(update) {
    const focused = root.activeElement;
    update();
    if (focused && focused !== launcher && !visible(focused)) {
      (visible(primary) ? primary : visible(hangup) ? hangup : launcher).focus();
    }
  }

  return {
    get isOpen() {
      return !panel.hidden;
    },
    open() {
      panel.hidden = false;
      launcher.setAttribute('aria-expanded', 'true');
    },
    close() {
      const inside = panel.contains(root.activeElement);
      panel.hidden = true;
      launcher.setAttribute('aria-expanded', 'false');
      if (inside) launcher.focus();
    },
    /** Shows a state: its message, and which buttons apply. `wait` is a Retry-After countdown. */
    show(state, message, wait = 0) {
      keepFocus(() => {
        layout(parts, t, state, message);
        clearInterval(timer);
        primary.removeAttribute('aria-disabled');
        if (wait > 0) timer = countdown(primary, t, wait);
      });
      // The consent step takes the focus, so its text is read first and Tab reaches the link,
      // Agree and start, then Cancel.
      if (state === 'consent' && !panel.hidden) parts.consent.focus();
    },
    setTalking(on) {
      talking.toggleAttribute('data-on', on);
      talking.textContent = t(on ? 'speaking' : 'listening');
    },
    setMuted(on) {
      mute.setAttribute('aria-pressed', String(on));
      mute.textContent = t(on ? 'unmute' : 'mute');
      if (on && !talking.hasAttribute('data-on')) talking.textContent = t('muted');
    },
    clearTranscript() {
      log.replaceChildren();
      log.hidden = !panel.classList.contains('busy');
    },
    /** Shows the utterances of `items` at the indices `changed`; no other line is touched. */
    showUtterances(items, changed) {
      utterances(parts, t, items, changed);
    },
    destroy() {
      clearInterval(timer);
      panel.removeEventListener('keydown', onKey);
      panel.remove();
    },
  };
}
