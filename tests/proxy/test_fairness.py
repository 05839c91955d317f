"""One client address has at most PROXY_PER_IP_CONCURRENCY creates in progress; others are not held up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from proxy.body import ARRIVED
from proxy.fairness import PerClientConcurrency
from tests.proxy.conftest import settings_for
from tests.conftest import run_async


def _scope(peer: str, path: str = "/api/create-web-call") -> dict:
    return {"type": "http", "path": path, "headers": [], "client": (peer, 40000)}


async def _nothing() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _ignore(message: dict) -> None:
    pass


class Inner:
    """An app whose requests stay in progress until released; counts them per address."""

    def __init__(self) -> None:
        self.inside: dict[str, int] = {}
        self.arrived: list[float] = []
        self.most: dict[str, int] = {}
        self.release = asyncio.Event()
        self.entered = asyncio.Condition()

    async def __call__(self, scope, receive, send) -> None:
        peer = scope["client"][0]
        self.arrived.append(scope.get(ARRIVED, 0.0))
        async with self.entered:
            self.inside[peer] = self.inside.get(peer, 0) + 1
            self.most[peer] = max(self.most.get(peer, 0), self.inside[peer])
            self.entered.notify_all()
        await self.release.wait()
        self.inside[peer] -= 1

    async def until(self, peer: str, count: int) -> None:
        async with self.entered:
            await self.entered.wait_for(lambda: self.inside.get(peer, 0) >= count)


def _gate(tmp_path: Path, inner: Inner, **overrides) -> PerClientConcurrency:
    return PerClientConcurrency(inner, settings_for("http://127.0.0.1:9", tmp_path / "clients.toml", tmp_path, **overrides))


def test_one_address_has_at_most_its_share_in_progress_and_others_go_ahead(tmp_path: Path) -> None:
    async def scenario() -> None:
        inner = Inner()
        gate = _gate(tmp_path, inner, per_ip_concurrency=4)
        started = asyncio.get_running_loop().time()
        flood = [asyncio.create_task(gate(_scope("203.0.113.9"), _nothing, _ignore)) for _ in range(10)]
        await inner.until("203.0.113.9", 4)
        # A visitor from another address gets in at once, while the flood's six others wait.
        visitor = asyncio.create_task(gate(_scope("198.51.100.7"), _nothing, _ignore))
        await asyncio.wait_for(inner.until("198.51.100.7", 1), 5)
        assert inner.inside["203.0.113.9"] == 4
        released = asyncio.get_running_loop().time()
        inner.release.set()
        await asyncio.wait_for(asyncio.gather(*flood, visitor), 5)
        # Each was stamped as it arrived, not as it got its turn: its body's deadline ran meanwhile.
        assert len(inner.arrived) == 11 and all(started <= at < released for at in inner.arrived)
        assert inner.most == {"203.0.113.9": 4, "198.51.100.7": 1}
        assert gate._gates == {}  # nothing in progress: nothing remembered

    run_async(scenario())


def test_an_ipv6_network_shares_one_gate(tmp_path: Path) -> None:
    async def scenario() -> None:
        inner = Inner()
        gate = _gate(tmp_path, inner, per_ip_concurrency=2)
        peers = [f"2001:db8:1:2::{n:x}" for n in range(1, 7)]  # one /64, six addresses
        tasks = [asyncio.create_task(gate(_scope(peer), _nothing, _ignore)) for peer in peers]
        async with inner.entered:
            await inner.entered.wait_for(lambda: sum(inner.inside.values()) >= 2)
        (_, waiting), = gate._gates.values()  # one gate for the network ...
        assert waiting == [6]  # ... that all six have reached
        assert sum(inner.inside.values()) == 2
        inner.release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)

    run_async(scenario())


def test_other_paths_are_not_gated(tmp_path: Path) -> None:
    async def scenario() -> None:
        inner = Inner()
        gate = _gate(tmp_path, inner, per_ip_concurrency=1)
        tasks = [asyncio.create_task(gate(_scope("203.0.113.9", "/api/retell-webhook"), _nothing, _ignore)) for _ in range(3)]
        await asyncio.wait_for(inner.until("203.0.113.9", 3), 5)
        inner.release.set()
        await asyncio.gather(*tasks)

    run_async(scenario())
