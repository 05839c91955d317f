"""Usage analytics: one row per create attempt, written by a background thread in batches.

A request hands its row to the writer and may wait (without blocking the event loop) for the
batch holding it to commit, so an answered request is on disk even if the process dies next.
SQLite in WAL mode by default; Postgres when the database is a ``postgresql://`` URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from typing import Any, Protocol

log = logging.getLogger("proxy.usage")
_BATCH = 500
_QUEUE_LIMIT = 100_000  # rows held in memory while the database is slow or away
_SHUTDOWN_GRACE = 10.0  # seconds to keep retrying queued rows once the proxy is stopping
_COLUMNS = "time, client, agent, origin, outcome, status, ip, user_agent"
_COLUMNS_SQL = ("time DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, agent TEXT NOT NULL, origin TEXT NOT NULL, "
                "outcome TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL")


@dataclass(frozen=True, slots=True)
class UsageRow:
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
            self._db.executemany(f"INSERT INTO usage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", map(astuple, rows))

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
            cursor.executemany(f"INSERT INTO usage ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", [astuple(r) for r in rows])

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
    """Takes rows from the event loop and writes them in batches on its own thread."""

    def __init__(self, database: str, opener: Callable[[str], Store] = open_store,
                 shutdown_grace: float = _SHUTDOWN_GRACE) -> None:
        self._database, self._opener, self._grace = database, opener, shutdown_grace
        self._queue: queue.Queue[tuple[UsageRow, asyncio.Future[None] | None] | None] = queue.Queue(_QUEUE_LIMIT)
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

    def record(self, row: UsageRow) -> asyncio.Future[None]:
        """Queue ``row``; the future completes once it is committed. Never blocks."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((row, done))
        except queue.Full:
            # Only when the database has been away for a long time: say so, keep serving.
            self.dropped += 1
            log.error("usage queue full; a row was dropped", extra={"dropped": self.dropped})
            done.set_result(None)
        return done

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Write everything still queued (trying for at most a few seconds), then stop the writer."""
        if self._thread.is_alive():
            self._closing.set()
            self._queue.put(None)
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
            for batch in self._batches():
                store = self._write(store, batch)
        finally:
            if store is not None:
                store.close()

    def _batches(self) -> Iterator[list[tuple[UsageRow, asyncio.Future[None] | None]]]:
        while True:
            first = self._queue.get()
            batch = [first] if first is not None else []
            stop = first is None
            while not stop and len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                yield batch  # type: ignore[misc]
            if stop:
                return

    def _write(self, store: Store | None, batch: list[tuple[UsageRow, asyncio.Future[None] | None]]) -> Store | None:
        """Write ``batch``, reconnecting and retrying until it is written; return the store to use next."""
        delay, give_up = 0.05, None
        while True:
            try:
                if store is None:
                    store = self._opener(self._database)
                store.write([row for row, _ in batch])
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
        for _, done in batch:
            if done is not None:
                try:
                    done.get_loop().call_soon_threadsafe(_resolve, done)
                except RuntimeError:
                    pass  # the loop has closed; nobody waits for this row any more
        return store


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
