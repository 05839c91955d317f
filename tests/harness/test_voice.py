"""The meter on the caller's microphone: frames and loud frames per mute segment."""

from __future__ import annotations

import time

from av import AudioFrame

from harness.greeting import FRAME_SAMPLES, tone
from harness.voice import SETTLE_MS, MicrophoneMeter
from tests.conftest import run_async

LOUD = tone(440.0, FRAME_SAMPLES / 48000, level=0.3)
QUIET = bytes(FRAME_SAMPLES * 2)


def frame(pcm: bytes) -> AudioFrame:
    made = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    made.planes[0].update(pcm)
    return made


def test_segments_count_loud_frames_apart_from_audio_in_flight_at_a_change():
    async def meter_it() -> dict:
        meter = MicrophoneMeter()
        meter.frame(frame(LOUD))
        meter.frame(frame(QUIET))
        meter.set_muted(True)
        meter.frame(frame(LOUD))  # sent before the mute took effect: settling
        meter.segments[-1].since_ms -= SETTLE_MS  # as if 200 ms had passed
        meter.frame(frame(QUIET))
        meter.set_muted(True)  # no change, no new segment
        return meter.summary()

    summary = run_async(meter_it())
    first, muted = summary["segments"]
    assert (first["muted"], first["frames"], first["frames_above_-40dBFS"]) == (False, 2, 1)
    assert (muted["muted"], muted["frames"], muted["frames_above_-40dBFS"]) == (True, 1, 0)
    assert (muted["settling_frames"], muted["settling_frames_above_-40dBFS"]) == (1, 1)
    assert summary["frames"] == 4 and summary["frames_above_-40dBFS"] == 2
    assert muted["since"] <= time.time() * 1000
