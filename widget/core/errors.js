// What went wrong, as one of the codes the widget reports (`error` event detail, data-error); the
// codes and their messages are listed in messages.js and the widget reference. 'consent' is
// internal: call.js turns it into the consent step, or 'misconfigured'.

/** A getUserMedia() failure. */
export function microphoneError(err) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'mic-denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'no-mic';
  return 'start-failed'; // e.g. NotReadableError: the device is busy in another app
}

/** A fetch() that rejected: offline, network down, proxy unreachable or a CORS refusal. */
export function fetchError() {
  return navigator.onLine === false ? 'offline' : 'network';
}

/**
 * A token response that was not OK; `wait` is its Retry-After in seconds (0 if none), `code` the
 * proxy's error code from the body ('' if none).
 */
export function httpError(status, wait, code = '') {
  // The page sends what its website's registry entry refuses: a configuration error of the page.
  if (code === 'variable_not_allowed' || code === 'invalid_dynamic_variables') return 'misconfigured';
  // The proxy wants the visitor's agreement to the current consent text (call.js asks again).
  if (code === 'consent_required') return 'consent';
  // The website's quota is used up until the next day or month: no countdown to wait out.
  if (code === 'quota_exceeded') return 'unavailable';
  if (code === 'bot_check_failed') return 'bot-check';
  if (status === 403) return 'forbidden';
  // Our proxy answers 429 for its own limits and 503 + Retry-After when Retell is rate limiting.
  if (status === 429 || (status === 503 && wait)) return wait ? 'rate-limited' : 'busy';
  if (status >= 500) return 'unavailable';
  return 'start-failed';
}

/** The proxy's error code ({"error": "...", "message": "..."}), or '' for any other answer. */
export async function errorCode(res) {
  try {
    const body = await res.json();
    return body && typeof body.error === 'string' ? body.error : '';
  } catch {
    return '';
  }
}

// Cross-origin, Retry-After is readable only when the proxy lists it in Access-Control-Expose-Headers.
export function retryAfterSeconds(res) {
  const value = (res.headers.get('Retry-After') || '').trim();
  if (!value) return 0;
  const seconds = /^\d+$/.test(value) ? Number(value) : Math.ceil((Date.parse(value) - Date.now()) / 1000);
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 3600) : 0;
}
