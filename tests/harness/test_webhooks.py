"""The fake Retell's webhooks, delivered to a real proxy: signed, retried, and on request delivered
forged, stale, twice, out of order or not at all."""

from __future__ import annotations

import asyncio
import socket

import pytest

from harness.call import CENTS_PER_MINUTE, Call
from harness.fake_retell import FakeRetell
from harness.faults import FaultError, Faults
from harness.webhooks import WebhookSender
from proxy.app import create_app
from proxy.report import UNATTRIBUTED, summarise_calls
from proxy.usage import SqliteStore
from tests.conftest import run_async, running
from tests.proxy.conftest import API_KEY, REGISTRY, settings_for


@pytest.fixture
def proxy(tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text(REGISTRY)
    fake = FakeRetell.for_agents(API_KEY, ["agent_shop"])
    with running(fake.app()) as retell, running(create_app(settings_for(f"http://127.0.0.1:{retell}", registry, tmp_path)),
                                                proxy_headers=False) as port:
        yield f"http://127.0.0.1:{port}/api/retell-webhook", tmp_path / "usage.sqlite3"


def one_call(url: str, mode: str | None) -> list[dict]:
    """A one-minute call that starts and ends, its webhooks delivered in ``mode``."""

    async def main() -> list[dict]:
        sender = WebhookSender(url, API_KEY, mode=lambda: mode)
        call = Call("call_hooks", "agent_shop", "token", 0.0, notify=sender.event)
        call.begin()
        call.start_timestamp -= 60_000  # type: ignore[operator]
        call.end("user_hangup")
        await asyncio.wait_for(sender.reported(call.call_id).wait(), 15)
        await sender.aclose()
        return sender.deliveries

    return run_async(main())


def calls(database) -> tuple[int, dict]:
    store = SqliteStore(str(database))
    try:
        rows = store.query("SELECT COUNT(*) FROM call_events", ())[0][0]
        summary = {c.client: (c.connected, round(c.minutes, 2), round(c.cost_usd, 4)) for c in summarise_calls(store, 3600).clients}
    finally:
        store.close()
    return rows, summary


ONE_MINUTE = {UNATTRIBUTED: (1, 1.0, round(CENTS_PER_MINUTE / 100, 4))}


@pytest.mark.parametrize("mode, sent, rows, summary", [
    (None, ["call_started", "call_ended", "call_analyzed"], 3, ONE_MINUTE),
    ("duplicate", ["call_started", "call_started", "call_ended", "call_ended", "call_analyzed"], 3, ONE_MINUTE),
    ("reorder", ["call_ended", "call_started", "call_analyzed"], 3, ONE_MINUTE),
])
def test_every_delivery_counts_once_in_any_order(proxy, mode, sent, rows, summary):
    url, database = proxy
    deliveries = one_call(url, mode)
    delivered = [d["event"] for d in deliveries]
    assert sorted(delivered) == sorted(sent) and all(d["status"] == 204 for d in deliveries)
    if mode == "reorder":
        assert delivered == sent  # the end reached the proxy before the start
    assert calls(database) == (rows, summary)


@pytest.mark.parametrize("mode", ["forged", "stale"])
def test_forged_and_stale_deliveries_are_refused_and_store_nothing(proxy, mode):
    url, database = proxy
    deliveries = one_call(url, mode)
    assert len(deliveries) == 3 and {d["status"] for d in deliveries} == {401}  # a refusal is not retried
    assert calls(database) == (0, {})


def test_off_sends_nothing():
    assert one_call("http://127.0.0.1:9/unused", "off") == []


def test_an_unreachable_receiver_is_tried_three_times():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        deliveries = one_call(f"http://127.0.0.1:{sock.getsockname()[1]}/api/retell-webhook", None)
    finally:
        sock.close()
    started = [d for d in deliveries if d["event"] == "call_started"]
    assert [d["attempt"] for d in started] == [1, 2, 3] and {d["status"] for d in started} == {None}


def test_the_webhooks_fault_takes_a_known_mode():
    assert Faults.parse({"webhooks": "reorder"}).webhooks == "reorder"
    with pytest.raises(FaultError, match="'webhooks' is one of forged, stale, duplicate, reorder, off"):
        Faults.parse({"webhooks": "lost"})
