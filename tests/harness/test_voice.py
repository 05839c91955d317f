"""The meter on the caller's microphone: frames and loud frames per mute segment."""

from __future__ import annotations

from av import AudioFrame

from harness.speech import FRAME_SAMPLES, RATE, tone
from harness.voice import SETTLE_MS, MicrophoneMeter
from tests.conftest import run_async

LOUD = tone(440.0, FRAME_SAMPLES / RATE, level=0.3)
QUIET = bytes(FRAME_SAMPLES * 2)
START_PTS = (1 << 32) - 3 * FRAME_SAMPLES  # a random start: this one wraps after three frames


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def frame(pcm: bytes, index: int | None) -> AudioFrame:
    """The caller's frame ``index`` (its RTP timestamp counts 20 ms per frame), or no timestamp."""
    made = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    made.planes[0].update(pcm)
    made.sample_rate = RATE
    if index is not None:
        made.pts = (START_PTS + index * FRAME_SAMPLES) % (1 << 32)
    return made


def meter_frames(steps: list) -> dict:
    """Feed ``steps``: ("frame", pcm, index, arrival delay after capture), ("mute", bool, at)."""
    clock = Clock()

    async def meter_it() -> dict:
        meter = MicrophoneMeter(now=clock)
        for step in steps:
            if step[0] == "frame":
                _, pcm, index, delay = step
                clock.now = 1_000.0 + (index or 0) * 0.02 + delay
                meter.frame(frame(pcm, index))
            else:
                _, muted, at = step
                clock.now = 1_000.0 + at
                meter.set_muted(muted)
        return meter.summary()

    return run_async(meter_it())


def test_audio_captured_before_a_mute_settles_however_late_it_arrives():
    # Frames 0-9 are loud and arrive 10 ms after capture, then the mute arrives at 0.2 s. On a
    # busy machine frames 10-14, captured before it, arrive up to 0.6 s late; from frame 25 on
    # (0.5 s, past the 200 ms of settling) the caller sends silence.
    steps = [("frame", LOUD, i, 0.01) for i in range(10)]
    steps.append(("mute", True, 0.2))
    steps += [("frame", LOUD, i, 0.6) for i in range(10, 15)]
    steps += [("frame", QUIET, i, 0.01) for i in range(15, 40)]
    steps.append(("mute", True, 0.9))  # no change, no new segment
    summary = meter_frames(steps)
    first, muted = summary["segments"]
    assert (first["muted"], first["frames"], first["frames_above_-40dBFS"], first["settling_frames"]) == (False, 10, 10, 0)
    assert muted["muted"] is True and muted["frames_above_-40dBFS"] == 0, muted
    # The path's own delay is 10 ms, so the mute left the caller by 0.19 s; with 200 ms more of
    # its clock frames 10-19 settle, and the rest count.
    assert (muted["settling_frames"], muted["settling_frames_above_-40dBFS"]) == (10, 5)
    assert muted["frames"] == 40 - 10 - 10
    assert summary["frames"] == 40 and summary["frames_above_-40dBFS"] == 15
    assert first["since"] < muted["since"] == 1_000_200


def test_audio_heard_after_settling_counts_as_heard_while_muted():
    # The caller kept sending its tone after saying it muted: the meter must see it.
    steps = [("frame", LOUD, i, 0.01) for i in range(5)]
    steps.append(("mute", True, 0.1))
    steps += [("frame", LOUD, i, 0.01) for i in range(5, 30)]
    summary = meter_frames(steps)
    muted = summary["segments"][1]
    assert muted["frames_above_-40dBFS"] == muted["frames"] > 0


def test_without_timestamps_settling_goes_by_arrival():
    clock = Clock()

    async def meter_it() -> dict:
        meter = MicrophoneMeter(now=clock)
        meter.frame(frame(LOUD, None))
        meter.set_muted(True)
        meter.frame(frame(LOUD, None))  # at once: settling
        clock.now += SETTLE_MS / 1000
        meter.frame(frame(QUIET, None))
        return meter.summary()

    muted = run_async(meter_it())["segments"][1]
    assert (muted["settling_frames"], muted["settling_frames_above_-40dBFS"], muted["frames"], muted["frames_above_-40dBFS"]) == (1, 1, 1, 0)
