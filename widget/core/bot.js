// The bot check a website may require (Cloudflare Turnstile or reCAPTCHA v3): the provider's
// script is loaded when the visitor shows intent, and a token is obtained, without a visible
// challenge where the provider allows it, for each call. The proxy verifies it.

const SCRIPTS = {
  turnstile: () => 'https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit',
  recaptcha: (key) => 'https://www.google.com/recaptcha/api.js?render=' + encodeURIComponent(key),
};
const GLOBALS = { turnstile: 'turnstile', recaptcha: 'grecaptcha' };
const TOKEN_TIMEOUT_MS = 15000; // a provider that never answers must not hold the call forever
const loads = new Map();

/** Loads the provider's script once per page (again after a failure). */
export function loadBotCheck(provider, siteKey) {
  const src = SCRIPTS[provider](siteKey);
  let load = loads.get(src);
  if (!load) {
    load = new Promise((resolve, reject) => {
      if (window[GLOBALS[provider]]) return resolve(window[GLOBALS[provider]]);
      const script = document.createElement('script');
      script.src = src;
      script.async = true;
      script.onload = () => (window[GLOBALS[provider]] ? resolve(window[GLOBALS[provider]]) : reject(new Error(src + ' defined no ' + GLOBALS[provider])));
      script.onerror = () => reject(new Error('could not load ' + src));
      document.head.append(script);
    });
    load.catch(() => loads.delete(src));
    loads.set(src, load);
  }
  return load;
}

/** A fresh token for one call. */
export async function botToken(provider, siteKey) {
  const api = await loadBotCheck(provider, siteKey);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the bot check did not answer')), TOKEN_TIMEOUT_MS);
  });
  try {
    return await Promise.race([provider === 'recaptcha' ? recaptcha(api, siteKey) : turnstile(api, siteKey), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function recaptcha(api, siteKey) {
  return new Promise((resolve, reject) => api.ready(() => api.execute(siteKey, { action: 'start_call' }).then(resolve, reject)));
}

// Turnstile draws into an element of the page (its frame shows only if the visitor must interact).
function turnstile(api, siteKey) {
  return new Promise((resolve, reject) => {
    const box = document.createElement('div');
    box.style.cssText = 'position:fixed;bottom:0;left:0;z-index:2147483647';
    document.body.append(box);
    const done = (fn) => (value) => {
      box.remove();
      fn(value);
    };
    const id = api.render(box, {
      sitekey: siteKey,
      action: 'start_call',
      execution: 'execute',
      appearance: 'interaction-only',
      callback: done(resolve),
      'error-callback': done((code) => reject(new Error('the bot check failed: ' + code))),
    });
    api.execute(id);
  });
}
