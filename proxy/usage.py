"""Usage analytics: one row per created call and one per 5 seconds of like refused attempts,
written in batches from the event loop; and the table of Retell's call events (``proxy.calls``),
which the rows' ``call_id`` joins to a client.

A request hands its row to the recorder and may wait (without blocking the event loop) for the
batch holding it to commit, so an answered request is on disk even if the process dies next.
Refused attempts are tallied instead: one row per 5 seconds, client, agent, origin, outcome,
status and network, with the number of attempts it stands for, written when its 5 seconds are
over (a process killed outright loses at most those seconds' counts of refusals). Storage then
grows with the kinds of refusal and the networks they come from, never with an attacker's rate;
the counts stay exact (sampling would have kept a few attempts' details and lost the totals,
which the outcome report and the usage page are made of). Fields a caller chooses freely (an
unregistered origin or agent, the user agent) are not part of a tally's key.
SQLite in WAL mode by default; Postgres when the database is a ``postgresql://`` URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

log = logging.getLogger("proxy.usage")
_BATCH = 500
_ROWS_PER_INSERT = 90  # 990 parameters (11 a row): under SQLite's oldest limit of 999 per statement
_QUEUE_LIMIT = 100_000  # rows held in memory while the database is slow or away
_GATHER_SECONDS = 0.001  # how long rows gather before a batch is written (5 ms measured worse: more latency than it saved CPU)
_FIRST_RETRY = 0.05  # seconds before a failed batch is tried again; doubles up to 2 s
_SHUTDOWN_GRACE = 10.0  # seconds to keep retrying queued rows once the proxy is stopping
_COLUMNS = "time, client, agent, origin, outcome, status, ip, user_agent, call_id, attempts, consent_hash"
_PLACEHOLDERS = "(" + ", ".join(["%s"] * len(_COLUMNS.split(","))) + ")"
_PG_INSERT = f"INSERT INTO usage ({_COLUMNS}) VALUES {_PLACEHOLDERS}"
_COLUMNS_SQL = ("time DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, agent TEXT NOT NULL, origin TEXT NOT NULL, "
                "outcome TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL, "
                "call_id TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 1, consent_hash TEXT")
# A database from before call ids (or tallies, or consent) gains the column; its old rows have
# none ('', 1, NULL).
_ADD_CALL_ID = "ALTER TABLE usage ADD COLUMN call_id TEXT NOT NULL DEFAULT ''"
_ADD_ATTEMPTS = "ALTER TABLE usage ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1"
_ADD_CONSENT_HASH = "ALTER TABLE usage ADD COLUMN consent_hash TEXT"
TALLY_SECONDS = 5  # refused attempts are tallied per 5 seconds
_TALLY_KEYS = 10_000  # tallies held at most; past it, new networks share one key ('*')
EVENT_COLUMNS = "call_id, event, received, agent_id, start_ms, end_ms, duration_ms, disconnection_reason, cost_cents"
_EVENTS_SQL = ("CREATE TABLE IF NOT EXISTS call_events (call_id TEXT NOT NULL, event TEXT NOT NULL, "
               "received DOUBLE PRECISION NOT NULL, agent_id TEXT NOT NULL, start_ms BIGINT, end_ms BIGINT, "
               "duration_ms BIGINT, disconnection_reason TEXT, cost_cents DOUBLE PRECISION, "
               "PRIMARY KEY (call_id, event))")
# Idempotent per call and event: a repeated delivery changes nothing, and says so (rowcount 0).
_EVENT_INSERT = (f"INSERT INTO call_events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                 "ON CONFLICT (call_id, event) DO NOTHING")
_INDEXES = ("CREATE INDEX IF NOT EXISTS usage_time ON usage (time)",
            "CREATE INDEX IF NOT EXISTS usage_call ON usage (call_id)")


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
    call_id: str = ""  # the call Retell created, for a created row; '' otherwise
    attempts: int = 1  # how many attempts the row stands for: a tally's count
    consent_hash: str | None = None  # a created call's consent text (registry.Consent.hash), for a client that asks


def anonymise_ip(address: str) -> str:
    """Keep the network, drop the host: IPv4 to its /24, IPv6 to its /48. Takes an address or a
    client's budget key (``proxy.ratelimit.ip_key``: an IPv6 network)."""
    try:
        network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return "unknown"
    prefix = 24 if network.version == 4 else 48
    return str(network.supernet(new_prefix=min(prefix, network.prefixlen)).network_address)


class Store(Protocol):
    dialect: str

    def write(self, rows: list[UsageRow]) -> None: ...
    async def awrite(self, rows: list[UsageRow]) -> None: ...
    def add_event(self, row: tuple[Any, ...]) -> bool: ...
    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...
    def close(self) -> None: ...


