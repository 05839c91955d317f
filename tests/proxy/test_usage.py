import asyncio
import base64
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serving import bind
from proxy.__main__ import main
from proxy.report import html_page, parse_span, summarise, summarise_calls, svg_chart, text_report
from proxy.settings import Secret
from proxy.usage import TALLY_SECONDS, SqliteStore, UsageRecorder, UsageRow, anonymise_ip
from tests.conftest import run_async
from proxy.app import create_app
from tests.proxy.conftest import killed_proxy, serving, settings_for

SHOP = "https://shop.example"
ENDPOINT = "/api/create-web-call"
ADMIN = "admin-token-0123456789abcdef"


def row(outcome="created", client="shop", at=None):
    return UsageRow(time.time() if at is None else at, client, "agent_shop", SHOP, outcome, 201, "203.0.113.0", "test")


def count(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM usage").fetchone()[0]


@pytest.mark.parametrize("address, anonymised", [
    ("203.0.113.77", "203.0.113.0"),
    ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
    ("2001:db8:abcd:12::/64", "2001:db8:abcd::"),  # a client's budget key (its /64) cuts alike
    ("2001:db8::/32", "2001:db8::"),  # a wider key stays as wide
    ("unknown", "unknown"),
    ("", "unknown"),
])
def test_ip_addresses_are_cut_to_their_network(address, anonymised):
    assert anonymise_ip(address) == anonymised


def test_rows_are_committed_before_the_future_completes(tmp_path):
    path = tmp_path / "usage.sqlite3"
    recorder = UsageRecorder(str(path))
    recorder.start()

    async def run():
        futures = [recorder.record(row()) for _ in range(50)]
        await asyncio.gather(*futures)
        return count(path)

    try:
        assert run_async(run()) == 50
    finally:
        recorder.close()
    assert recorder.committed == 50
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_commit_within_the_wait_while_the_event_loop_is_busy(tmp_path):
    # A writer thread starved here: a loop that lets go of the GIL on every turn kept it from
    # ever running, and each row only came back when its one-second wait ran out (False).
    recorder = UsageRecorder(str(tmp_path / "usage.sqlite3"))
    recorder.start()

    async def run():
        stop = asyncio.Event()

        async def busy():  # a saturated proxy: short stretches of work, then a turn of the loop
            while not stop.is_set():
                started = time.perf_counter()
                while time.perf_counter() - started < 0.0003:
                    pass
                await asyncio.sleep(0)

        async def client():
            return [await recorder.record(row(), 1.0) for _ in range(10)]

        spinner = asyncio.create_task(busy())
        results = await asyncio.gather(*(client() for _ in range(4)))
        stop.set()
        await spinner
        return [r for rs in results for r in rs]

    try:
        assert run_async(run()) == [True] * 40
    finally:
        run_async(recorder.aclose())
    assert recorder.committed == 40


def test_a_slow_database_answers_after_the_wait_and_still_writes_the_row(tmp_path):
    path = tmp_path / "usage.sqlite3"
    gate: list[asyncio.Event] = []

    class Slow(SqliteStore):
        async def awrite(self, rows):
            await gate[0].wait()  # a database that takes its time
            self.write(rows)

    recorder = UsageRecorder(str(path), opener=Slow)
    recorder.start()

    async def run():
        gate.append(asyncio.Event())
        timed_out = await recorder.record(row(), 0.05)
        gate[0].set()
        return timed_out, await recorder.record(row(), 5)

    assert run_async(run()) == (False, True)
    recorder.close()
    assert count(path) == 2


def test_a_failing_database_is_retried_without_losing_rows(tmp_path, caplog):
    path = tmp_path / "usage.sqlite3"
    failures = [2]

    class Flaky(SqliteStore):
        def write(self, rows):
            if failures[0]:
                failures[0] -= 1
                raise sqlite3.OperationalError("database is locked")
            super().write(rows)

    recorder = UsageRecorder(str(path), opener=Flaky)
    recorder.start()

    async def run():
        await asyncio.gather(*(recorder.record(row()) for _ in range(5)))

    try:
        run_async(run())
    finally:
        recorder.close()
    assert count(path) == 5
    assert "usage write failed; retrying" in caplog.text


def test_a_database_still_down_at_shutdown_is_given_up_on_and_counted(tmp_path, caplog):
    class Down(SqliteStore):
        def write(self, rows):
            raise sqlite3.OperationalError("disk I/O error")

    recorder = UsageRecorder(str(tmp_path / "usage.sqlite3"), opener=Down, shutdown_grace=0.2)
    recorder.start()

    async def run():
        for _ in range(3):
            recorder.record(row())

    run_async(run())
    recorder.close()  # returns although the rows could not be written
    assert recorder.dropped == 3 and recorder.committed == 0
    assert "usage rows lost at shutdown" in caplog.text


def test_closing_writes_everything_still_queued(tmp_path):
    path = tmp_path / "usage.sqlite3"
    recorder = UsageRecorder(str(path))
    recorder.start()

    async def run():
        for _ in range(300):
            recorder.record(row())

    run_async(run())
    recorder.close()
    assert count(path) == 300


def test_spans_parse_or_explain():
    assert parse_span("7d") == 7 * 86400 and parse_span("30m") == 1800 and parse_span("2w") == 14 * 86400
    for bad in ("", "7", "d", "0d", "7y", "-1d", "9999w"):
        with pytest.raises(ValueError):
            parse_span(bad)


def test_report_counts_by_client_and_outcome(tmp_path):
    store = SqliteStore(str(tmp_path / "usage.sqlite3"))
    now = 1_800_000_000.0
    store.write([row(at=now - 60), row(at=now - 3600), row("origin_not_allowed", "-", now - 7200),
                 row(at=now - 30 * 86400)])  # the last one is outside the span
    summary = summarise(store, 86400, now=now)
    assert summary.attempts == 3
    assert summary.totals == [("-", "origin_not_allowed", 1), ("shop", "created", 2)]
    assert summary.bucket == 3600 and sum(ok for _, ok, _ in summary.series) == 2
    text = text_report(summary)
    assert "3 create attempts" in text and "created 2, refused or failed 1" in text
    svg = svg_chart(summary)
    assert svg.startswith("<svg") and svg.count("<rect") == 2 * 24  # a bar per hour
    assert "<script" not in html_page(summary, summarise_calls(store, 86400, now=now), "24h")
    store.close()


def test_usage_command_prints_a_report(tmp_path, monkeypatch, capsys):
    path = tmp_path / "usage.sqlite3"
    store = SqliteStore(str(path))
    store.write([row(), row("rate_limited")])
    store.close()
    monkeypatch.setenv("PROXY_USAGE_DB", str(path))
    assert main(["usage", "--by", "outcome", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert "2 create attempts" in out and "rate_limited" in out
    assert main(["usage", "--since", "forever"]) == 2
    assert "--since: a span is" in capsys.readouterr().err
    monkeypatch.setenv("PROXY_USAGE_DB", str(tmp_path / "none.sqlite3"))
    assert main(["usage"]) == 2
    assert "no usage database" in capsys.readouterr().err
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("PROXY_USAGE_DB", f"postgresql://ops:hunter2-secret@127.0.0.1:{port}/usage")
    assert main(["usage"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: PROXY_USAGE_DB: cannot open 127.0.0.1:{port}/usage") and "hunter2" not in err


def test_every_create_attempt_is_recorded_and_refusals_are_tallied(tmp_path, registry_file, manifest_file, fake_retell):
    """A created call has its own row; refusals are counted into rows of 5 seconds, so a flood of
    them (here 200 made-up origins, agents and user agents) adds rows by kind, not by request."""
    settings = settings_for(fake_retell[1], registry_file, tmp_path, rate_limit_ip="1000/minute")
    with serving(create_app(settings)) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as proxy:
        proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP, "User-Agent": "Ada's browser"})
        proxy.post(ENDPOINT, json={"agent_id": "agent_bolt"}, headers={"Origin": SHOP})
        proxy.post(ENDPOINT, content=b"{", headers={"Origin": SHOP, "Content-Type": "application/json"})
        started = time.time()
        for n in range(200):
            proxy.post(ENDPOINT, json={"agent_id": f"agent_made_up_{n}"},
                       headers={"Origin": f"https://evil-{n}.example", "User-Agent": f"bot {n}"})
        stretches = int(time.time() // TALLY_SECONDS - started // TALLY_SECONDS) + 1  # that the flood spanned
    # The proxy has stopped: its last tallies are written.
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        # Summed per kind: the flood's stretches of 5 seconds may split one kind over rows.
        rows = db.execute("SELECT client, agent, origin, outcome, status, ip, user_agent, SUM(attempts), COUNT(*) FROM usage "
                          "GROUP BY client, agent, origin, outcome, status, ip, user_agent ORDER BY outcome").fetchall()
    assert [r[:8] for r in rows] == [
        ("-", "agent_bolt", SHOP, "agent_not_allowed", 403, "127.0.0.0", "", 1),  # a registered agent is named
        ("shop", "agent_shop", SHOP, "created", 201, "127.0.0.0", "Ada's browser", 1),
        ("-", "-", SHOP, "invalid_json", 400, "127.0.0.0", "", 1),
        ("-", "-", "-", "origin_not_allowed", 403, "127.0.0.0", "", 200),  # whatever the callers typed is not kept
    ]
    assert rows[-1][8] <= stretches  # 200 refusals: a row per 5 seconds, not per request


def test_the_usage_page_needs_the_admin_token(proxy_factory, fake_retell):
    off = proxy_factory(fake_retell[1])
    assert off.get("/usage").status_code == 404
    proxy = proxy_factory(fake_retell[1], admin_token=Secret(ADMIN))
    proxy.post(ENDPOINT, json={"agent_id": "agent_shop"}, headers={"Origin": SHOP})
    refused = proxy.get("/usage")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert proxy.get("/usage", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert proxy.get("/usage", headers={"Authorization": "Basic !!!"}).status_code == 401
    basic = "Basic " + base64.b64encode(f"ops:{ADMIN}".encode()).decode()
    page = proxy.get("/usage?since=24h", headers={"Authorization": basic})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and "<script" not in page.text and "1 create attempts" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert proxy.get("/usage?since=soon", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 400


def test_no_acknowledged_request_is_lost_when_the_proxy_is_killed(tmp_path, registry_file, fake_retell):
    limits = {"PROXY_RATE_LIMIT_IP": "1000/minute", "PROXY_RATE_LIMIT_AGENT": "1000/minute"}
    with killed_proxy(tmp_path, registry_file, fake_retell[1], **limits) as port:
        def attempt(i: int) -> int:
            body = {"agent_id": "agent_shop" if i % 3 else "agent_bolt"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                return client.post(ENDPOINT, json=body, headers={"Origin": SHOP}).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(attempt, range(60)))
        assert sorted(set(statuses)) == [201, 403]
    # Killed right after the last answer: every created call has its row on disk. (Refusals are
    # tallied every 5 seconds; a process killed outright loses the last stretch's counts.)
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        created = db.execute("SELECT COUNT(*) FROM usage WHERE outcome = 'created'").fetchone()[0]
    assert created == statuses.count(201) == 40


def test_a_recorder_keeps_writing_when_a_new_event_loop_takes_over(tmp_path):
    path = tmp_path / "usage.sqlite3"
    recorder = UsageRecorder(str(path))
    recorder.start()

    async def left_pending():
        recorder.record(row())  # the loop is closed before its writing task has run

    def on_a_loop_closed_without_cancelling() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(left_pending())
        finally:
            loop.close()

    thread = threading.Thread(target=on_a_loop_closed_without_cancelling)
    thread.start()
    thread.join()

    async def later():
        return await recorder.record(row(), 5)

    assert run_async(later()) is True  # not False: a writing task started on this loop
    recorder.close()
    assert count(path) == 2


def test_a_database_from_before_consent_gains_the_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as db:  # the table as the proxy created it before consent
        db.execute("CREATE TABLE usage (time DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, agent TEXT NOT NULL, "
                   "origin TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, "
                   "user_agent TEXT NOT NULL, call_id TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 1)")
        db.execute("INSERT INTO usage VALUES (1, 'shop', 'agent_shop', 'https://shop.example', 'created', 201, '-', 'ua', "
                   "'call_old', 1)")
    db.close()
    store = SqliteStore(str(path))
    try:
        store.write([row()._replace(call_id="call_new", consent_hash="ab" * 32), row()._replace(call_id="call_plain")])
        assert store.query("SELECT call_id, consent_hash FROM usage ORDER BY time", ()) == [
            ("call_old", None), ("call_new", "ab" * 32), ("call_plain", None)]
    finally:
        store.close()


def test_a_batch_of_many_rows_stays_under_sqlites_parameter_limit(tmp_path):
    store = SqliteStore(str(tmp_path / "usage.sqlite3"))
    store._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # SQLite's oldest limit, before 3.32
    try:
        store.write([row()] * 500)
        assert store.query("SELECT COUNT(*) FROM usage", ()) == [(500,)]
    finally:
        store.close()
