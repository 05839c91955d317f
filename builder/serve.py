"""``python -m builder serve``: build into a temporary folder, serve it, rebuild on change, reload pages.

One origin serves the whole build: ``/cdn/``, ``/clients/`` and ``/docs/``; open pages reload
after each good rebuild and show a failed one's errors (``builder.livereload``). The dev server
never touches ``dist/``: it builds into a temporary folder, removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from builder.livereload import LiveChannel, Rebuilder, live_reload, rebuild, watch
from serving import Server, ServerFailed, Shutdown, bind, run


def create_app(root: Path, channel: LiveChannel, lifespan=None) -> ASGIApp:  # noqa: ANN001
    async def home(request: Request) -> Response:
        return RedirectResponse("/docs/")

    # The folders are swapped by every build, so they are looked up per request, not checked now.
    routes = [
        Route("/", home),
        *(Mount(f"/{part}", StaticFiles(directory=root / part, html=True, check_dir=False))
          for part in ("cdn", "clients", "docs")),
    ]
    return live_reload(Starlette(routes=routes), channel, lifespan)


async def _run(sock: socket.socket, src: Path, widget: Path, out: Path, overrides: Mapping[str, str],
               shutdown: Shutdown) -> None:
    channel = LiveChannel()
    rebuilder = Rebuilder(src, widget, out, overrides)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch([src, widget], rebuilder, channel, stop))
        try:
            yield
        finally:
            stop.set()
            await watcher

    server = Server(create_app(out, channel, lifespan), sock)
    await rebuild(rebuilder, channel, set())
    if shutdown.requested.is_set():
        return
    await server.start()
    origin = _origin(sock)
    print(f"serving {origin}/ : docs {origin}/docs/, client pages {origin}/clients/, CDN {origin}/cdn/", flush=True)
    print(f"watching {src} and {widget}; Ctrl-C stops", flush=True)
    await shutdown.wait(server)
    # Live-reload streams never end on their own; ending them lets the connections drain.
    channel.close()
    # The first Ctrl-C shuts down gracefully; a second one stops waiting for connections.
    await server.stop(shutdown.forced)


def _origin(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def serve(src: Path, widget: Path, port: int, overrides: Mapping[str, str]) -> int:
    """Run until Ctrl-C; return the exit status."""
    for folder, flag in ((src, "--src"), (widget, "--widget")):
        if not folder.is_dir():
            print(f"error: {flag} {folder}: no such folder", file=sys.stderr)
            return 2
    try:
        sock = bind(port)
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port, "
              "or --port 0 for any free one", file=sys.stderr)
        return 2
    # Built pages embed absolute CDN and docs URLs; point them at this origin unless --set says otherwise.
    origin = _origin(sock)
    overrides = {"cdn_url": f"{origin}/cdn", "docs_url": f"{origin}/docs", **overrides}
    temporary = Path(tempfile.mkdtemp(prefix="builder-serve-"))
    print(f"building into {temporary} (removed on exit)", flush=True)
    try:
        run(lambda shutdown: _run(sock, src, widget, temporary / "site", overrides, shutdown))
    except ServerFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        sock.close()
        shutil.rmtree(temporary, ignore_errors=True)
    print("stopped", flush=True)
    return 0
