"""The docs site: pages with navigation and a table of contents, the changelog with its Atom
feed, ``sitemap.xml`` and a 404 page (the search index is ``builder.search``'s)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from markupsafe import Markup

from builder.content import Page, ChangelogEntry
from builder.render import Outputs, digest

# Markdown links name the source file ("proxy.md#rate-limits") so they also work on GitHub;
# each page is published as a folder, so they become "../proxy/#rate-limits".
_LINK = re.compile(r'(href|src)="(?![a-z][a-z0-9+.-]*:|/|#|\.\./)([^"]*)"')
_MD_LINK = re.compile(r"^([a-z0-9][a-z0-9-]*)\.md(#.*)?$")
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


def wrap_tables(html: str) -> str:
    """Each table in a box that scrolls sideways, so a wide one (the proxy's settings) stays in
    the content column instead of running under the sticky "On this page" column. The box is
    focusable so a keyboard can scroll it too."""
    return html.replace("<table>", '<div class="table-scroll" tabindex="0"><table>').replace("</table>", "</table></div>")


def rewrite_links(html: str) -> str:
    def fix(match: re.Match[str]) -> str:
        attribute, target = match[1], match[2]
        md = _MD_LINK.match(target)
        if md:
            return f'{attribute}="../{md[1]}/{md[2] or ""}"'
        return f'{attribute}="../{target}"'

    return _LINK.sub(fix, html)


@dataclass(slots=True)
class DocsMemo:
    """What the docs keep between builds of one ``Builder``: the rendered navigation."""

    nav_key: str = ""
    navs: dict[str, _Nav] = field(default_factory=dict)  # root ("../", "./", "../../") -> navigation


@dataclass(frozen=True, slots=True)
class _Site:
    """One docs build: the sorted pages and releases, the keys they give, the navigation."""

    env: jinja2.Environment
    templates: Path
    pages: list[Page]
    releases: list[ChangelogEntry]
    fingerprint: str
    pages_key: str
    release_key: str
    nav_key: str
    navs: dict[str, _Nav]

    def nav(self, root: str, current: str | None = None) -> Markup:
        return self.navs[root].markup(current)


def render_docs(env: jinja2.Environment, out: Outputs, pages: list[Page], releases: list[ChangelogEntry],
                fingerprint: str, templates: Path, assets: list[Path], memo: DocsMemo | None = None) -> None:
    memo = DocsMemo() if memo is None else memo
    for path in assets:
        out.put(f"docs/{path.name}", path, path.read_bytes())
    pages = sorted(pages, key=lambda p: (p.order, p.title, p.slug))
    # A page's digest covers its title and order, so these keys stand for the whole docs tree.
    pages_key = digest(fingerprint, "".join(p.digest for p in pages))
    release_key = digest(fingerprint, [(r.version, r.date, r.html) for r in releases])
    if out.reuse("docs", pages_key + release_key):
        return
    emitted = len(out.files)
    site = _navigation(env, pages, releases, fingerprint, templates, pages_key, release_key, memo)
    _pages(site, out)
    _home_and_404(site, out)
    _changelog(site, out)
    _sitemap(site, out)
    out.groups["docs"] = (pages_key + release_key, tuple(list(out.files)[emitted:]))


def _navigation(env: jinja2.Environment, pages: list[Page], releases: list[ChangelogEntry], fingerprint: str, templates: Path,
                pages_key: str, release_key: str, memo: DocsMemo) -> _Site:
    # Rendered once per depth; each page only marks its own entry as current.
    items = _nav_items(pages)
    nav_key = digest(fingerprint, items)
    if memo.nav_key != nav_key:
        template = env.get_template("nav.html")
        memo.nav_key = nav_key
        memo.navs = {root: _Nav.of(root, template.render(nav=items, root=root)) for root in ("../", "./", "../../")}
    return _Site(env, templates, pages, releases, fingerprint, pages_key, release_key, nav_key, memo.navs)


def _nav_items(pages: list[Page]) -> list[dict[str, str]]:
    return [{"path": f"{p.slug}/", "title": p.title} for p in pages] + [{"path": "changelog/", "title": "Changelog"}]


def _pages(site: _Site, out: Outputs) -> None:
    # One folder each, so URLs stay clean ("docs/deployment/").
    doc = site.env.get_template("doc.html")

    def render(page: Page) -> bytes:
        toc = [h for h in page.headings if h.level in (2, 3)]
        return _with_nav(lambda nav: doc.render(page=page, html=Markup(wrap_tables(rewrite_links(page.html))), toc=toc, nav=nav,
                                                root="../"), site.navs["../"], f"{page.slug}/")

    for page in site.pages:
        out.emit(f"docs/{page.slug}/index.html", site.nav_key + page.digest, page.source, lambda page=page: render(page))
    # The navigation repeats on every page; the link check reads one copy per depth.
    out.shared["docs/index.html"] = site.navs["./"].data
    if site.pages:
        out.shared[f"docs/{site.pages[0].slug}/index.html"] = site.navs["../"].data
    if site.releases:
        out.shared[f"docs/changelog/{site.releases[0].version}/index.html"] = site.navs["../../"].data


def _home_and_404(site: _Site, out: Outputs) -> None:
    env = site.env
    latest = next((r.version for r in site.releases if r.stable), "")
    # The home page lists titles and summaries only; a change deeper in a page leaves it alone.
    cards_key = digest(site.nav_key, [(p.slug, p.title, p.summary) for p in site.pages], latest)
    out.emit("docs/index.html", cards_key, site.templates / "docs_index.html",
             lambda: env.get_template("docs_index.html").render(pages=site.pages, latest=latest, nav=site.nav("./"),
                                                                root="./"))

    def not_found() -> str:
        # Served at any depth, so its links are absolute.
        root = env.globals["site"].docs_url + "/"
        nav = Markup(env.get_template("nav.html").render(nav=_nav_items(site.pages), root=root))
        return env.get_template("404.html").render(nav=nav, root=root)

    out.emit("docs/404.html", digest(site.nav_key, "404"), site.templates / "404.html", not_found)


def _changelog(site: _Site, out: Outputs) -> None:
    # An index, a page per release and an Atom feed.
    env, releases = site.env, site.releases
    out.emit("docs/changelog/index.html", site.nav_key + site.release_key, site.templates / "changelog.html",
             lambda: env.get_template("changelog.html").render(releases=releases, nav=site.nav("../", "changelog/"),
                                                               root="../"))
    page = env.get_template("release.html")
    for release in releases:
        out.emit(f"docs/changelog/{release.version}/index.html",
                 digest(site.nav_key, release.version, release.date, release.html), release.source,
                 lambda release=release: _with_nav(lambda nav: page.render(release=release, nav=nav, root="../../"),
                                                   site.navs["../../"]))
    updated = f"{releases[0].date}T00:00:00Z" if releases else dt.datetime(2000, 1, 1).isoformat() + "Z"
    out.emit("docs/changelog/feed.xml", site.release_key + "feed", site.templates / "feed.xml",
             lambda: env.get_template("feed.xml").render(releases=releases, updated=updated))


def _sitemap(site: _Site, out: Outputs) -> None:
    paths = ["", *(f"{p.slug}/" for p in site.pages), "changelog/", *(f"changelog/{r.version}/" for r in site.releases)]
    out.emit("docs/sitemap.xml", digest(site.fingerprint, paths), site.templates / "sitemap.xml",
             lambda: site.env.get_template("sitemap.xml").render(paths=paths))


def pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")
