"""Speech for the sandbox's calls: what the agent says, and a visitor's voice for tests.

The agent's lines come from Debian's espeak-ng as 48 kHz mono 16-bit PCM (about 30 ms a line),
each made once per sandbox (``Voices``). Without espeak-ng the agent says the same words as a
440 Hz tone of the same length, and the log says why. ``visitor_wav`` writes what Chromium plays
as its microphone (``--use-file-for-fake-audio-capture``): a visitor's lines with pauses between
them.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
import subprocess
import wave
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import av

log = logging.getLogger(__name__)

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms, Opus's usual packet
TEXT = "Hello! How can I help?"  # the greeting of an agent without a script
WORDS_PER_MINUTE = 190
_QUIET = 328  # a sample under -40 dBFS counts as silence when trimming


@dataclass(frozen=True, slots=True)
class Speech:
    text: str
    pcm: bytes  # s16 little-endian mono at RATE
    source: str  # "espeak-ng" or "tone"

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def speak(text: str = TEXT, words_per_minute: int = WORDS_PER_MINUTE) -> Speech:
    espeak = shutil.which("espeak-ng")
    if espeak is not None:
        try:
            wav = subprocess.run([espeak, "--stdout", "-s", str(words_per_minute), text], check=True, capture_output=True,
                                 timeout=20).stdout
            return Speech(text, _trim(_to_pcm(wav)), "espeak-ng")
        except (subprocess.SubprocessError, OSError, av.FFmpegError) as exc:
            log.warning("espeak-ng could not speak %r (%s); the agent plays a tone instead", text[:40], exc)
    else:
        log.warning("espeak-ng is not installed; the agent plays a tone instead of speaking")
    return Speech(text, tone(440.0, 0.06 * len(text.split()) + 1.0), "tone")


@dataclass
class Voices:
    """Every line the sandbox's agents say, spoken once and kept for the sandbox's life."""

    spoken: dict[str, Speech] = field(default_factory=dict)

    def get(self, text: str) -> Speech:
        if text not in self.spoken:
            self.spoken[text] = speak(text)
        return self.spoken[text]

    def prepare(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.get(text)


def tone(hz: float, seconds: float, level: float = 0.3) -> bytes:
    samples = int(RATE * seconds)
    return array("h", (int(level * 32767 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(samples))).tobytes()


def visitor_wav(path: Path, parts: Iterable[float | str], words_per_minute: int = WORDS_PER_MINUTE) -> list[tuple[float, float]]:
    """Writes a 48 kHz mono WAV of ``parts`` in order: a number is that many seconds of silence, a
    string is that line spoken by espeak-ng. Returns each line's (start, end) in seconds."""
    pcm, spans = bytearray(), []
    for part in parts:
        if isinstance(part, str):
            start = len(pcm) / 2 / RATE
            pcm += speak(part, words_per_minute).pcm
            spans.append((round(start, 3), round(len(pcm) / 2 / RATE, 3)))
        else:
            pcm += bytes(int(RATE * part) * 2)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(pcm))
    return spans


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


def _trim(pcm: bytes, keep: float = 0.02) -> bytes:
    """Without espeak-ng's leading and trailing silence (tens of milliseconds each), so a line's
    audio starts when it is sent; ``keep`` seconds stay on either side."""
    samples = array("h")
    samples.frombytes(pcm)
    loud = [i for i in (next((i for i, s in enumerate(samples) if abs(s) > _QUIET), None),
                        next((i for i in range(len(samples) - 1, -1, -1) if abs(samples[i]) > _QUIET), None)) if i is not None]
    if len(loud) < 2:
        return pcm
    margin = int(RATE * keep)
    return samples[max(0, loud[0] - margin):loud[1] + margin].tobytes()


def level_dbfs(pcm: bytes) -> float:
    """The RMS level of s16 samples, in dB below full scale (-inf for silence)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if not samples:
        return -math.inf
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / (32768.0 * 32768.0)) if power else -math.inf
