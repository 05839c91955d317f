"""Serving ASGI apps with uvicorn's public API, the same way in tests and in production."""

from serving.run import Shutdown, run
from serving.server import Server, ServerFailed, config
from serving.sockets import bind

__all__ = ["Server", "ServerFailed", "Shutdown", "bind", "config", "run"]
