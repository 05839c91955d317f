// The visitor's agreement to the website's consent text, before the microphone prompt. It is
// remembered per origin (localStorage) for 30 days, keyed to the text's hash, so a changed text
// asks again; the hash goes with every token request, so the proxy knows which text was agreed.

const KEY = 'retell-widget:consent:';
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** Lowercase hex SHA-256 of the text's UTF-8 bytes: the `consent_hash` the proxy compares. */
export async function consentHash(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// Storage may be unavailable (blocked cookies, some private modes): the visitor is then asked
// each time, which is the safe side.
export function agreed(hash) {
  try {
    const at = Number(localStorage.getItem(KEY + hash));
    if (at && Date.now() - at < MAX_AGE_MS && at <= Date.now()) return true;
    localStorage.removeItem(KEY + hash);
  } catch {
    // not stored: ask
  }
  return false;
}

export function remember(hash) {
  try {
    localStorage.setItem(KEY + hash, String(Date.now()));
  } catch {
    // not stored: asked again next time
  }
}

export function forget(hash) {
  try {
    localStorage.removeItem(KEY + hash);
  } catch {
    // nothing stored
  }
}
