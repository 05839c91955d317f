"""Listening sockets, bound before a server starts: the port is known (and free) at once."""

from __future__ import annotations

import socket


def bind(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket; port 0 picks a free one. Connections queue until a server runs on it.
    Raises ``OSError`` (a busy port, say)."""
    # IPPROTO_TCP spelt out, as getaddrinfo gives it: asyncio sets TCP_NODELAY only on connections
    # whose socket says so. Without it, a response written in two parts (uvicorn writes the
    # headers, then the body) waited for the client's delayed ACK: 40 ms on every keep-alive request.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # A restart may reuse the port at once, while the last run's connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
