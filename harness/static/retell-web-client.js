/*
 * FAKE of Retell's `retell-client-js-sdk` 2.x (RetellWebClient), served by the local fake
 * Retell server. Same public interface (an EventEmitter with startCall, stopCall, mute, unmute,
 * startAudioPlayback, isAgentTalking and analyzerComponent; events call_started, call_ready,
 * call_ended, agent_start_talking, agent_stop_talking, update, metadata, node_transition, audio
 * and error), but the call runs over a plain WebSocket of JSON text frames instead of WebRTC.
 * The microphone is really acquired (captureDeviceId honoured) and measured; an AudioContext at
 * `sampleRate` plays to `playbackDeviceId`, and with emitRawAudioSamples the agent's "voice" (a
 * quiet tone while it talks) is emitted as Float32Array frames.
 *
 * One difference on purpose: when startCall() fails it also rejects with the cause (the real SDK
 * only emits 'error'), so callers that handle both behave the same against either.
 */

const WS_PATH = '/v2/web-call';
// How long to wait for the server's call_ended after a hang-up before ending locally.
const HANGUP_GRACE_MS = 2000;
const DEFAULT_SAMPLE_RATE = 24000;
const AUDIO_FRAME_MS = 100; // how often 'audio' frames are emitted while the agent talks

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
  // Mirrors the real SDK's public fields.
  isAgentTalking = false;
  // Microphone level, like the real SDK's: calculateVolume() is 0..1; null outside a call.
  analyzerComponent = null;

  #listeners = new Map(); // event name -> Set of listeners
  // The call in progress, if any: { socket, stream, open, hangingUp, ended, timer }.
  // Kept per call so that late socket events of an old call can't touch a newer one.
  #call = null;

  // The EventEmitter (eventemitter3) interface the real client inherits.
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('RetellWebClient: a listener must be a function');
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return this;
  }

  addListener(event, fn) {
    return this.on(event, fn);
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper.listener = fn;
    return this.on(event, wrapper);
  }

  off(event, fn) {
    const set = this.#listeners.get(event);
    if (!set) return this;
    if (fn === undefined) set.clear();
    for (const listener of [...set]) if (listener === fn || listener.listener === fn) set.delete(listener);
    return this;
  }

  removeListener(event, fn) {
    return this.off(event, fn);
  }

  emit(event, ...args) {
    const had = this.listenerCount(event) > 0;
    this.#emit(event, ...args);
    return had;
  }

  listeners(event) {
    return [...(this.#listeners.get(event) ?? [])].map((fn) => fn.listener ?? fn);
  }

  listenerCount(event) {
    return this.#listeners.get(event)?.size ?? 0;
  }

  eventNames() {
    return [...this.#listeners.keys()].filter((event) => this.listenerCount(event) > 0);
  }

  removeAllListeners(event) {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  async startCall({ accessToken, sampleRate, captureDeviceId, playbackDeviceId, emitRawAudioSamples } = {}) {
    if (this.#call) throw new Error('RetellWebClient: a call is already in progress; call stopCall() first');
    const call = (this.#call = {
      socket: null, stream: null, open: false, hangingUp: false, ended: false, timer: 0,
      audio: null, frames: 0, raw: Boolean(emitRawAudioSamples),
    });
    try {
      if (typeof accessToken !== 'string' || !accessToken) {
        throw new TypeError('RetellWebClient: startCall() needs an accessToken');
      }
      const rate = sampleRate ?? DEFAULT_SAMPLE_RATE;
      if (!Number.isInteger(rate) || rate < 8000 || rate > 96000) {
        throw new RangeError(`RetellWebClient: sampleRate must be a whole number of Hz from 8000 to 96000 (got ${rate})`);
      }
      call.stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          ...(captureDeviceId && captureDeviceId !== 'default' ? { deviceId: { exact: captureDeviceId } } : {}),
          echoCancellation: true, noiseSuppression: true, autoGainControl: true,
        },
      });
      if (call.ended) throw aborted(); // stopCall() while the permission prompt was up
      await this.#setUpAudio(call, rate, playbackDeviceId);
      if (call.ended) throw aborted();
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

  // Browsers start an AudioContext suspended without a user gesture; call this from one.
  async startAudioPlayback() {
    await this.#call?.audio?.resume();
  }

  // The call's AudioContext: plays (silence) to the chosen output and measures the microphone.
  async #setUpAudio(call, sampleRate, playbackDeviceId) {
    const audio = (call.audio = new AudioContext({ sampleRate }));
    if (playbackDeviceId && playbackDeviceId !== 'default' && typeof audio.setSinkId === 'function') {
      await audio.setSinkId(playbackDeviceId);
    }
    const analyser = audio.createAnalyser();
    analyser.fftSize = 256;
    audio.createMediaStreamSource(call.stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.analyzerComponent = {
      analyser,
      calculateVolume: () => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const x of samples) sum += x * x;
        return Math.min(1, Math.sqrt(sum / samples.length));
      },
      cleanup: async () => {
        if (audio.state !== 'closed') await audio.close();
      },
    };
  }

  // With emitRawAudioSamples, the agent's voice as PCM frames: a quiet 220 Hz tone while it talks.
  #startVoice(call) {
    if (!call.raw || call.frames) return;
    const rate = call.audio?.sampleRate ?? DEFAULT_SAMPLE_RATE;
    const length = Math.round((rate * AUDIO_FRAME_MS) / 1000);
    let phase = 0;
    const emitFrame = () => {
      const frame = new Float32Array(length);
      for (let i = 0; i < length; i++) frame[i] = 0.1 * Math.sin((2 * Math.PI * 220 * phase++) / rate);
      this.#emit('audio', frame);
    };
    call.frames = setInterval(emitFrame, AUDIO_FRAME_MS);
    emitFrame(); // the first frame at once: even a very short utterance has audio
  }

  #stopVoice(call) {
    clearInterval(call.frames);
    call.frames = 0;
  }

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
        if (this.isAgentTalking) this.#startVoice(call);
        else this.#stopVoice(call);
        this.#emit(msg.event);
        break;
      case 'metadata':
      case 'node_transition':
        this.#emit(msg.event, msg.data ?? msg);
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
    this.#stopVoice(call);
    this.#stopTracks(call);
    if (call.audio && call.audio.state !== 'closed') call.audio.close().catch(() => {});
    if (this.#call === null) this.analyzerComponent = null;
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
