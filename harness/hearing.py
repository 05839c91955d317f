"""What the sandbox's agent hears: voice activity on the caller's microphone.

Speech starts once the microphone has been loud (above -40 dBFS) for ``ONSET_MS``, dips shorter
than ``GAP_MS`` (between words) included, and ends after ``END_MS`` without a loud frame. The
onset keeps noise out: Chromium's fake microphone beeps for 80-100 ms every 500 ms, where
espeak-ng's words run for 180-460 ms with dips of at most 60 ms (both measured on the media
server). The end is a timer, not a count of frames, since a silent microphone may send none (Opus
DTX); when it fires, the caller's own clock (the frames' RTP timestamps) must show the silence
too, so audio that is merely late (a busy machine, a congested path) does not end a turn early:
it waits for that audio, up to twice ``END_MS``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ONSET_MS = 160
GAP_MS = 100
END_MS = 450
_FRAME_MS = 20


@dataclass
class SpeechDetector:
    """Calls ``on_start(began)`` when the caller starts speaking and ``on_end(stopped)`` when they
    stop; both times are when the first and last loud frames arrived (``time.time()``)."""

    on_start: Callable[[float], None]
    on_end: Callable[[float], None]
    now: Callable[[], float] = time.time
    speaking: bool = False
    _run_start: float | None = None  # the current run of loud frames, on the caller's clock
    _run_arrived: float = 0.0
    _last_loud: float = 0.0
    _last_arrived: float = 0.0
    _latest: float = 0.0  # the newest frame's time, on the caller's clock
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def frame(self, loud: bool, captured: float | None, arrived: float | None = None) -> None:
        """One 20 ms frame: whether it is loud, when the caller captured it (seconds on its own
        clock, None if unknown) and when it arrived."""
        arrived = self.now() if arrived is None else arrived
        at = arrived if captured is None else captured
        self._latest = max(self._latest, at)
        if not loud:
            return
        if self._run_start is None or (at - self._last_loud) * 1000 > GAP_MS:
            self._run_start, self._run_arrived = at, arrived
        self._last_loud, self._last_arrived = at, arrived
        if not self.speaking and (at - self._run_start) * 1000 + _FRAME_MS >= ONSET_MS:
            self.speaking = True
            self.on_start(self._run_arrived)
        if self.speaking:
            self._arm(END_MS / 1000)

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._ended)

    def _ended(self) -> None:
        self._timer = None
        silent = (self._latest - self._last_loud) * 1000  # as the caller's frames tell it
        waited = (self.now() - self._last_arrived) * 1000
        if silent < END_MS and waited < 2 * END_MS:
            self._arm(_FRAME_MS / 1000)  # the caller's audio is late, not silent: wait for it
            return
        self.speaking = False
        self._run_start = None
        self.on_end(self._last_arrived)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
