"""Live reload: rebuild after each settled burst of edits, and reload the pages that are open.

Open pages keep one server-sent-events stream on ``/__livereload``; a script injected into every
served HTML response (never into the built files) reloads the page after a good rebuild and
shows a failed one's errors over the page, which stays the last good build. ``python -m builder
serve`` and the sandbox's ``--watch`` both use it (after MkDocs, whose livereload is its own module).
"""

from __future__ import annotations

import asyncio
import html
import json
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from builder.build import Builder

EVENTS_PATH = "/__livereload"
SCRIPT_PATH = "/__livereload.js"
# A burst of file events (an editor's save, a git checkout) settles into one rebuild: watchfiles
# waits for STEP ms without a new event, at most DEBOUNCE ms in all.
_STEP_MS = 50
_DEBOUNCE_MS = 1600

_CLIENT_JS = """\
// Live reload for `python -m builder serve`: reload after a newer good build; show a failed
// rebuild's errors over the page, which is still the last good build.
(() => {
  const built = Number(document.currentScript.dataset.generation);
  let overlay = null;
  const show = (errors) => {
    overlay?.remove();
    overlay = document.createElement("div");
    overlay.id = "__livereload-error";
    overlay.setAttribute("role", "alert");
    overlay.style.cssText = "position:fixed;inset:0;z-index:2147483647;overflow:auto;padding:1.5rem;" +
      "background:rgba(17,24,39,.95);color:#fecaca;font:14px/1.5 ui-monospace,monospace";
    const title = document.createElement("strong");
    title.textContent = `Rebuild failed with ${errors.length} error(s); this page is the last good build.`;
    const list = document.createElement("pre");
    list.style.whiteSpace = "pre-wrap";
    list.textContent = errors.join("\\n");
    overlay.append(title, list);
    document.body.append(overlay);
  };
  new EventSource("%s").addEventListener("state", (event) => {
    const state = JSON.parse(event.data);
    if (state.errors.length) return show(state.errors);
    if (state.generation !== built) return location.reload();
    overlay?.remove();
    overlay = null;
  });
})();
""" % EVENTS_PATH


@dataclass(frozen=True, slots=True)
class LiveState:
    generation: int  # counts good builds; a page served by an older one reloads
    errors: tuple[str, ...] = ()  # the last build's errors; empty when it succeeded


class LiveChannel:
    """The current state and a wake-up for every open stream; lives in the server's event loop."""

    def __init__(self) -> None:
        self.state = LiveState(0)
        self.closed = False
        self._changed = asyncio.Event()

    def publish(self, state: LiveState) -> None:
        self.state = state
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def states(self) -> AsyncIterator[LiveState]:
        while not self.closed:
            changed = self._changed
            yield self.state
            await changed.wait()


class Rebuilder:
    """The one place serve touches the build core: an incremental ``Builder`` kept across rebuilds."""

    def __init__(self, src: Path, widget: Path, out: Path, overrides: Mapping[str, str]) -> None:
        self.src, self.widget, self.out, self.overrides = src, widget, out, dict(overrides)
        self._builder: Builder | None = None

    def __call__(self, changed: set[Path]) -> list[str]:
        """Build; return the summary lines. Raises ConfigError/BuildError with ``.errors``.
        ``changed`` is what the watcher saw; content hashes, not this, decide what is rebuilt."""
        from builder.build import Builder
        from builder.config import load_config

        # site.toml may be among the changes, so the configuration is read again every time; the
        # builder (and what it reuses) lasts as long as the configuration does.
        config = load_config(self.src, self.widget, self.out, self.overrides)
        if self._builder is None or self._builder.config != config:
            self._builder = Builder(config)
        return self._builder.rebuild(search=False).summary()

    def refresh_search(self) -> bool:
        """Make the search index current if the last rebuild kept an older one; whether it did."""
        if self._builder is None or not self._builder.search_stale:
            return False
        self._builder.rebuild()
        return True


def _tag(generation: int) -> bytes:
    return f'<script src="{SCRIPT_PATH}" data-generation="{generation}"></script>\n'.encode()


def inject(page: bytes, generation: int) -> bytes:
    tag = _tag(generation)
    at = page.lower().rfind(b"</body>")
    return page + tag if at < 0 else page[:at] + tag + page[at:]


