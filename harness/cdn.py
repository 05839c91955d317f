"""The sandbox CDN: the built tree served as a CDN would, from the build's own ``_headers`` file.

It applies the ``_headers`` rules (Netlify / Cloudflare Pages format), negotiates the
precompressed ``.br`` and ``.gz`` files the builder writes beside each asset, sends correct
MIME types and ETags, and lets every origin load assets with CORS (snippets use SRI).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from builder.headers import content_type

# Preferred first: brotli is smaller than gzip for the same file.
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def parse_headers_file(text: str) -> list[tuple[re.Pattern[str], list[tuple[str, str]]]]:
    """Rules from a ``_headers`` file: a path pattern line, then indented ``Name: value`` lines."""
    rules: list[tuple[re.Pattern[str], list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            # "*" matches anything (including "/"), ":name" one path segment.
            pattern = re.escape(line.strip()).replace(r"\*", ".*")
            pattern = re.sub(r":[A-Za-z]\w*", "[^/]+", pattern)
            rules.append((re.compile(f"^{pattern}$"), []))
        elif rules and ":" in line:
            name, value = line.strip().split(":", 1)
            rules[-1][1].append((name.strip(), value.strip()))
    return rules


def _accepts(header: str, coding: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == coding:
            q = re.search(r"q=([\d.]+)", params)
            return not q or float(q[1]) > 0
    return False


def cdn_app(root: Path, tampered: Callable[[str], bool] = lambda path: False,
            sdk_down: Callable[[], bool] = lambda: False) -> Starlette:
    """``tampered(path)`` says when to serve altered JavaScript, as a compromised CDN would;
    ``sdk_down`` when to answer 503 for Retell's SDK (``sdk/``), as a CDN with an outage would."""
    root = root.resolve()
    headers_file = root / "_headers"
    cached: dict[str, object] = {"stamp": None, "rules": []}

    def current_rules() -> list[tuple[re.Pattern[str], list[tuple[str, str]]]]:
        # Read again after a rebuild (python -m harness --watch) changes the file.
        stamp = headers_file.stat().st_mtime_ns if headers_file.is_file() else None
        if stamp != cached["stamp"]:
            cached["stamp"] = stamp
            cached["rules"] = parse_headers_file(headers_file.read_text()) if stamp is not None else []
        return cached["rules"]  # type: ignore[return-value]

    async def serve(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        target = (root / path.lstrip("/")).resolve()
        # Don't allow a request to break out of the CDN folder, or to read the rules file itself.
        if not target.is_relative_to(root) or not target.is_file() or target.name == "_headers":
            return PlainTextResponse("not found", status_code=404, headers={"Access-Control-Allow-Origin": "*"})
        headers = {"Access-Control-Allow-Origin": "*", "Vary": "Accept-Encoding"}
        if sdk_down() and path.startswith("/sdk/"):
            # no-store: the browser must ask again when the test clears the fault.
            return PlainTextResponse("injected fault", 503, headers={**headers, "Cache-Control": "no-store"})
        for pattern, values in current_rules():
            if pattern.match(path):
                for name, value in values:
                    # Netlify merges a header set by several matching rules into one list.
                    headers[name] = f"{headers[name]}, {value}" if name in headers and name != "Vary" else value
        body_file = target
        accept = request.headers.get("accept-encoding", "")
        for coding, suffix in _ENCODINGS:
            candidate = target.with_name(target.name + suffix)
            if target.suffix not in (".br", ".gz") and candidate.is_file() and _accepts(accept, coding):
                body_file, headers["Content-Encoding"] = candidate, coding
                break
        data = body_file.read_bytes()
        if tampered(path) and target.suffix == ".js":
            data = target.read_bytes() + b"\n;/* tampered */\n"
            headers.pop("Content-Encoding", None)
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers["ETag"] = etag
        media_type = content_type(path)  # the build's own table, as every host it is published to
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        # For HEAD, uvicorn sends the headers (with the real length) and drops the body.
        return Response(data, media_type=media_type, headers=headers)

    return Starlette(routes=[Route("/{path:path}", serve, methods=["GET", "HEAD"])])