class SqliteStore:
    dialect = "sqlite"

    def __init__(self, path: str, busy_ms: int = 5000) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL: readers (the report, the page) never block the writer. NORMAL sync survives a
        # process crash; only a power loss can take the last transactions.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS usage ({_COLUMNS_SQL})")
        columns = {column[1] for column in self._db.execute("PRAGMA table_info(usage)")}
        if "call_id" not in columns:
            self._db.execute(_ADD_CALL_ID)
        if "attempts" not in columns:
            self._db.execute(_ADD_ATTEMPTS)
        if "consent_hash" not in columns:
            self._db.execute(_ADD_CONSENT_HASH)
        self._db.execute(_EVENTS_SQL)
        for index in _INDEXES:
            self._db.execute(index)

    def write(self, rows: list[UsageRow]) -> None:
        # Many rows per INSERT statement, not executemany: each statement is one step into
        # SQLite, and after every step this thread must win the GIL back from a busy event loop,
        # which can take up to the 5 ms switch interval. Row by row, a batch of 50 took ~100 ms.
        chunks = [rows[i:i + _ROWS_PER_INSERT] for i in range(0, len(rows), _ROWS_PER_INSERT)]
        if len(chunks) == 1:
            self._insert(chunks[0])  # a single statement is a transaction of its own
            return
        with self._db:  # one transaction per batch
            self._db.execute("BEGIN")
            for chunk in chunks:
                self._insert(chunk)

    async def awrite(self, rows: list[UsageRow]) -> None:
        # On the event loop itself: a batch is one statement of a few hundred microseconds (WAL
        # commits do not wait for the disk), cheaper than handing it to a thread (see below).
        self.write(rows)

    def _insert(self, rows: list[UsageRow]) -> None:
        values = ", ".join([_PLACEHOLDERS.replace("%s", "?")] * len(rows))
        self._db.execute(f"INSERT INTO usage ({_COLUMNS}) VALUES {values}", [v for row in rows for v in row])

    def add_event(self, row: tuple[Any, ...]) -> bool:
        # Autocommit: the statement is committed (to the WAL, which survives the process) on return.
        return self._db.execute(_EVENT_INSERT.replace("%s", "?"), row).rowcount == 1

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._db.execute(sql.replace("%s", "?"), params).fetchall()

    def close(self) -> None:
        self._db.close()


