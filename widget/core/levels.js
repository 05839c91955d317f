// Live levels of both sides of a call, read by Web Audio analysers from the tracks the SDK already
// has: the agent's subscribed audio and the visitor's published microphone. Nothing is made before
// the first track arrives, and stop() closes it all: outside a call nothing runs.
//
// Readings come on a timer rather than on animation frames: 20 a second are plenty for a meter,
// cost little on a phone, and keep coming (slower, as browsers throttle) while the tab is hidden,
// so silence is still noticed.

const READ_MS = 50;
// A level is loudness in decibels mapped onto 0..1: -60 dBFS (a quiet room) and below is 0,
// -12 dBFS (speech close to the microphone) and above is 1.
const FLOOR_DB = -60;
const TOP_DB = -12;

function level(samples) {
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  const db = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
  return Math.max(0, Math.min(1, (db - FLOOR_DB) / (TOP_DB - FLOOR_DB)));
}

/** Levels of 'agent' and 'you', each 0..1, reported to `report({agent, you})` while tracks play. */
export class Levels {
  #report;
  #context = null;
  #sides = new Map(); // side -> {source, analyser, samples}
  #timer = 0;
  #stopped = false;

  constructor(report) {
    this.#report = report;
  }

  /** Measures `track` (a MediaStreamTrack) as `side`, replacing what that side had. */
  track(side, track) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (this.#stopped || !track || track.kind !== 'audio' || !Context) return;
    try {
      this.#context = this.#context || new Context();
      // Made after the visitor's click, so browsers let it run; resume() in case one waited.
      this.#context.resume().catch(() => {});
      this.#sides.get(side)?.source.disconnect();
      const source = this.#context.createMediaStreamSource(new MediaStream([track]));
      const analyser = this.#context.createAnalyser();
      analyser.fftSize = 1024;
      source.connect(analyser); // not to the speakers: the SDK plays the agent itself
      this.#sides.set(side, { source, analyser, samples: new Float32Array(analyser.fftSize) });
    } catch (err) {
      console.warn('RetellWidget: no level meter for', side, err);
      return;
    }
    if (!this.#timer) this.#timer = setInterval(() => this.#read(), READ_MS);
  }

  #read() {
    const now = { agent: 0, you: 0 };
    for (const [side, { analyser, samples }] of this.#sides) {
      analyser.getFloatTimeDomainData(samples);
      now[side] = level(samples);
    }
    this.#report(now);
  }

  /** Stops reading, releases the audio graph and reports silence once. */
  stop() {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = 0;
    for (const { source } of this.#sides.values()) source.disconnect();
    this.#sides.clear();
    if (this.#context) this.#context.close().catch(() => {});
    this.#context = null;
    this.#report({ agent: 0, you: 0 });
  }
}
