"""The cache and content-type policy of every published file, in one place.

``_headers`` (Netlify / Cloudflare Pages), ``publish`` (S3 object metadata), the nginx and Caddy
configurations ``publish`` writes beside a folder (``builder.webserver``) and the sandbox's CDN
all read this policy, so a file is cached the same way wherever it is served. Paths are
relative to the CDN root ('v1.0.0/retell-widget.js'); a leading '/' or 'cdn/' is ignored.

The policy is data (``CACHE_RULES``, ``TYPES``, ``ENCODINGS``, ``ALWAYS``, ``CDN_CORS``, ``DOCS_CSP``) so
that the web servers' configurations are generated from it rather than written again by hand; its
patterns are regular expressions that Python, PCRE (nginx) and RE2 (Caddy) read alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry import versions

IMMUTABLE = "public, max-age=31536000, immutable"
# Aliases move on a release: browsers re-check after 5 minutes, and a CDN may keep serving the
# old copy for a day while it fetches the new one in the background.
MOVING = "public, max-age=300, stale-while-revalidate=86400"
REVALIDATE = "public, max-age=0, must-revalidate"
# An exact version's files never change: a widget release's folder, or one of Retell's SDK.
_EXACT = rf"(?:v|sdk/){versions.PATTERN}/"
EXACT_PATH = re.compile(f"^{_EXACT}")


@dataclass(frozen=True, slots=True)
class CacheRule:
    name: str  # what the rule is for, in generated configurations' comments
    pattern: str  # a regular expression over the path from the part's root, starting '/': '/v1.0.0/x.js'
    cache_control: str


# The first rule that matches decides. Pages (and a folder's index) are always revalidated, an
# exact version is cached for a year, and everything else (aliases, latest/, manifest.json, the
# docs' assets) moves on a release.
CACHE_RULES = (
    CacheRule("pages", r"^/(?:.*/|.*\.html(?:\.br|\.gz)?)?$", REVALIDATE),
    CacheRule("exact versions", f"^/{_EXACT}", IMMUTABLE),
    CacheRule("aliases, latest/ and other files", r"^/", MOVING),
)
# Sent with every file.
ALWAYS = {"X-Content-Type-Options": "nosniff"}
# Snippets load the widget with crossorigin="anonymous" (needed for integrity): the CDN answers
# every origin. Not a rule of _headers: hosts merge a header set twice into "*, *".
CDN_CORS = {"Access-Control-Allow-Origin": "*"}
INDEX = "index.html"  # what a folder's URL ('docs/') serves
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}
ENCODINGS = {".br": "br", ".gz": "gzip"}
# The docs site's pages load only their own files. 'wasm-unsafe-eval' is for the search:
# Pagefind's index is read by WebAssembly, which a script-src without it refuses to compile
# (it allows WebAssembly only, not eval). No worker-src: search.js runs Pagefind on the page.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _clean(path: str) -> str:
    path = path.lstrip("/")
    return path[len("cdn/"):] if path.startswith("cdn/") else path


def cache_control(path: str) -> str:
    path = "/" + _clean(path)
    return next(rule.cache_control for rule in CACHE_RULES if re.match(rule.pattern, path))


def content_type(path: str) -> str:
    """The type of the file's content (for 'x.js.br' that of 'x.js')."""
    path = _clean(path)
    if path == "" or path.endswith("/"):
        path += INDEX
    for suffix in ENCODINGS:
        path = path.removesuffix(suffix)
    dot = path.rfind(".")
    return TYPES.get(path[dot:].lower() if dot >= 0 else "", "application/octet-stream")


def content_encoding(path: str) -> str | None:
    return next((name for suffix, name in ENCODINGS.items() if path.endswith(suffix)), None)


def headers_for(path: str) -> dict[str, str]:
    headers = {"Cache-Control": cache_control(path), "Content-Type": content_type(path)}
    if encoding := content_encoding(path):
        headers["Content-Encoding"] = encoding
        headers["Vary"] = "Accept-Encoding"
    return headers


def headers_file(paths: list[str], csp: str | None = None) -> str:
    """A ``_headers`` file with one rule per file, so no wildcard can match the wrong thing;
    ``csp``, if given, is every file's Content-Security-Policy (the docs' pages)."""
    # CORS for the widget files (snippets load them with crossorigin="anonymous" for SRI) is the
    # CDN's own setting, not a rule here: hosts merge a header set twice into "*, *", which
    # browsers reject.
    rules = ["/*", *(f"  {name}: {value}" for name, value in ALWAYS.items()),
             *([f"  Content-Security-Policy: {csp}"] if csp else []), ""]
    for path in sorted(_clean(p) for p in paths):
        if path == "_headers":
            continue
        rules.append(f"/{path}")
        rules += [f"  {name}: {value}" for name, value in headers_for(path).items()]
        rules.append("")
    return "\n".join(rules)