class PostgresStore:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg  # optional: only deployments that use Postgres need it

        self._url = url
        self._db = psycopg.connect(url, autocommit=False, connect_timeout=5)
        self._adb: Any = None  # psycopg.AsyncConnection, opened by the first awrite
        with self._db.transaction():
            self._db.execute(f"CREATE TABLE IF NOT EXISTS usage ({_COLUMNS_SQL})")
            self._db.execute(_ADD_CALL_ID.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS"))
            self._db.execute(_ADD_ATTEMPTS.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS"))
            self._db.execute(_ADD_CONSENT_HASH.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS"))
            self._db.execute(_EVENTS_SQL)
            for index in _INDEXES:
                self._db.execute(index)

    def write(self, rows: list[UsageRow]) -> None:
        with self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany(_PG_INSERT, rows)

    def add_event(self, row: tuple[Any, ...]) -> bool:
        with self._db.transaction(), self._db.cursor() as cursor:
            cursor.execute(_EVENT_INSERT, row)
            return cursor.rowcount == 1

    async def awrite(self, rows: list[UsageRow]) -> None:
        # psycopg's asyncio connection: the network wait never holds the event loop.
        import psycopg

        try:
            if self._adb is None:
                self._adb = await psycopg.AsyncConnection.connect(self._url, autocommit=False, connect_timeout=5)
            async with self._adb.transaction(), self._adb.cursor() as cursor:
                await cursor.executemany(_PG_INSERT, rows)
        except Exception:
            # The connection may be the broken part: the next attempt opens a new one.
            if self._adb is not None:
                with contextlib.suppress(Exception):
                    await self._adb.close()
                self._adb = None
            raise

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._db.transaction():
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._adb is not None:
            # The loop that opened it may be gone by now; libpq closes it without one.
            self._adb.pgconn.finish()
            self._adb = None
        self._db.close()


def open_store(database: str) -> Store:
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database)
    return SqliteStore(database)


def _open_for_recording(database: str) -> Store:
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database)
    # The recorder writes from the event loop, so a locked database (another worker's
    # transaction) is waited on for at most 10 ms; the batch is then retried later instead.
    return SqliteStore(database, busy_ms=10)


class UsageRecorder:
    """Takes rows from the event loop and writes them in batches, from the event loop.

    No writer thread: a thread must win the GIL from the event loop for every step, and a busy
    loop that lets go of the GIL for a moment on each turn keeps restarting the thread's wait for
    it. Measured here with a saturated uvloop, a writer thread went whole seconds without
    running, so every create waited out PROXY_USAGE_COMMIT_WAIT.
    """

    def __init__(self, database: str, opener: Callable[[str], Store] | None = None,
                 shutdown_grace: float = _SHUTDOWN_GRACE) -> None:
        self._database, self._grace = database, shutdown_grace
        self._opener = opener or _open_for_recording
        self._store: Store | None = None
        self._rows: list[_Item] = []
        self._writing: asyncio.Task[None] | None = None
        self._tallies: dict[UsageRow, int] = {}  # a refused attempt's row, its time its stretch's start -> attempts
        self._tally_timer: asyncio.TimerHandle | None = None
        self.committed = 0
        self.dropped = 0

    def start(self) -> None:
        self._store = self._opener(self._database)

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
        if self._writing is None or self._writing.done() or self._writing.get_loop() is not loop:
            # (A task of a loop that has since closed never finishes: start one on this loop.)
            self._writing = loop.create_task(self._write_queued())
        return done

    def tally(self, row: UsageRow) -> None:
        """Count a refused attempt into its row of TALLY_SECONDS, written once they are over."""
        start = row.time // TALLY_SECONDS * TALLY_SECONDS
        key = row._replace(time=start, user_agent="", call_id="", attempts=1)
        if key not in self._tallies and len(self._tallies) >= _TALLY_KEYS:
            key = key._replace(ip="*")  # a flood from many networks still makes one row
        self._tallies[key] = self._tallies.get(key, 0) + 1
        if self._tally_timer is None:
            loop = asyncio.get_running_loop()
            self._tally_timer = loop.call_later(max(0.0, start + TALLY_SECONDS - time.time()) + 0.05, self._end_tallies)

    def _end_tallies(self) -> None:
        self._tally_timer = None
        self._queue_tallies(before=time.time() - TALLY_SECONDS)
        if self._tallies:  # the current stretch's, still counting
            self._tally_timer = asyncio.get_running_loop().call_later(TALLY_SECONDS, self._end_tallies)

    def _queue_tallies(self, before: float | None = None) -> None:
        """Queue the tallies of stretches that started by ``before`` (None: every one) as rows."""
        done = [key for key in self._tallies if before is None or key.time <= before]
        for key in done:
            self.record(key._replace(attempts=self._tallies.pop(key)))

    @property
    def backlog(self) -> int:
        return len(self._rows) + len(self._tallies)

    async def _write_queued(self) -> None:
        """Write batches until the queue is empty, retrying a failing database with backoff."""
        delay = _FIRST_RETRY
        # Group commit: rows that arrive meanwhile share the batch's one statement.
        await asyncio.sleep(_GATHER_SECONDS)
        while self._rows:
            batch = self._rows[:_BATCH]
            try:
                if self._store is None:
                    self._store = self._opener(self._database)
                await self._store.awrite([row for row, _, _ in batch])
            except Exception as exc:
                # Keep the batch: a locked, restarting or unreachable database must not lose rows.
                self._failed(exc, len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            # Only this task removes rows, and new ones are appended: the batch is still first.
            del self._rows[:len(batch)]
            self.committed += len(batch)
            delay = _FIRST_RETRY
            _commit(batch)

    def _failed(self, exc: Exception, rows: int) -> None:
        log.error("usage write failed; retrying", extra={"problem": type(exc).__name__, "rows": rows})
        if isinstance(self._store, SqliteStore):
            # The connection may be the broken part, so the next attempt opens a new one.
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    async def aclose(self) -> None:
        """Let the writing task drain the queue (for at most the grace period), then ``close``.

        Not cancelled straight away: a Postgres batch cancelled while its commit is on the wire
        might be committed and then written again by ``close``.
        """
        give_up = time.monotonic() + self._grace
        if self._tally_timer is not None:
            self._tally_timer.cancel()
            self._tally_timer = None
        self._queue_tallies()  # the stretch is not over, but the process is
        if self._writing is not None and not self._writing.done():
            await asyncio.wait({self._writing}, timeout=self._grace)
            self._writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writing
        self._flush(give_up)

    def close(self) -> None:
        """Write everything still queued (trying for at most a few seconds), then close the store."""
        # No event loop here: the tallies join the queue with nobody waiting on them.
        self._rows += [(key._replace(attempts=n), None, None) for key, n in self._tallies.items()]
        self._tallies.clear()
        self._flush(time.monotonic() + self._grace)

    def _flush(self, give_up: float) -> None:
        delay = _FIRST_RETRY
        while self._rows:
            batch = self._rows[:_BATCH]
            try:
                if self._store is None:
                    self._store = self._opener(self._database)
                self._store.write([row for row, _, _ in batch])
            except Exception as exc:
                self._failed(exc, len(batch))
                if time.monotonic() > give_up:
                    # Shutting down and the database is still away: say what is lost.
                    self.dropped += len(self._rows)
                    log.error("usage rows lost at shutdown", extra={"rows": len(self._rows)})
                    break
                time.sleep(delay)  # shutting down: nothing else is served meanwhile
                delay = min(delay * 2, 2.0)
                continue
            del self._rows[:len(batch)]
            self.committed += len(batch)
            for item in batch:
                if item[1] is None:
                    continue
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                    item[1].get_loop().call_soon_threadsafe(_commit, [item])
        self._rows = []
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None


_Item = tuple[UsageRow, "asyncio.Future[bool | None] | None", "asyncio.TimerHandle | None"]


def _commit(items: list[_Item]) -> None:
    for _, done, timer in items:
        if timer is not None:
            timer.cancel()
        if done is not None and not done.done():
            done.set_result(True)


def _expire(done: asyncio.Future[bool | None]) -> None:
    if not done.done():
        done.set_result(False)
