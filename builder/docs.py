"""The docs site: pages with navigation and a table of contents, the changelog with its Atom
feed, the search index, ``sitemap.xml`` and a 404 page."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from builder.content import Page, Release
from builder.render import Outputs, digest

# Markdown links name the source file ("proxy.md#rate-limits") so they also work on GitHub;
# each page is published as a folder, so they become "../proxy/#rate-limits".
_LINK = re.compile(r'(href|src)="(?![a-z][a-z0-9+.-]*:|/|#|\.\./)([^"]*)"')
_MD_LINK = re.compile(r"^([a-z0-9][a-z0-9-]*)\.md(#.*)?$")
_SEARCH_TEXT = 600  # characters of body text per page in the search index
# The navigation lists every page, so with 1,000 pages it is ~60 KB of each ~65 KB page. Passing
# it through Jinja, then encoding and marking it, once per page was most of the docs' cost, so a
# page is rendered around this marker and the navigation's bytes are spliced in where it landed.
# Mixed case and NULs: a filter that changes the navigation changes the marker too, and then the
# page is rendered the plain way (see ``_with_nav``).
_MARK = "\x00NaV\x00"
_CURRENT = b' aria-current="page"'


@dataclass(frozen=True, slots=True)
class _Nav:
    """The rendered navigation at one depth, and where each page's link in it ends."""

    root: str
    html: str
    data: bytes
    ends: dict[bytes, int]  # href value -> offset just past the first 'href="value"'

    @classmethod
    def of(cls, root: str, html: str) -> _Nav:
        data = html.encode()
        ends: dict[bytes, int] = {}
        # 'href="' cannot overlap itself, so this finds every one; a value runs to the next quote.
        start = data.find(b'href="')
        while start >= 0:
            close = data.find(b'"', start + 6)
            if close < 0:
                break
            ends.setdefault(data[start + 6:close], close + 1)
            start = data.find(b'href="', start + 6)
        return cls(root, html, data, ends)

    def markup(self, current: str | None = None) -> Markup:
        """The navigation with ``current``'s first link marked as the current page."""
        html = self.html
        if current:
            html = html.replace(f'href="{self.root}{current}"', f'href="{self.root}{current}"{_CURRENT.decode()}', 1)
        return Markup(html)

    def parts(self, current: str | None = None) -> tuple[bytes | memoryview, ...]:
        """``markup(current)`` encoded, as pieces to join (no copy of the unmarked navigation)."""
        end = self.ends.get(f"{self.root}{current}".encode()) if current else None
        if end is None:
            return (self.data,)
        view = memoryview(self.data)
        return view[:end], _CURRENT, view[end:]


def _with_nav(render: Callable[[Markup], str], nav: _Nav, current: str | None = None) -> bytes:
    """``render(nav.markup(current)).encode()``, without rendering the navigation into the page."""
    page = render(Markup(_MARK))
    head, mark, tail = page.partition(_MARK)
    if not mark or _MARK in tail:
        # The template does more with the navigation than print it once.
        return render(nav.markup(current)).encode()
    return b"".join((head.encode(), *nav.parts(current), tail.encode()))


def rewrite_links(html: str) -> str:
    def fix(match: re.Match[str]) -> str:
        attribute, target = match[1], match[2]
        md = _MD_LINK.match(target)
        if md:
            return f'{attribute}="../{md[1]}/{md[2] or ""}"'
        return f'{attribute}="../{target}"'

    return _LINK.sub(fix, html)


