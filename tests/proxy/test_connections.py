"""Slow clients: a request's headers and its body have deadlines, so connections that a trickle
holds open are cut off and the proxy goes on answering everyone else."""

from __future__ import annotations

import selectors
import socket
import time

import httpx

from proxy.connections import server_options, with_header_timeout
from proxy.settings import ProxySettings, Secret
from tests.proxy.conftest import killed_proxy

SHOP = "https://shop.example"
SLOW_BODY = (b"POST /api/create-web-call HTTP/1.1\r\nHost: proxy\r\nOrigin: https://shop.example\r\n"
             b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
SLOW_HEADERS = b"GET /api/health HTTP/1.1\r\nHost: proxy\r\nX-Slow: "


def test_slow_headers_and_slow_bodies_are_cut_off_and_the_proxy_answers_again(tmp_path, registry_file, fake_retell):
    """The hostile review's attack: with the file limit at 200, 210 slow bodies made /api/health
    fail 5 times in 5, for as long as the clients cared to stay."""
    deadlines = {"PROXY_HEADER_TIMEOUT": "1", "PROXY_BODY_TIMEOUT": "1", "PROXY_KEEP_ALIVE": "1",
                 "PROXY_RATE_LIMIT_IP": "1000/minute"}  # (else the slow bodies' IP soon gets 429 instead of 408)
    with killed_proxy(tmp_path, registry_file, fake_retell[1], nofile=200, **deadlines) as port:
        clients = []
        for n in range(210):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(SLOW_BODY if n % 2 else SLOW_HEADERS)  # and never another byte
            clients.append(client)
        # Each is closed by the proxy (none is let go by the client); a slow body is told why (408)
        # unless it was reset (the proxy closed it with unread bytes).
        answers = _until_closed(clients, give_up=60)
        assert answers["closed"] == 210, answers
        assert answers["408"] > 0 and answers["2xx"] == 0, answers
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200


def _until_closed(clients: list[socket.socket], give_up: float) -> dict[str, int]:
    """Waits (on the sockets, not on a clock) until the server has closed each one."""
    seen = {"closed": 0, "408": 0, "2xx": 0}
    with selectors.DefaultSelector() as selector:
        for client in clients:
            client.setblocking(False)
            selector.register(client, selectors.EVENT_READ, bytearray())
        deadline = time.monotonic() + give_up  # a bound for a failing run, not a wait
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except ConnectionResetError:
                    data = b""
                if data:
                    key.data.extend(data)
                    continue
                seen["closed"] += 1
                seen["408"] += key.data.startswith(b"HTTP/1.1 408")
                seen["2xx"] += key.data.startswith(b"HTTP/1.1 2")
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
    return seen


def test_the_server_options_come_from_the_settings():
    settings = ProxySettings(Secret("key"), header_timeout=3.5, keep_alive=7, max_connections=250)
    one = server_options(settings)
    assert one["http"].header_timeout == 3.5 and one["timeout_keep_alive"] == 7 and one["limit_concurrency"] == 250
    assert server_options(settings, workers=2)["http"] == "proxy.connections:HeaderDeadlineFromEnvironment"
    assert with_header_timeout(2.0).header_timeout == 2.0
