/*
 * FAKE of Retell's `retell-client-js-sdk` 2.x (RetellWebClient), served by the local fake
 * Retell server. Same public interface, but the call runs over a plain WebSocket of JSON
 * text frames instead of WebRTC, and no audio is played. The microphone is really requested,
 * so the browser's permission flows are exercised.
 */

const WS_PATH = '/v2/web-call';
// How long to wait for the server's call_ended after a hang-up before ending locally.
const HANGUP_GRACE_MS = 2000;

// The call server is whoever served this module: same host, ws: for http:, wss: for https:.
function callUrl(accessToken) {
  const base = new URL(import.meta.url);
  const url = new URL(WS_PATH, base);
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('access_token', accessToken);
  return url.href;
}

function aborted() {
  return new DOMException('stopCall() was called before the call connected', 'AbortError');
}

export class RetellWebClient {
  // Mirrors the real SDK's public field.
  isAgentTalking = false;

  #listeners = new Map(); // event name -> Set of listeners
  // The call in progress, if any: { socket, stream, open, hangingUp, ended, timer }.
  // Kept per call so that late socket events of an old call can't touch a newer one.
  #call = null;

  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
    return this;
  }

  removeAllListeners(event) {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  async startCall({ accessToken, sampleRate, captureDeviceId, playbackDeviceId, emitRawAudioSamples } = {}) {
    // sampleRate, playbackDeviceId and emitRawAudioSamples are accepted for interface parity;
    // the fake carries no audio, so they have no effect.
    if (this.#call) throw new Error('RetellWebClient: a call is already in progress; call stopCall() first');
    const call = (this.#call = { socket: null, stream: null, open: false, hangingUp: false, ended: false, timer: 0 });
    try {
      if (typeof accessToken !== 'string' || !accessToken) {
        throw new TypeError('RetellWebClient: startCall() needs an accessToken');
      }
      call.stream = await navigator.mediaDevices.getUserMedia({
        audio: captureDeviceId ? { deviceId: { exact: captureDeviceId } } : true,
      });
      if (call.ended) throw aborted(); // stopCall() while the permission prompt was up
      await this.#open(call, accessToken);
    } catch (err) {
      // A stopCall() during start-up is not an error: it already emitted call_ended.
      if (call.ended) this.#release(call);
      else this.#end(call, err, { emitEnded: false }); // never connected, so never "ended"
      throw err;
    }
  }

  stopCall() {
    const call = this.#call;
    if (!call) return;
    if (!call.open || call.socket.readyState !== WebSocket.OPEN) {
      this.#end(call);
      return;
    }
    if (call.hangingUp) return;
    call.hangingUp = true;
    call.socket.send(JSON.stringify({ event: 'hangup' }));
    // The user hung up: the mic goes off now, not after the server's reply.
    this.#stopTracks(call);
    call.timer = setTimeout(() => this.#end(call), HANGUP_GRACE_MS);
  }

  mute() {
    this.#setMic(false);
  }

  unmute() {
    this.#setMic(true);
  }

  // The real SDK resumes its AudioContext here; the fake plays nothing.
  async startAudioPlayback() {}

  // Resolves once the socket is open; rejects if it closes first.
  #open(call, accessToken) {
    return new Promise((resolve, reject) => {
      const socket = (call.socket = new WebSocket(callUrl(accessToken)));
      socket.onopen = () => {
        call.open = true;
        resolve();
      };
      socket.onmessage = (e) => this.#onMessage(call, e.data);
      // Every failure ends in a close event, which carries more detail than 'error'.
      socket.onclose = (e) => {
        if (!call.open) {
          reject(call.ended ? aborted() : new Error(`call socket failed to open (code ${e.code})`));
        } else if (!call.ended) {
          this.#end(call, call.hangingUp ? undefined : 'call dropped');
        }
      };
    });
  }

  #onMessage(call, data) {
    // Binary frames would be audio in the real protocol; the fake has none to play.
    if (call.ended || typeof data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.error('RetellWebClient (fake): ignoring a frame that is not JSON:', data);
      return;
    }
    switch (msg && msg.event) {
      case 'call_started':
      case 'call_ready':
        this.#emit(msg.event);
        break;
      case 'agent_start_talking':
      case 'agent_stop_talking':
        this.isAgentTalking = msg.event === 'agent_start_talking';
        this.#emit(msg.event);
        break;
      case 'update':
        this.#emit('update', { transcript: Array.isArray(msg.transcript) ? msg.transcript : [] });
        break;
      case 'call_ended':
        this.#end(call);
        break;
      case 'error':
        this.#end(call, msg.message || 'call error');
        break;
      // Unknown events are ignored, so the fake server can add new ones freely.
    }
  }

  // Ends a call exactly once: release the mic and socket, then emit error (if any) and call_ended.
  #end(call, error, { emitEnded = true } = {}) {
    if (call.ended) return;
    call.ended = true;
    this.#release(call);
    if (error !== undefined) this.#emit('error', error);
    if (emitEnded) this.#emit('call_ended');
  }

  // Idempotent, and safe to call again for a stream that arrives after the call ended.
  #release(call) {
    if (this.#call === call) this.#call = null;
    clearTimeout(call.timer);
    this.#stopTracks(call);
    const socket = call.socket;
    if (socket && socket.readyState !== WebSocket.CLOSING && socket.readyState !== WebSocket.CLOSED) {
      socket.close(1000, 'call ended');
    }
    this.isAgentTalking = false;
  }

  #stopTracks(call) {
    for (const track of call.stream?.getTracks() ?? []) track.stop();
  }

  // Like the real SDK, mute/unmute only act on a connected call.
  #setMic(on) {
    const call = this.#call;
    if (!call || !call.open || call.ended) return;
    for (const track of call.stream?.getAudioTracks() ?? []) track.enabled = on;
    if (call.socket.readyState === WebSocket.OPEN) call.socket.send(JSON.stringify({ event: on ? 'unmute' : 'mute' }));
  }

  #emit(event, ...args) {
    // Iterate over a copy: listeners may add/remove listeners (or stop the call) while we emit.
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        fn.apply(this, args);
      } catch (err) {
        // A broken listener must not break the call's own bookkeeping.
        console.error(`RetellWebClient (fake): a "${event}" listener threw`, err);
      }
    }
  }
}

export default RetellWebClient;
