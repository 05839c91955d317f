"""Usage analytics: one row per create attempt, written by a background thread in batches.

A request hands its row to the writer and may wait (without blocking the event loop) for the
batch holding it to commit, so an answered request is on disk even if the process dies next.
SQLite in WAL mode by default; Postgres when the database is a ``postgresql://`` URL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

log = logging.getLogger("proxy.usage")
_BATCH = 500
_QUEUE_LIMIT = 100_000  # rows held in memory while the database is slow or away
_GATHER_SECONDS = 0.001  # how long the writer lets rows gather before a transaction (1 ms measured best: 5 ms added more latency than it saved CPU)
_SHUTDOWN_GRACE = 10.0  # seconds to keep retrying queued rows once the proxy is stopping
_COLUMNS = "time, client, agent, origin, outcome, status, ip, user_agent"
_COLUMNS_SQL = ("time DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, agent TEXT NOT NULL, origin TEXT NOT NULL, "
                "outcome TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL")


class UsageRow(NamedTuple):
    """One create attempt; a tuple, so the database drivers take it as it is."""

    time: float
    client: str
    agent: str
    origin: str
    outcome: str
    status: int
    ip: str
    user_agent: str


def anonymise_ip(address: str) -> str:
    """Keep the network, drop the host: IPv4 to its /24, IPv6 to its /48."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class Store(Protocol):
    dialect: str

    def write(self, rows: list[UsageRow]) -> None: ...
    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...
    def close(self) -> None: ...


class SqliteStore:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL: readers (the report, the page) never block the writer. NORMAL sync survives a
        # process crash; only a power loss can take the last transactions.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS usage ({_COLUMNS_SQL})")
        self._db.execute("CREATE INDEX IF NOT EXISTS usage_time ON usage (time)")

    def write(self, rows: list[UsageRow]) -> None:
        with self._db:  # one transaction per batch
            self._db.execute("BEGIN")
            self._db.executemany(f"INSERT INTO usage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._db.execute(sql.replace("%s", "?"), params).fetchall()

    def close(self) -> None:
        self._db.close()


class PostgresStore:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg  # optional: only deployments that use Postgres need it

        self._db = psycopg.connect(url, autocommit=False)
        with self._db.transaction():
            self._db.execute(f"CREATE TABLE IF NOT EXISTS usage ({_COLUMNS_SQL})")
            self._db.execute("CREATE INDEX IF NOT EXISTS usage_time ON usage (time)")

    def write(self, rows: list[UsageRow]) -> None:
        with self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany(f"INSERT INTO usage ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._db.transaction():
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        self._db.close()


def open_store(database: str) -> Store:
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database)
    return SqliteStore(database)


class UsageRecorder:
    """Takes rows from the event loop and writes them in batches on its own thread.

    The hot path is cheap on purpose: a row is an append to a deque, the writer is woken only
    when it sleeps, and the futures of a whole batch are completed by one call into the loop.
    """

    def __init__(self, database: str, opener: Callable[[str], Store] = open_store,
                 shutdown_grace: float = _SHUTDOWN_GRACE) -> None:
        self._database, self._opener, self._grace = database, opener, shutdown_grace
        self._rows: collections.deque[_Item] = collections.deque()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._closing = threading.Event()
        self.committed = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def record(self, row: UsageRow, timeout: float | None = None) -> asyncio.Future[bool | None]:
        """Queue ``row`` without blocking.

        The future's result is True once the row is committed, False if ``timeout`` seconds
        passed first (the row is still written later), None if the row had to be dropped.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool | None] = loop.create_future()
        if len(self._rows) >= _QUEUE_LIMIT:
            # Only when the database has been away for a long time: say so, keep serving.
            self.dropped += 1
            log.error("usage queue full; a row was dropped", extra={"dropped": self.dropped})
            done.set_result(None)
            return done
        timer = loop.call_later(timeout, _expire, done) if timeout else None
        self._rows.append((row, done, timer))
        if not self._wake.is_set():
            self._wake.set()
        return done

    @property
    def backlog(self) -> int:
        return len(self._rows)

    def close(self) -> None:
        """Write everything still queued (trying for at most a few seconds), then stop the writer."""
        if self._thread.is_alive():
            self._closing.set()
            self._wake.set()
            self._thread.join()

    def _run(self) -> None:
        store: Store | None
        try:
            store = self._opener(self._database)
        except BaseException as exc:
            self._open_error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                self._wake.wait()
                # Group commit: let a busy proxy gather rows for a moment, so one transaction
                # (and one wake-up of this thread) carries many of them rather than one each.
                if len(self._rows) < _BATCH and not self._closing.is_set():
                    self._closing.wait(_GATHER_SECONDS)
                # Cleared before draining: a row queued from here on sets it again.
                self._wake.clear()
                while self._rows:
                    batch = [self._rows.popleft() for _ in range(min(_BATCH, len(self._rows)))]
                    store = self._write(store, batch)
                if self._closing.is_set():
                    return
        finally:
            if store is not None:
                store.close()

    def _write(self, store: Store | None, batch: list[_Item]) -> Store | None:
        """Write ``batch``, reconnecting and retrying until it is written; return the store to use next."""
        delay, give_up = 0.05, None
        while True:
            try:
                if store is None:
                    store = self._opener(self._database)
                store.write([row for row, _, _ in batch])
                self.committed += len(batch)
                break
            except Exception as exc:
                # Keep the batch: a locked, restarting or unreachable database must not lose rows.
                # The connection may be the broken part, so the next attempt opens a new one.
                log.error("usage write failed; retrying", extra={"problem": type(exc).__name__, "rows": len(batch)})
                if store is not None:
                    with contextlib.suppress(Exception):
                        store.close()
                    store = None
                if self._closing.is_set():
                    give_up = give_up or time.monotonic() + self._grace
                    if time.monotonic() > give_up:
                        # Shutting down and the database is still away: say what is lost.
                        self.dropped += len(batch)
                        log.error("usage rows lost at shutdown", extra={"rows": len(batch)})
                        break
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        # One call into each waiting loop per batch, not one per row: every call wakes the loop.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in batch:
            by_loop.setdefault(item[1].get_loop(), []).append(item)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_commit, items)
            except RuntimeError:
                pass  # the loop has closed; nobody waits for these rows any more
        return store


_Item = tuple[UsageRow, "asyncio.Future[bool | None]", "asyncio.TimerHandle | None"]


def _commit(items: list[_Item]) -> None:
    for _, done, timer in items:
        if timer is not None:
            timer.cancel()
        if not done.done():
            done.set_result(True)


def _expire(done: asyncio.Future[bool | None]) -> None:
    if not done.done():
        done.set_result(False)