class _LiveReload:
    """Marks every response uncacheable and adds the live-reload script to HTML pages.

    Pages must never come from the browser's cache: a cached copy carries an old generation
    and would reload forever.
    """

    def __init__(self, app: ASGIApp, channel: LiveChannel) -> None:
        self.app = app
        self.channel = channel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        generation = self.channel.state.generation  # read before the page, so a race only reloads twice
        app = self.app
        if generation == 0 and scope["path"] not in (EVENTS_PATH, SCRIPT_PATH):
            # No good build yet: every page is the error page, which reloads once a build succeeds.
            app = _no_build_yet(self.channel.state.errors)
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_live(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                for name in ("etag", "last-modified"):
                    del headers[name]
                headers["cache-control"] = "no-store"
                message = {**message, "headers": headers.raw}
                page = headers.get("content-type", "").startswith("text/html") and "content-encoding" not in headers
                if page and message["status"] in (200, 404, 503):
                    if scope["method"] == "GET":
                        start = message
                        return
                    if "content-length" in headers:  # HEAD: the length the GET would have
                        headers["content-length"] = str(int(headers["content-length"]) + len(_tag(generation)))
                        message = {**message, "headers": headers.raw}
            elif start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = inject(b"".join(chunks), generation)
                headers = MutableHeaders(raw=start["headers"])
                headers["content-length"] = str(len(body))
                await send({**start, "headers": headers.raw})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await app(scope, receive, send_live)


def _no_build_yet(errors: tuple[str, ...]) -> ASGIApp:
    lines = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
    return HTMLResponse(f"<!doctype html><title>Build failed</title><body><h1>No good build yet</h1>"
                        f"<ul>{lines}</ul></body>", status_code=503)


def live_reload(app: ASGIApp, channel: LiveChannel, lifespan=None) -> ASGIApp:  # noqa: ANN001
    """``app`` with the live-reload stream and script added, and the script injected into its pages.

    The sandbox's ``--watch`` wraps its HTML origins with this too.
    """

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield "retry: 500\n\n"  # reconnect quickly after the server restarts
            async for state in channel.states():
                data = json.dumps({"generation": state.generation, "errors": list(state.errors)})
                yield f"event: state\ndata: {data}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def script(request: Request) -> Response:
        return Response(_CLIENT_JS, media_type="text/javascript")

    routes = [Route(EVENTS_PATH, events), Route(SCRIPT_PATH, script), Mount("/", app)]
    return _LiveReload(Starlette(routes=routes, lifespan=lifespan), channel)


async def rebuild(rebuilder: Callable[[set[Path]], list[str]], channel: LiveChannel, changed: set[Path]) -> None:
    """Build once; publish the new generation, or keep the last one and publish the errors."""
    started = time.perf_counter()
    from builder.build import BuildError
    from builder.config import ConfigError

    try:
        summary = await asyncio.to_thread(rebuilder, changed)
    except (ConfigError, BuildError) as exc:
        errors = list(exc.errors)
    except Exception as exc:  # noqa: BLE001 - a dev server outlives a bug in one build
        traceback.print_exc()
        errors = [f"{type(exc).__name__} while building: {exc}"]
    else:
        channel.publish(LiveState(channel.state.generation + 1))
        if changed:
            names = sorted(_shown(p) for p in changed)
            more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
            print(f"rebuilt in {time.perf_counter() - started:.2f}s after a change to {names[0]}{more}", flush=True)
        else:
            print("\n".join(summary), flush=True)
        await _refresh_search(rebuilder)
        return
    for line in errors:
        print(line, file=sys.stderr)
    kept = "still serving the last good build" if channel.state.generation else "no good build to serve yet"
    print(f"build failed: {len(errors)} error(s); {kept}", file=sys.stderr, flush=True)
    channel.publish(LiveState(channel.state.generation, tuple(errors)))


async def _refresh_search(rebuilder: Callable[[set[Path]], list[str]]) -> None:
    # After the pages reloaded: the search index, which a rebuild kept as it was (see Rebuilder).
    refresh = getattr(rebuilder, "refresh_search", None)
    if refresh is None:
        return
    from builder.build import BuildError

    started = time.perf_counter()
    try:
        if await asyncio.to_thread(refresh):
            print(f"search index refreshed in {time.perf_counter() - started:.2f}s", flush=True)
    except BuildError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr, flush=True)


async def watch(paths: list[Path], rebuilder: Callable[[set[Path]], list[str]], channel: LiveChannel,
                stop: asyncio.Event) -> None:
    """Rebuild after every settled burst of changes under ``paths`` until ``stop`` is set."""
    from watchfiles import awatch

    # Events that arrive during a rebuild are kept by the watcher and come as the next batch.
    try:
        async for changes in awatch(*paths, stop_event=stop, step=_STEP_MS, debounce=_DEBOUNCE_MS):
            await rebuild(rebuilder, channel, {Path(path) for _, path in changes})
    except Exception as exc:  # noqa: BLE001 - say so now, not at shutdown; the last build stays served
        print(f"error: watching {' and '.join(map(str, paths))} stopped: {exc}; restart to watch again",
              file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


