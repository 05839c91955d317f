"""A body's deadline runs from the request's arrival, including any time it waited its turn."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from proxy.body import ARRIVED, BodyRefused, read_body
from tests.conftest import run_async


def _trickle(arrived: float | None) -> Request:
    """A create whose body sends one byte and then nothing, ever."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    scope = {"type": "http", "method": "POST", "path": "/api/create-web-call", "headers": [(b"content-length", b"100")]}
    if arrived is not None:
        scope[ARRIVED] = arrived
    return Request(scope, receive)


def test_a_body_that_waited_its_turn_past_its_deadline_is_refused_at_once():
    async def scenario() -> BodyRefused:
        now = asyncio.get_running_loop().time()
        with pytest.raises(BodyRefused) as refused:
            # Its 30 s were spent waiting; counted from now instead, this would wait 30 s more.
            await asyncio.wait_for(read_body(_trickle(now - 30), 16384, deadline=30), 5)
        return refused.value

    refused = run_async(scenario())
    assert (refused.status, refused.code) == (408, "body_timeout")
    assert "30 s (PROXY_BODY_TIMEOUT)" in refused.message


def test_a_complete_body_is_read_even_after_a_long_wait():
    async def scenario() -> bytes:
        async def receive() -> dict:
            return {"type": "http.request", "body": b'{"agent_id": "a"}', "more_body": False}

        now = asyncio.get_running_loop().time()
        scope = {"type": "http", "method": "POST", "path": "/", "headers": [], ARRIVED: now - 60}
        return await read_body(Request(scope, receive), 16384, deadline=10)

    assert run_async(scenario()) == b'{"agent_id": "a"}'  # a visitor's small body came with its headers


def test_without_an_arrival_the_deadline_runs_from_now():
    async def scenario() -> BodyRefused:
        with pytest.raises(BodyRefused) as refused:
            await read_body(_trickle(None), 16384, deadline=0.2)
        return refused.value

    assert run_async(scenario()).status == 408
