"""Every internal link, anchor and asset of the built pages must resolve to a built file."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from builder.config import SiteConfig
from builder.render import Output

# Code samples are text, not links: an example `<script src="...">` must not be checked.
_CODE = re.compile(rb"<(pre|code)\b.*?</\1>", re.S)
# A list marked <ul data-shared> repeats on every page (the docs navigation); pages are scanned
# without it, and the renderer hands one copy per page depth to ``check`` (see ``Outputs.shared``).
_ATTRIBUTE = re.compile(rb'\s(href|src)="([^"]*)"')
_ID = re.compile(rb'\sid="([^"]+)"')
_SKIP = ("mailto:", "tel:", "javascript:", "data:")

Scan = tuple[tuple[str, ...], frozenset[str]]  # (link targets, element ids)


def scan(data: bytes) -> Scan:
    # Cut the shared list out first (it is most of a docs page), so the regexes read the rest.
    start = data.find(b"<ul data-shared>")
    if start >= 0:
        end = data.find(b"</ul>", start)
        data = data[:start] + data[end + 5:] if end >= 0 else data[:start]
    ids = frozenset(m.decode() for m in _ID.findall(data))
    text = _CODE.sub(b"", data)
    links = tuple(dict.fromkeys(m[2].decode().replace("&amp;", "&") for m in _ATTRIBUTE.finditer(text)))
    return links, ids


Target = tuple[str, str, str | None]  # (output path or "", fragment, error); "" means not ours


@dataclass(slots=True)
class Memo:
    """What one check learnt for the next, in the same process."""

    targets: dict[tuple[str, str], Target] = field(default_factory=dict)  # (folder, link) -> target
    shape: int = 0  # hash of every output path and every page's ids
    clean: set[tuple[str, str]] = field(default_factory=set)  # (page, digest) with no broken link


def check(files: dict[str, Output], scans: dict[str, Scan], site: SiteConfig, errors: list[str],
          shared: dict[str, bytes] | None = None, memo: Memo | None = None) -> None:
    """``scans`` maps each HTML output path to what ``scan`` found in it; ``shared`` maps a page
    to a fragment whose links every page at its depth also has, to be checked once there.
    With a ``memo``, a page checked clean before is skipped while no path or anchor changed."""
    roots = ((f"{site.cdn_url}/", "cdn/"), (f"{site.docs_url}/", "docs/"))
    memo = Memo() if memo is None else memo
    shape = hash((frozenset(files), frozenset((page, scan[1]) for page, scan in scans.items())))
    if shape != memo.shape:
        memo.shape, memo.clean = shape, set()
    problems: dict[Path, list[tuple[str, str]]] = {}
    extra = {page: _ATTRIBUTE.findall(fragment) for page, fragment in (shared or {}).items() if page in scans}
    for page, (links, _) in sorted(scans.items()):
        seen = (page, files[page].digest)
        if seen in memo.clean:
            continue
        folder = page.rpartition("/")[0]
        clean = True
        for link in [*links, *(m[1].decode() for m in extra.get(page, ()))]:
            key = (page if link.startswith(("#", "?")) else folder, link)
            target = memo.targets.get(key)
            if target is None:
                target = memo.targets[key] = _target(page, link, roots)
            message = _verdict(page, link, target, files, scans)
            if message:
                clean = False
                problems.setdefault(files[page].source, []).append((link, f"{page}: {message}"))
        if clean:
            memo.clean.add(seen)
    for source, found in problems.items():
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for link, message in found:
            errors.append(f"{source}:{_line_of(lines, link)}: {message}")


def _target(page: str, link: str, roots: tuple[tuple[str, str], ...]) -> Target:
    """Where ``link`` on ``page`` points: a pure function of the two strings."""
    if link.startswith(_SKIP):
        return "", "", None
    parts = urlsplit(link)
    for url, folder in roots:
        if link.startswith(url) or link == url[:-1]:
            target_path = folder + link[len(url):].split("#", 1)[0].split("?", 1)[0]
            break
    else:
        if parts.scheme or parts.netloc:
            return "", "", None  # another website: not ours to check
        if not parts.path:
            target_path = page
        else:
            # Each client's demo page is the root of its own website; other pages share their folder.
            segments = page.split("/")
            site_root = "/".join(segments[:2]) if segments[0] == "clients" and len(segments) > 2 else segments[0]
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path)))
            if not (resolved + "/").startswith(site_root + "/"):
                return "", "", f"link {link!r} leaves the site"
            target_path = resolved + ("/" if parts.path.endswith("/") else "")
    if target_path.endswith("/") or target_path in ("cdn", "docs"):
        target_path = target_path.rstrip("/") + "/index.html"
    return target_path, unquote(parts.fragment), None


def _verdict(page: str, link: str, target: Target, files: dict[str, Output], scans: dict[str, Scan]) -> str | None:
    target_path, fragment, error = target
    if error or not target_path:
        return error
    if target_path not in files:
        if target_path + "/index.html" in files:
            target_path += "/index.html"
        else:
            kind = "asset" if not target_path.endswith(".html") else "page"
            return f"link {link!r}: the {kind} {target_path} is not built"
    if fragment and target_path in scans and fragment not in scans[target_path][1]:
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
