"""The two audio paths of a sandbox call: the agent's outgoing voice and a meter on the caller's
microphone."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from harness.speech import FRAME_SAMPLES, RATE, Speech, level_dbfs

# A microphone frame counts as audio, not silence, above this level.
LOUD_DBFS = -40.0
# Audio already on its way when a mute change is signalled (encoded, in flight, in the jitter
# buffer) arrives just after it, and later still on a busy machine. A frame counts as settling
# when the caller captured it less than SETTLE_MS after the change reached us, on the caller's
# own clock (its RTP timestamps), so a slow receiver does not turn audio in flight into audio
# heard while muted.
SETTLE_MS = 200
_RTP_WRAP = 1 << 32
_SILENCE = bytes(FRAME_SAMPLES * 2)


class Playback:
    """One line the agent says: when its audio started and stopped going out, and whether the
    caller cut it short."""

    def __init__(self, speech: Speech) -> None:
        self.speech = speech
        self.started: float | None = None  # time.time() of its first frame sent
        self.stopped: float | None = None  # of its last frame sent, or of the interruption
        self.interrupted = False
        self.done = asyncio.Event()

    def _finish(self, at: float, interrupted: bool) -> None:
        if not self.done.is_set():
            self.stopped, self.interrupted = at, interrupted
            self.done.set()


class AgentVoice(MediaStreamTrack):
    """The ``agent_audio`` track: silence, except while ``say`` plays speech, in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = bytearray()
        self._start: float | None = None
        self._sent = 0  # samples
        self._playing: Playback | None = None
        self.frames_sent = 0
        self.speech_frames_sent = 0

    def say(self, speech: Speech) -> Playback:
        """Play ``speech`` from the next frame on (after anything still queued)."""
        self._queue += speech.pcm
        self._playing = Playback(speech)
        return self._playing

    def interrupt(self) -> None:
        """Stop speaking now: the next frame is silence."""
        self._queue.clear()
        if self._playing is not None:
            self._playing._finish(time.time(), interrupted=True)
            self._playing = None

    def stop(self) -> None:
        self.interrupt()
        super().stop()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            # Pace by the clock, not by the caller: 20 ms of audio every 20 ms.
            await asyncio.sleep(max(0.0, self._start + self._sent / RATE - now))
        chunk = bytes(self._queue[: FRAME_SAMPLES * 2])
        del self._queue[: FRAME_SAMPLES * 2]
        playing = self._playing
        if chunk:
            self.speech_frames_sent += 1
            if playing is not None and playing.started is None:
                playing.started = time.time()
        if playing is not None and not self._queue:
            playing._finish(time.time(), interrupted=False)
            self._playing = None
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk.ljust(FRAME_SAMPLES * 2, b"\0") if chunk else _SILENCE)
        frame.pts = self._sent
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += FRAME_SAMPLES
        self.frames_sent += 1
        return frame


@dataclass
class Segment:
    """Microphone audio between two mute changes (the caller's ``mute`` signalling)."""

    muted: bool
    since_ms: int  # when the change arrived, milliseconds since the epoch
    # Frames the caller captured up to this moment (seconds, on the meter's clock) were sent
    # before the change took effect; None: no frame has given the caller's clock yet, so the
    # first SETTLE_MS after the change settle by arrival instead.
    settles_until: float | None
    frames: int = 0  # after settling
    loud_frames: int = 0  # of those, frames above LOUD_DBFS
    settling_frames: int = 0  # sent before the change took effect
    settling_loud_frames: int = 0


@dataclass
class MicrophoneMeter:
    """Counts the caller's microphone frames, and those above -40 dBFS, per mute segment."""

    segments: list[Segment] = field(default_factory=list)
    heard: asyncio.Event = field(default_factory=asyncio.Event)  # the first frame arrived
    now: Callable[[], float] = time.time
    # Told of every frame: whether it is loud, when the caller captured it, when it arrived
    # (harness.hearing's SpeechDetector).
    listener: Callable[[bool, float | None, float], None] | None = None
    # The least (arrival - capture) seen: the path's own delay plus the two clocks' difference.
    _offset: float | None = None
    _last_pts: int | None = None
    _wrapped: int = 0  # RTP timestamps are 32 bits: 25 hours at 48 kHz, from a random start

    def set_muted(self, muted: bool) -> None:
        if self.segments and self.segments[-1].muted == muted:
            return
        arrived = self.now()
        if not self.segments:
            until: float | None = -math.inf  # nothing before it to settle from
        elif self._offset is None:
            until = None
        else:
            until = arrived - self._offset + SETTLE_MS / 1000
        self.segments.append(Segment(muted, int(arrived * 1000), until))

    def frame(self, frame: AudioFrame) -> None:
        arrived = self.now()
        captured = self._captured(frame)
        if captured is not None:
            lag = arrived - captured
            self._offset = lag if self._offset is None else min(self._offset, lag)
        if not self.segments:
            self.set_muted(False)
        self.heard.set()
        segment = self.segments[-1]
        # Decoded Opus is packed s16 (one plane, channels interleaved).
        loud = level_dbfs(bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]) > LOUD_DBFS
        if segment.settles_until is None or captured is None:
            settling = arrived * 1000 - segment.since_ms < SETTLE_MS
        else:
            settling = captured <= segment.settles_until
        if self.listener is not None:
            self.listener(loud, captured, arrived)
        if settling:
            segment.settling_frames += 1
            segment.settling_loud_frames += loud
        else:
            segment.frames += 1
            segment.loud_frames += loud

    def _captured(self, frame: AudioFrame) -> float | None:
        """When the caller captured ``frame``, on its own clock (seconds, from an arbitrary
        start): its RTP timestamp, unwrapped, over the sample rate."""
        if frame.pts is None or not frame.sample_rate:
            return None
        if self._last_pts is not None and frame.pts < self._last_pts - _RTP_WRAP // 2:
            self._wrapped += 1
        self._last_pts = frame.pts
        return (frame.pts + self._wrapped * _RTP_WRAP) / frame.sample_rate

    async def consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frame(frame)  # type: ignore[arg-type]

    def summary(self) -> dict:
        return {
            # The totals count every frame, settling ones too.
            "frames": sum(s.frames + s.settling_frames for s in self.segments),
            "frames_above_-40dBFS": sum(s.loud_frames + s.settling_loud_frames for s in self.segments),
            "segments": [
                {"muted": s.muted, "since": s.since_ms, "frames": s.frames, "frames_above_-40dBFS": s.loud_frames,
                 "settling_frames": s.settling_frames, "settling_frames_above_-40dBFS": s.settling_loud_frames}
                for s in self.segments
            ],
        }
