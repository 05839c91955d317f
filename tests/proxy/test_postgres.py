"""Usage analytics in Postgres, against a throwaway server started here (skipped without one)."""

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from serving import bind
from proxy.calls import EventLog, parse_event
from proxy.report import summarise, summarise_calls
from proxy.usage import PostgresStore, UsageRecorder, UsageRow
from tests.conftest import run_async


def _binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _missing(reason: str) -> None:
    # CI (.ci/run) sets RETELL_REQUIRE_SERVERS: there a missing server is a broken set-up, not a skip.
    if os.environ.get("RETELL_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}, and RETELL_REQUIRE_SERVERS=1")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_server():
    """A throwaway PostgreSQL server for the module (initdb and a start cost 1 to 4 s); each test
    has a database of its own on it."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("the 'postgres' extra (psycopg) is not installed")
    bindir = _binaries()
    if bindir is None:
        _missing("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    # initdb refuses to run as root, so as root the server runs as the postgres user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = tempfile.mkdtemp(prefix="proxy-pg-")
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    pg_ctl = [*as_user, f"{bindir}/pg_ctl", "-D", data]
    try:
        subprocess.run([*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        # -w: pg_ctl returns once the server accepts connections.
        subprocess.run([*pg_ctl, "-w", "-l", f"{data}/log", "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"], check=True, capture_output=True, timeout=120)
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty database on the module's server: no table of another test's in it."""
    import uuid

    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    yield f"{postgres_server}/{name}"


def test_usage_rows_go_to_postgres_and_report_from_there(postgres_url):
    recorder = UsageRecorder(postgres_url)
    recorder.start()
    now = time.time()

    async def run():
        await asyncio.gather(*(recorder.record(UsageRow(now - i, "shop", "agent_shop", "https://shop.example",
                                                        "created" if i % 4 else "rate_limited", 201, "203.0.113.0", "ua"))
                               for i in range(20)))

    try:
        run_async(run())
    finally:
        recorder.close()
    store = PostgresStore(postgres_url)
    try:
        summary = summarise(store, 3600)
    finally:
        store.close()
    assert summary.attempts == 20
    assert summary.totals == [("shop", "created", 15), ("shop", "rate_limited", 5)]
    assert sum(ok + no for _, ok, no in summary.series) == 20


def test_call_events_go_to_postgres_once_each_and_join_their_client(postgres_url):
    recorder = UsageRecorder(postgres_url)
    recorder.start()
    now = time.time()

    async def run():
        await recorder.record(UsageRow(now, "shop", "agent_shop", "https://shop.example", "created", 201, "-", "ua", "call_pg"))

    try:
        run_async(run())
    finally:
        recorder.close()
    log = EventLog(postgres_url)
    log.start()
    ended = {"event": "call_ended", "call": {"call_id": "call_pg", "agent_id": "agent_shop", "duration_ms": 90_000,
                                            "disconnection_reason": "user_hangup", "call_cost": {"combined_cost": 10.5}}}
    started = {"event": "call_started", "call": {"call_id": "call_pg", "agent_id": "agent_shop", "start_timestamp": 1}}
    try:
        added = [run_async(log.add(parse_event(body))) for body in (ended, ended, started)]
    finally:
        log.close()
    assert added == [True, False, True]  # the repeated delivery is kept once
    store = PostgresStore(postgres_url)
    try:
        (shop,) = summarise_calls(store, 3600).clients
    finally:
        store.close()
    assert (shop.client, shop.created, shop.connected, shop.minutes, shop.cost_usd) == ("shop", 1, 1, 1.5, 0.105)


def test_a_usage_table_from_before_consent_gains_the_column(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as db:  # the table as the proxy created it before consent
        db.execute("CREATE TABLE usage (time DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, agent TEXT NOT NULL, "
                   "origin TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, "
                   "user_agent TEXT NOT NULL, call_id TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 1)")
        db.execute("INSERT INTO usage VALUES (1, 'shop', 'agent_shop', '-', 'created', 201, '-', 'ua', 'call_old', 1)")
    recorder = UsageRecorder(postgres_url)
    recorder.start()

    async def run():
        await recorder.record(UsageRow(2, "shop", "agent_shop", "-", "created", 201, "-", "ua", "call_new",
                                       consent_hash="ab" * 32))

    try:
        run_async(run())
    finally:
        recorder.close()
    store = PostgresStore(postgres_url)
    try:
        rows = store.query("SELECT call_id, consent_hash FROM usage ORDER BY time", ())
    finally:
        store.close()
    assert rows == [("call_old", None), ("call_new", "ab" * 32)]