def render_docs(env: jinja2.Environment, out: Outputs, pages: list[Page], releases: list[Release],
                fingerprint: str, templates: Path, assets: list[Path], memo: dict | None = None) -> None:
    """``memo`` (kept by the caller between builds) holds the rendered navigation by its key."""
    memo = {} if memo is None else memo
    for path in assets:
        out.put(f"docs/{path.name}", path, path.read_bytes())
    pages = sorted(pages, key=lambda p: (p.order, p.title, p.slug))
    # A page's digest covers its title and order, so these keys stand for the whole docs tree.
    pages_key = digest(fingerprint, "".join(p.digest for p in pages))
    release_key = digest(fingerprint, [(r.version, r.date, r.html) for r in releases])
    group_key = pages_key + release_key
    if out.reuse("docs", group_key):
        return
    nav_items = [{"path": f"{p.slug}/", "title": p.title} for p in pages] + [{"path": "changelog/", "title": "Changelog"}]
    # Shared parts are rendered once; each page only marks its own entry as current.
    nav_key = digest(fingerprint, nav_items)
    if memo.get("nav_key") != nav_key:
        template = env.get_template("nav.html")
        memo["nav_key"] = nav_key
        memo["nav"] = {root: _Nav.of(root, template.render(nav=nav_items, root=root)) for root in ("../", "./", "../../")}
    navs: dict[str, _Nav] = memo["nav"]
    doc = env.get_template("doc.html")
    emitted = len(out.files)

    def nav(root: str, current: str | None = None) -> Markup:
        return navs[root].markup(current)

    # Pages: one folder each, so URLs stay clean ("docs/deployment/").
    for page in pages:
        out.emit(f"docs/{page.slug}/index.html", nav_key + page.digest, page.source,
                 lambda page=page: _with_nav(lambda nav: doc.render(
                     page=page, html=Markup(rewrite_links(page.html)), toc=[h for h in page.headings if h.level in (2, 3)],
                     nav=nav, root="../"), navs["../"], f"{page.slug}/"))
    # The navigation repeats on every page; the link check reads one copy per depth.
    out.shared["docs/index.html"] = navs["./"].data
    if pages:
        out.shared[f"docs/{pages[0].slug}/index.html"] = navs["../"].data
    if releases:
        out.shared[f"docs/changelog/{releases[0].version}/index.html"] = navs["../../"].data
    latest = next((r.version for r in releases if r.stable), "")
    # The home page lists titles and summaries only; a change deeper in a page leaves it alone.
    cards_key = digest(nav_key, [(p.slug, p.title, p.summary) for p in pages], latest)
    out.emit("docs/index.html", cards_key, templates / "docs_index.html",
             lambda: env.get_template("docs_index.html").render(pages=pages, latest=latest, nav=nav("./"), root="./"))
    out.emit("docs/404.html", digest(nav_key, "404"), templates / "404.html",
             # The 404 page is served at any depth, so its links are absolute.
             lambda: env.get_template("404.html").render(nav=Markup(env.get_template("nav.html").render(
                 nav=nav_items, root=env.globals["site"].docs_url + "/")), root=env.globals["site"].docs_url + "/"))

    # Changelog: an index, a page per release and an Atom feed.
    out.emit("docs/changelog/index.html", nav_key + release_key, templates / "changelog.html",
             lambda: env.get_template("changelog.html").render(releases=releases, nav=nav("../", "changelog/"), root="../"))
    release_page = env.get_template("release.html")
    for release in releases:
        out.emit(f"docs/changelog/{release.version}/index.html", digest(nav_key, release.version, release.date, release.html),
                 release.source, lambda release=release: _with_nav(
                     lambda nav: release_page.render(release=release, nav=nav, root="../../"), navs["../../"]))
    updated = f"{releases[0].date}T00:00:00Z" if releases else dt.datetime(2000, 1, 1).isoformat() + "Z"
    out.emit("docs/changelog/feed.xml", release_key + "feed", templates / "feed.xml",
             lambda: env.get_template("feed.xml").render(releases=releases, updated=updated))

    # Search index, sitemap and the static files the pages use.
    out.emit("docs/search.json", pages_key, templates / "doc.html", lambda: _search_index(pages, memo))
    paths = ["", *(f"{p.slug}/" for p in pages), "changelog/", *(f"changelog/{r.version}/" for r in releases)]
    out.emit("docs/sitemap.xml", digest(fingerprint, paths), templates / "sitemap.xml",
             lambda: env.get_template("sitemap.xml").render(paths=paths))
    out.groups["docs"] = (group_key, tuple(list(out.files)[emitted:]))


def _search_index(pages: list[Page], memo: dict) -> str:
    # Each page's entry is kept by the page's digest, so one changed page re-encodes one entry.
    cache: dict[str, str] = memo.setdefault("search", {})
    entries = []
    for p in pages:
        entry = cache.get(p.digest)
        if entry is None:
            entry = cache[p.digest] = json.dumps({
                "title": p.title, "url": f"{p.slug}/",
                "headings": [{"id": h.id, "name": h.name} for h in p.headings if h.level in (2, 3)],
                "search": " ".join([p.title, *(h.name for h in p.headings), p.text[:_SEARCH_TEXT]]).lower(),
            }, separators=(",", ":"), ensure_ascii=False)
        entries.append(entry)
    if len(cache) > 2 * len(pages):
        memo["search"] = {p.digest: cache[p.digest] for p in pages}
    return '{"pages":[' + ",".join(entries) + "]}"


def pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")
