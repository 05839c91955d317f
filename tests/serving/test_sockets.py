import socket

import pytest

from serving import bind


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
