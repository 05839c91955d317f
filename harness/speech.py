"""The agent's voice: a spoken greeting from Debian's espeak-ng, as 48 kHz mono 16-bit PCM.

Made once when the sandbox starts (about 0.1 s). Without espeak-ng the agent says the same words
as a 440 Hz tone of the same length, and the log says why.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
import subprocess
from array import array
from dataclasses import dataclass

import av

log = logging.getLogger("harness.media")

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms, Opus's usual packet
TEXT = "Hello! How can I help you today?"


@dataclass(frozen=True, slots=True)
class Speech:
    text: str
    pcm: bytes  # s16 little-endian mono at RATE
    source: str  # "espeak-ng" or "tone"

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def speak(text: str = TEXT) -> Speech:
    espeak = shutil.which("espeak-ng")
    if espeak is not None:
        try:
            wav = subprocess.run([espeak, "--stdout", "-s", "190", text], check=True, capture_output=True, timeout=20).stdout
            return Speech(text, _to_pcm(wav), "espeak-ng")
        except (subprocess.SubprocessError, OSError, av.FFmpegError) as exc:
            log.warning("espeak-ng could not speak the greeting (%s); the agent plays a tone instead", exc)
    else:
        log.warning("espeak-ng is not installed; the agent plays a tone instead of a spoken greeting")
    return Speech(text, tone(440.0, 0.06 * len(text.split()) + 1.0), "tone")


def tone(hz: float, seconds: float, level: float = 0.3) -> bytes:
    samples = int(RATE * seconds)
    return array("h", (int(level * 32767 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(samples))).tobytes()


def _to_pcm(wav: bytes) -> bytes:
    out = bytearray()
    with av.open(io.BytesIO(wav), format="wav") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for converted in resampler.resample(frame):
                out += bytes(converted.planes[0])[: converted.samples * 2]
        for converted in resampler.resample(None):
            out += bytes(converted.planes[0])[: converted.samples * 2]
    if not out:
        raise av.FFmpegError(0, "espeak-ng produced no audio")
    return bytes(out)


def level_dbfs(pcm: bytes) -> float:
    """The RMS level of s16 samples, in dB below full scale (-inf for silence)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if not samples:
        return -math.inf
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / (32768.0 * 32768.0)) if power else -math.inf
