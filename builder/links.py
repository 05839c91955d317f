"""Every internal link, anchor and asset of the built pages must resolve to a built file."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from builder.config import SiteConfig
from builder.render import Output

# Code samples are text, not links: an example `<script src="...">` must not be checked.
_CODE = re.compile(rb"<(pre|code)\b.*?</\1>", re.S)
_ATTRIBUTE = re.compile(rb'\s(href|src)="([^"]*)"')
_ID = re.compile(rb'\sid="([^"]+)"')
_SKIP = ("mailto:", "tel:", "javascript:", "data:")

Scan = tuple[tuple[str, ...], frozenset[str]]  # (link targets, element ids)


def scan(data: bytes) -> Scan:
    ids = frozenset(m.decode() for m in _ID.findall(data))
    text = _CODE.sub(b"", data)
    links = tuple(dict.fromkeys(m[2].decode().replace("&amp;", "&") for m in _ATTRIBUTE.finditer(text)))
    return links, ids


def check(files: dict[str, Output], scans: dict[str, Scan], site: SiteConfig, errors: list[str]) -> None:
    """``scans`` maps each HTML output path to what ``scan`` found in it."""
    roots = {f"{site.cdn_url}/": "cdn/", f"{site.docs_url}/": "docs/"}
    problems: dict[Path, list[tuple[str, str]]] = {}
    for page, (links, _) in sorted(scans.items()):
        for link in links:
            message = _resolve(page, link, files, scans, roots)
            if message:
                problems.setdefault(files[page].source, []).append((link, f"{page}: {message}"))
    for source, found in problems.items():
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for link, message in found:
            errors.append(f"{source}:{_line_of(lines, link)}: {message}")


def _resolve(page: str, link: str, files: dict[str, Output], scans: dict[str, Scan], roots: dict[str, str]) -> str | None:
    if link.startswith(_SKIP):
        return None
    target_path = None
    for url, folder in roots.items():
        if link.startswith(url) or link == url[:-1]:
            target_path = folder + link[len(url):]
            break
    parts = urlsplit(link)
    if target_path is None:
        if parts.scheme or parts.netloc:
            return None  # another website: not ours to check
        if not parts.path:
            target_path = page
        else:
            base = posixpath.dirname(page)
            # Each client's demo page is the root of its own website; other pages share their folder.
            segments = page.split("/")
            site_root = "/".join(segments[:2]) if segments[0] == "clients" and len(segments) > 2 else segments[0]
            resolved = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
            if not (resolved + "/").startswith(site_root + "/"):
                return f"link {link!r} leaves the site"
            target_path = resolved + ("/" if parts.path.endswith("/") else "")
    else:
        target_path = target_path.split("#", 1)[0].split("?", 1)[0]
    if target_path.endswith("/") or target_path in ("cdn", "docs"):
        target_path = target_path.rstrip("/") + "/index.html"
    if target_path not in files:
        if target_path + "/index.html" in files:
            target_path += "/index.html"
        else:
            kind = "asset" if not target_path.endswith(".html") else "page"
            return f"link {link!r}: the {kind} {target_path} is not built"
    fragment = unquote(parts.fragment)
    if fragment and target_path.endswith(".html") and target_path in scans and fragment not in scans[target_path][1]:
        return f"link {link!r}: {target_path} has no anchor #{fragment}"
    return None


def _line_of(lines: list[str], link: str) -> int:
    # The page's source wrote the link before the build rewrote it ("proxy.md#x" -> "../proxy/#x").
    match = re.match(r"^\.\./([a-z0-9-]+)/(#.*)?$", link)
    candidates = [link, link.removeprefix("../")]
    if match:
        candidates = [f"{match[1]}.md{match[2] or ''}", f"{match[1]}.md", *candidates]
    fragment = link.partition("#")[2]
    if fragment:
        candidates.append(f"#{fragment}")
    for candidate in candidates:
        for number, line in enumerate(lines, 1):
            if candidate in line:
                return number
    return 1
