"""A file whose parsed value follows the file's changes, keeping the last good value on errors."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("proxy.reload")
T = TypeVar("T")


class WatchedFile(Generic[T]):
    """``current()`` re-reads the file when its mtime or size changed, at most every ``interval``.

    A change that fails to load is logged once and the last good value stays in use: a typo in
    the registry must not take every client's widget down.
    """

    def __init__(self, path: Path, load: Callable[[Path], T], interval: float,
                 clock: Callable[[], float] = time.monotonic, depends_on: Callable[[], object] | None = None) -> None:
        """``depends_on`` gives a key of what else the value is made from (the registry is
        checked against the manifest's releases): a new key reads the file again."""
        self.path, self._load, self._interval, self._clock = path, load, interval, clock
        self._depends_on = depends_on
        self._value: T | None = None
        self._stamp: tuple[int, int] | None = (-1, -1)  # never a real stat, so the first call loads
        self._checked = float("-inf")
        self.error: str | None = None
        self.reloads = 0

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> T | None:
        now = self._clock()
        if now - self._checked < self._interval:
            return self._value
        self._checked = now
        stamp = (self._stat(), self._depends_on() if self._depends_on is not None else None)
        if stamp == self._stamp:
            return self._value
        self._stamp = stamp
        try:
            value = self._load(self.path)
        except Exception as exc:  # any failure to load keeps the last good value
            self.error = "; ".join(getattr(exc, "errors", None) or [str(exc) or type(exc).__name__])
            log.error("%s could not be loaded; %s", self.path,
                      "keeping the last good version" if self._value is not None else "nothing loaded yet",
                      extra={"problem": self.error})
            return self._value
        if self._value is not None:
            self.reloads += 1
            log.info("%s reloaded", self.path)
        self._value, self.error = value, None
        return value
