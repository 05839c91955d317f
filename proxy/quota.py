"""Per-client quotas over calendar periods (UTC): when a period ends, and the minutes a client's
calls used this month, as Retell's webhooks reported them."""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from datetime import UTC, datetime

from proxy.report import minutes_by_client
from proxy.usage import open_store

log = logging.getLogger("proxy.quota")


def month_start(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    return datetime(day.year, day.month, 1, tzinfo=UTC).timestamp()


def seconds_to_next_month(now: float) -> int:
    day = datetime.fromtimestamp(now, UTC)
    days = calendar.monthrange(day.year, day.month)[1]
    return max(1, int(month_start(now) + days * 86400 - now + 0.999))


class MinutesLedger:
    """This month's call minutes per client, read from the usage database at most every
    ``refresh`` seconds (one query for every client), so a create never waits on it for long.

    Minutes arrive with ``call_ended`` webhooks: a call still in progress does not count yet, so
    a client may go over its quota by the calls under way when it is reached.
    """

    def __init__(self, database: str, refresh: float = 10.0, clock=time.time) -> None:
        self._database, self._refresh, self._clock = database, refresh, clock
        self._minutes: dict[str, float] = {}
        self._read_at = float("-inf")
        self._month = 0.0
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """A call's minutes arrived here: read again at the next create (other instances read
        again within ``refresh`` seconds)."""
        self._read_at = float("-inf")

    async def minutes(self, client_id: str) -> float | None:
        """This month's minutes for the client; None if the database could not be read."""
        now = self._clock()
        if now - self._read_at >= self._refresh or month_start(now) != self._month:
            async with self._lock:  # one query at a time, however many creates wait for it
                if now - self._read_at >= self._refresh or month_start(now) != self._month:
                    try:
                        self._minutes = await asyncio.to_thread(self._read, month_start(now))
                    except Exception as exc:  # sqlite3, psycopg: the quota cannot be known now
                        log.error("minutes quota unknown; allowing the request", extra={"problem": type(exc).__name__})
                        return None
                    self._read_at, self._month = now, month_start(now)
        return self._minutes.get(client_id, 0.0)

    def _read(self, since: float) -> dict[str, float]:
        store = open_store(self._database)
        try:
            return minutes_by_client(store, since)
        finally:
            store.close()
