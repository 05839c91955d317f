"""The two audio paths of a sandbox call: the agent's outgoing voice and a meter on the caller's
microphone."""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from harness.greeting import FRAME_SAMPLES, RATE, Speech, level_dbfs

# A microphone frame counts as audio, not silence, above this level.
LOUD_DBFS = -40.0
# Audio already on its way when a mute change is signalled (encoded, in flight, in the jitter
# buffer: 3 frames were seen here) arrives just after it; it is counted apart, as settling.
SETTLE_MS = 200
_SILENCE = bytes(FRAME_SAMPLES * 2)


class AgentVoice(MediaStreamTrack):
    """The ``agent_audio`` track: silence, except while ``say`` plays speech, in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = bytearray()
        self._start: float | None = None
        self._sent = 0  # samples
        self.frames_sent = 0
        self.speech_frames_sent = 0

    def say(self, speech: Speech) -> float:
        """Queue ``speech``; returns how many seconds it takes to play."""
        self._queue += speech.pcm
        return speech.seconds

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
        if chunk:
            self.speech_frames_sent += 1
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
    since_ms: int  # when this segment began, milliseconds since the epoch
    frames: int = 0  # after the first SETTLE_MS
    loud_frames: int = 0  # of those, frames above LOUD_DBFS
    settling_frames: int = 0  # in the first SETTLE_MS, sent before the change took effect
    settling_loud_frames: int = 0


@dataclass
class MicrophoneMeter:
    """Counts the caller's microphone frames, and those above -40 dBFS, per mute segment."""

    segments: list[Segment] = field(default_factory=list)
    heard: asyncio.Event = field(default_factory=asyncio.Event)  # the first frame arrived

    def set_muted(self, muted: bool) -> None:
        if not self.segments or self.segments[-1].muted != muted:
            # The first segment has nothing before it to settle from.
            since = int(time.time() * 1000) - (SETTLE_MS if not self.segments else 0)
            self.segments.append(Segment(muted, since))

    def frame(self, frame: AudioFrame) -> None:
        if not self.segments:
            self.set_muted(False)
        self.heard.set()
        segment = self.segments[-1]
        # Decoded Opus is packed s16 (one plane, channels interleaved).
        loud = level_dbfs(bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]) > LOUD_DBFS
        if time.time() * 1000 - segment.since_ms < SETTLE_MS:
            segment.settling_frames += 1
            segment.settling_loud_frames += loud
        else:
            segment.frames += 1
            segment.loud_frames += loud

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
