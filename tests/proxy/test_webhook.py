"""``POST /api/retell-webhook``: Retell's signature, durable and idempotent storage, calls per client."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from harness.webhooks import sign
from proxy.__main__ import main
from proxy.calls import EVENTS, InvalidEvent, parse_event
from proxy.report import (
    UNATTRIBUTED,
    calls_csv,
    calls_text,
    html_page,
    summarise,
    summarise_calls,
)
from proxy.settings import Secret
from proxy.usage import SqliteStore
from proxy.webhook import signature_problem
from tests.proxy.conftest import API_KEY, killed_proxy

HOOK = "/api/retell-webhook"
SHOP = "https://shop.example"
NOW_MS = 1_800_000_000_000


def event(name: str, call_id: str = "call_abc123", **call: object) -> bytes:
    body = {"call_id": call_id, "agent_id": "agent_shop", "call_type": "web_call", **call}
    return json.dumps({"event": name, "call": body}).encode()


def ended(call_id: str = "call_abc123", seconds: float = 90, cents: float = 10.5) -> bytes:
    start = int(time.time() * 1000) - int(seconds * 1000)
    return event("call_ended", call_id, start_timestamp=start, end_timestamp=start + int(seconds * 1000),
                 duration_ms=int(seconds * 1000), disconnection_reason="user_hangup", call_cost={"combined_cost": cents})


def post(client: httpx.Client, body: bytes, key: str = API_KEY, at_ms: int | None = None, **headers: str) -> httpx.Response:
    return client.post(HOOK, content=body, headers={"Content-Type": "application/json",
                                                    "X-Retell-Signature": sign(body, key, at_ms), **headers})


def stored(tmp_path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        return db.execute("SELECT call_id, event, duration_ms, disconnection_reason, cost_cents FROM call_events "
                          "ORDER BY call_id, event").fetchall()


# The signature, as Retell's SDK makes and checks it.

@pytest.fixture(scope="module")
def webhook_auth() -> ModuleType:
    """Retell's official SDK's ``retell.lib.webhook_auth``, the reference for the signature. It is
    loaded from its own file: importing it through the package runs ``retell/__init__.py``, 3.5 s
    of API models, which every worker paid while collecting."""
    spec = importlib.util.find_spec("retell")
    assert spec is not None and spec.submodule_search_locations, "retell-sdk is not installed (pip install -e '.[test]')"
    path = Path(spec.submodule_search_locations[0]) / "lib" / "webhook_auth.py"
    module_spec = importlib.util.spec_from_file_location("retell_webhook_auth", path)
    assert module_spec is not None and module_spec.loader is not None, f"no {path}"
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", ["good", "stale", "future", "body", "key", "form", "empty"])
def test_the_signature_is_checked_exactly_as_retells_sdk_checks_it(webhook_auth, case):
    body = ended().decode()
    at = NOW_MS - {"stale": 5 * 60 * 1000 + 1, "future": -(5 * 60 * 1000 + 1)}.get(case, 60_000)
    header = webhook_auth.symmetric["sign"](body, "other-key" if case == "key" else API_KEY, at)
    if case == "form":
        header = header.replace("d=", "d=x")
    if case == "empty":
        header = ""
    sent = body + " " if case == "body" else body
    theirs = bool(header) and webhook_auth.symmetric["verify"](sent, API_KEY, header, {"timestamp": NOW_MS})
    ours = signature_problem(sent.encode(), API_KEY, header, NOW_MS)
    assert (ours is None) == theirs == (case == "good")
    assert sign(body.encode(), API_KEY, at) == webhook_auth.symmetric["sign"](body, API_KEY, at)  # the fake signs alike


def test_each_bad_signature_says_why():
    body = ended()
    assert "no X-Retell-Signature" in signature_problem(body, API_KEY, None, NOW_MS)
    assert "must look like" in signature_problem(body, API_KEY, "sha256=abc", NOW_MS)
    assert "more than 5 minutes" in signature_problem(body, API_KEY, sign(body, API_KEY, NOW_MS - 400_000), NOW_MS)
    assert "does not match" in signature_problem(body, API_KEY, sign(body, "wrong-key", NOW_MS), NOW_MS)


# The event's body.

def test_an_event_keeps_only_what_billing_needs():
    call = parse_event(json.loads(ended(seconds=75, cents=8.75)), received=5.0)
    assert call is not None and call.event == "call_ended" and call.agent_id == "agent_shop"
    assert call.duration_ms == 75_000 and call.disconnection_reason == "user_hangup" and call.cost_cents == 8.75
    no_duration = json.loads(event("call_ended", start_timestamp=1000, end_timestamp=4000))
    assert parse_event(no_duration).duration_ms == 3000  # from the timestamps when Retell leaves it out
    assert parse_event({"event": "transcript_updated", "call": {}}) is None  # not kept, not an error
    assert set(EVENTS) == {"call_started", "call_ended", "call_analyzed"}


@pytest.mark.parametrize("payload, said", [
    ([], "JSON object"),
    ({"call": {}}, "'event'"),
    ({"event": "call_ended"}, "'call' must be"),
    ({"event": "call_ended", "call": {"call_id": ""}}, "call_id"),
    ({"event": "call_ended", "call": {"call_id": "a b"}}, "call_id"),
    ({"event": "call_ended", "call": {"call_id": "c", "agent_id": 7}}, "agent_id"),
    ({"event": "call_ended", "call": {"call_id": "c", "duration_ms": -1}}, "duration_ms"),
    ({"event": "call_ended", "call": {"call_id": "c", "duration_ms": True}}, "duration_ms"),
    ({"event": "call_ended", "call": {"call_id": "c", "start_timestamp": "today"}}, "start_timestamp"),
    ({"event": "call_ended", "call": {"call_id": "c", "disconnection_reason": "<b>"}}, "disconnection_reason"),
    ({"event": "call_ended", "call": {"call_id": "c", "call_cost": 3}}, "call_cost"),
    ({"event": "call_ended", "call": {"call_id": "c", "call_cost": {"combined_cost": -1}}}, "combined_cost"),
    # "$" matched before a final newline: a signed "call_x\n" was stored.
    ({"event": "call_ended", "call": {"call_id": "call_x\n"}}, "call_id"),
    ({"event": "call_ended", "call": {"call_id": "c", "disconnection_reason": "user_hangup\n"}}, "disconnection_reason"),
    ({"event": "call_ended", "call": {"call_id": "c", "call_cost": {"combined_cost": float("inf")}}}, "combined_cost"),
    ({"event": "call_ended", "call": {"call_id": "c", "duration_ms": float("inf")}}, "duration_ms"),
])
def test_a_malformed_event_is_refused_with_the_field_named(payload, said):
    with pytest.raises(InvalidEvent, match=said):
        parse_event(payload)


# The endpoint.

def test_a_signed_event_is_stored_before_the_204_and_a_repeat_is_kept_once(proxy, tmp_path):
    body = ended()
    first = post(proxy, body)
    assert first.status_code == 204 and first.content == b""
    assert stored(tmp_path) == [("call_abc123", "call_ended", 90_000, "user_hangup", 10.5)]
    assert post(proxy, body).status_code == 204  # Retell retried: still one row
    assert post(proxy, ended(cents=99)).status_code == 204  # the same event again, re-signed
    assert stored(tmp_path) == [("call_abc123", "call_ended", 90_000, "user_hangup", 10.5)]


@pytest.mark.parametrize("case, status, code", [
    ("forged", 401, "bad_signature"),
    ("stale", 401, "bad_signature"),
    ("unsigned", 401, "bad_signature"),
    ("not json", 400, "invalid_event"),
    ("bad field", 400, "invalid_event"),
    ("deep", 400, "invalid_event"),
    ("xml", 415, "unsupported_media_type"),
])
def test_refused_deliveries_store_nothing_and_say_why(proxy, tmp_path, case, status, code):
    body = {"not json": b"{\"event\": ", "bad field": event("call_ended", duration_ms="long"),
            "deep": b"[" * 100_000 + b"]" * 100_000}.get(case, ended())
    key = "key_someone_else_0123456789" if case == "forged" else API_KEY
    at = int(time.time() * 1000) - 10 * 60 * 1000 if case == "stale" else None
    extra = {"Content-Type": "application/xml"} if case == "xml" else {}
    if case == "unsigned":
        answer = proxy.post(HOOK, content=body, headers={"Content-Type": "application/json"})
    else:
        answer = post(proxy, body, key, at, **extra)
    assert answer.status_code == status and answer.json()["error"] == code, answer.text
    assert answer.json()["message"] and API_KEY not in answer.text
    assert stored(tmp_path) == []


def test_an_oversized_body_is_refused_whether_declared_or_streamed(proxy_factory, fake_retell, tmp_path):
    proxy = proxy_factory(fake_retell[1], webhook_max_bytes=2048)
    big = event("call_ended", transcript="x" * 4096)
    declared = post(proxy, big)
    assert declared.status_code == 413 and "PROXY_WEBHOOK_MAX_BYTES" in declared.json()["message"]

    def chunks():
        yield big[:1500]
        yield big[1500:]

    streamed = proxy.post(HOOK, content=chunks(), headers={"X-Retell-Signature": sign(big, API_KEY)})
    assert streamed.status_code == 413 and stored(tmp_path) == []


def test_other_event_types_are_answered_and_not_kept(proxy, tmp_path):
    assert post(proxy, event("transcript_updated")).status_code == 204
    assert stored(tmp_path) == []


def test_a_separate_webhook_key_signs_when_set(proxy_factory, fake_retell, tmp_path):
    proxy = proxy_factory(fake_retell[1], webhook_key=Secret("key_webhook_badge_0123456789"))
    assert post(proxy, ended()).status_code == 401  # the create key no longer signs
    assert post(proxy, ended(), key="key_webhook_badge_0123456789").status_code == 204


def test_webhooks_need_the_usage_database(proxy_factory, fake_retell):
    proxy = proxy_factory(fake_retell[1], usage_database=None)
    answer = post(proxy, ended())
    assert answer.status_code == 404 and "PROXY_USAGE_DB is off" in answer.json()["message"]


def test_a_store_that_fails_answers_503_so_retell_delivers_again(proxy, caplog):
    import proxy.calls as calls

    def broken(self, row):
        raise sqlite3.OperationalError("disk I/O error")

    original = calls.EventLog._add
    try:
        calls.EventLog._add = lambda self, e: broken(self, e)  # type: ignore[method-assign]
        answer = post(proxy, ended())
    finally:
        calls.EventLog._add = original  # type: ignore[method-assign]
    assert answer.status_code == 503 and answer.json()["error"] == "store_unavailable"
    assert answer.headers["retry-after"] == "5"
    assert post(proxy, ended()).status_code == 204  # and the delivery after works


# Calls, minutes and cost per client.

def test_webhooks_join_the_create_that_made_the_call(proxy, tmp_path):
    created = proxy.post("/api/create-web-call", json={"agent_id": "agent_shop"}, headers={"Origin": SHOP})
    assert created.status_code == 201
    call_id = created.json()["call_id"]
    # Out of order: the end, then its analysis, then the start.
    assert post(proxy, ended(call_id, seconds=120, cents=14)).status_code == 204
    assert post(proxy, event("call_analyzed", call_id, duration_ms=120_000, call_cost={"combined_cost": 14})).status_code == 204
    assert post(proxy, event("call_started", call_id, start_timestamp=1)).status_code == 204
    assert post(proxy, ended("call_not_ours", seconds=30, cents=3.5)).status_code == 204
    proxy.post("/api/create-web-call", json={"agent_id": "agent_bolt"}, headers={"Origin": "https://bolt.example"})
    store = SqliteStore(str(tmp_path / "usage.sqlite3"))
    try:
        assert store.query("SELECT call_id FROM usage WHERE outcome = 'created' AND client = 'shop'", ()) == [(call_id,)]
        summary = summarise_calls(store, 3600)
    finally:
        store.close()
    rows = {c.client: (c.created, c.connected, round(c.minutes, 2), round(c.cost_usd, 4)) for c in summary.clients}
    assert rows == {"shop": (1, 1, 2.0, 0.14), "bolt": (1, 0, 0.0, 0.0), UNATTRIBUTED: (0, 1, 0.5, 0.035)}
    assert [c.client for c in summary.clients][-1] == UNATTRIBUTED
    text = calls_text(summary)
    assert "shop" in text and "2.00" in text and text.splitlines()[-1].split()[:3] == ["total", "2", "2"]
    lines = calls_csv(summary).splitlines()
    assert lines[0] == "client,calls_created,calls_connected,minutes,cost_usd,since,until"
    assert lines[1].startswith("bolt,1,0,0.00,0.0000,") and lines[2].startswith("shop,1,1,2.00,0.1400,")


def test_the_usage_command_prints_calls_per_client_as_text_or_csv(proxy, tmp_path, monkeypatch, capsys):
    created = proxy.post("/api/create-web-call", json={"agent_id": "agent_shop"}, headers={"Origin": SHOP})
    post(proxy, ended(created.json()["call_id"], seconds=60, cents=7))
    monkeypatch.setenv("PROXY_USAGE_DB", str(tmp_path / "usage.sqlite3"))
    assert main(["usage", "--by", "client", "--since", "30d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("calls from ") and "shop" in out and "1.00" in out and "0.07" in out
    assert main(["usage", "--by", "client", "--since", "30d", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("shop,1,1,1.00,0.0700,")
    assert main(["usage", "--by", "outcome", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("shop,created,1,")
    with pytest.raises(SystemExit):
        main(["usage", "--by", "agent"])
    assert "invalid choice: 'agent'" in capsys.readouterr().err


def test_the_usage_page_charts_minutes_per_client_and_per_day(tmp_path):
    store = SqliteStore(str(tmp_path / "usage.sqlite3"))
    try:
        store.add_event(parse_event(json.loads(ended("call_x", seconds=600, cents=70))).row())
        page = html_page(summarise(store, 30 * 86400), summarise_calls(store, 30 * 86400), "30d")
    finally:
        store.close()
    assert 'aria-label="minutes per client"' in page and 'aria-label="call minutes per day"' in page
    assert "10.0 min" in page and "$0.70" in page and "<script" not in page and UNATTRIBUTED in page


def test_an_old_usage_database_gains_the_call_id_column(tmp_path):
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE usage (time DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, agent TEXT NOT NULL, "
                   "origin TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, "
                   "user_agent TEXT NOT NULL)")
        db.execute("INSERT INTO usage VALUES (1, 'shop', 'agent_shop', '-', 'created', 201, '-', '-')")
    store = SqliteStore(str(path))
    try:
        assert store.query("SELECT client, call_id FROM usage", ()) == [("shop", "")]
    finally:
        store.close()


def test_no_acknowledged_webhook_is_lost_when_the_proxy_is_killed(tmp_path, registry_file, fake_retell):
    with killed_proxy(tmp_path, registry_file, fake_retell[1]) as port:
        def deliver(i: int) -> int:
            body = ended(f"call_{i:04d}") if i % 2 else event("call_started", f"call_{i - 1:04d}", start_timestamp=1)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                return post(client, body).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(deliver, range(40)))
        assert statuses == [204] * 40
    # Killed right after the last 204: every acknowledged event is on disk.
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM call_events").fetchone()[0] == 40


@pytest.mark.parametrize("signature", [None, "v=1,d=nope", "stale"])
def test_an_unsigned_webhook_is_refused_before_its_body_is_read(proxy, tmp_path, signature):
    """Announced as 4 MiB and never sent: the 401 comes without waiting for a byte of it."""
    import socket

    if signature == "stale":
        signature = sign(b"{}", API_KEY, int(time.time() * 1000) - 10 * 60 * 1000)
    port = int(str(proxy.base_url).rsplit(":", 1)[1].rstrip("/"))
    head = (f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {4 * 1024 * 1024}\r\n" + (f"X-Retell-Signature: {signature}\r\n" if signature else "") + "\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"bad_signature" not in answer and (chunk := sock.recv(4096)):  # the head, then the body
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401") and b"bad_signature" in answer
    assert stored(tmp_path) == []
