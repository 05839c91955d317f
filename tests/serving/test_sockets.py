import socket

import pytest

from serving import bind
from tests.conftest import run_async


def test_bind_picks_a_free_port_that_already_queues_connections():
    with bind() as sock:
        port = sock.getsockname()[1]
        assert port > 0
        # Listening before any server runs: a client connects at once.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_a_busy_port_is_an_os_error():
    with bind() as taken:
        with pytest.raises(OSError):
            bind(taken.getsockname()[1]).close()


def test_connections_to_a_bound_socket_send_without_waiting_for_acks():
    """uvicorn writes a response's headers, then its body: with Nagle's algorithm on, the body
    waited for the client's delayed ACK, 40 ms on every keep-alive request. asyncio's loop (every
    server of ours runs on one) turns it off (TCP_NODELAY) on each connection it accepts, but only
    from a socket that says it is TCP."""
    import asyncio

    async def accepted_nodelay() -> int:
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        sock = bind()
        server = await asyncio.get_running_loop().create_server(Protocol, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            try:
                return await asyncio.wait_for(found, 5)
            finally:
                writer.close()

    assert run_async(accepted_nodelay()) != 0
