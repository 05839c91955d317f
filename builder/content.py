"""Markdown sources: docs pages and changelog releases, read and validated before any writing."""

from __future__ import annotations

import datetime as dt
import functools
import html as html_lib
import re
from dataclasses import dataclass
from pathlib import Path

from registry import Release, Version
from registry.releases import parse_features, parse_languages

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Docs pages get these extra files copied beside them (images and downloads they link to).
_DOC_ASSETS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".txt", ".pdf"}


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Converted:
    """One markdown file after conversion; cached by the text's hash between builds."""

    meta: dict[str, str]
    html: str
    headings: tuple[Heading, ...]
    text: str  # plain text, for the search index
    summary: str  # the first paragraph, shortened, for the docs home page


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    title: str
    order: float
    html: str
    headings: tuple[Heading, ...]
    text: str
    summary: str
    source: Path
    digest: str  # of the source text; unchanged digest means unchanged page


@dataclass(frozen=True, slots=True)
class ChangelogEntry:
    """One changelog file: the release it announces, and its notes."""

    release: Release
    html: str
    source: Path

    @property
    def version(self) -> str:
        return self.release.version

    @property
    def date(self) -> dt.date:
        return self.release.date

    @property
    def key(self) -> Version:
        """For ordering: SemVer's (a pre-release sorts before its release)."""
        return self.release.key

    @property
    def line(self) -> str:
        return self.release.line

    @property
    def stable(self) -> bool:
        return self.release.stable


_META = re.compile(r"^([A-Za-z][\w-]*):[ \t]*(.*)$")
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)
_CODE_BLOCK = re.compile(r'<pre lang="([\w+#.-]+)"><code>(.*?)</code></pre>', re.S)
_TAG = re.compile(r"<[^>]+>")


def convert(text: str) -> Converted:
    """Markdown (GitHub's dialect, via cmark-gfm in C) to HTML with heading ids, tables and
    Pygments-highlighted fenced code; leading ``key: value`` lines are the page's meta."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    meta: dict[str, str] = {}
    lines = text.splitlines()
    while lines and (match := _META.match(lines[0])):
        meta[match[1].lower()] = match[2].strip()
        lines.pop(0)
    body = "\n".join(lines)
    # Docs are our own trusted text, so raw HTML in them is kept.
    html = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_GITHUB_PRE_LANG)
    headings: list[Heading] = []
    used: dict[str, int] = {}

    def heading(match: re.Match[str]) -> str:
        name = html_lib.unescape(_TAG.sub("", match[2])).strip()
        slug = _slugify(name) or "section"
        if slug in used:
            used[slug] += 1
            slug = f"{slug}_{used[slug]}"
        else:
            used[slug] = 0
        headings.append(Heading(int(match[1]), slug, name))
        return f'<h{match[1]} id="{slug}">{match[2]}</h{match[1]}>'

    html = _CODE_BLOCK.sub(_highlight, _HEADING.sub(heading, html))
    plain = re.sub(r"\s+", " ", html_lib.unescape(_TAG.sub(" ", html))).strip()
    paragraph = re.search(r"<p>(.*?)</p>", html, re.S)
    summary = re.sub(r"\s+", " ", html_lib.unescape(_TAG.sub("", paragraph[1]))).strip() if paragraph else ""
    if len(summary) > 160:
        summary = summary[:157].rsplit(" ", 1)[0] + "…"
    return Converted(meta, html, tuple(headings), plain, summary)


def _slugify(name: str) -> str:
    # The same ids as Python-Markdown's toc and GitHub: "Rate limits" -> "rate-limits".
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", name).strip().lower())


@functools.cache
def _formatter() -> object:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass="highlight")


@functools.cache
def _lexer(language: str) -> object | None:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language)
    except ClassNotFound:
        return None


def _highlight(match: re.Match[str]) -> str:
    from pygments import highlight

    lexer = _lexer(match[1].lower())
    if lexer is None:
        return f"<pre><code>{match[2]}</code></pre>"
    return highlight(html_lib.unescape(match[2]), lexer, _formatter())


def page_from(path: Path, digest: str, converted: Converted, errors: list[str]) -> Page | None:
    slug = path.stem
    if not _SLUG.fullmatch(slug):
        errors.append(f"{path}:1: page file names are lower-case words joined by '-'")
        return None
    title = converted.meta.get("title") or next((h.name for h in converted.headings if h.level == 1), "")
    if not title:
        errors.append(f"{path}:1: the page needs a 'title:' line or a '# Heading'")
        return None
    order_text = converted.meta.get("order", "")
    try:
        order = float(order_text) if order_text else float("inf")
    except ValueError:
        errors.append(f"{path}:{_meta_line(path, 'order')}: 'order:' must be a number, got {order_text!r}")
        return None
    return Page(slug, title, order, converted.html, converted.headings, converted.text, converted.summary, path, digest)


def doc_assets(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _DOC_ASSETS) if folder.is_dir() else []


def release_from(path: Path, converted: Converted, docs_url: str, errors: list[str]) -> ChangelogEntry | None:
    """The changelog file's meta lines: ``version:``, ``date:``, ``features:`` (optional, some of
    ``registry.FEATURES``) and ``languages:`` (the codes its strings know)."""
    meta = converted.meta
    version = meta.get("version", "")
    date_text = meta.get("date", "")
    if not Version.is_valid(version):
        errors.append(f"{path}:{_meta_line(path, 'version')}: 'version:' must be MAJOR.MINOR.PATCH, got {version!r}")
        return None
    if path.stem != version:
        errors.append(f"{path}:{_meta_line(path, 'version')}: the file of version {version} must be named {version}.md")
        return None
    try:
        date = dt.date.fromisoformat(date_text)
    except ValueError:
        errors.append(f"{path}:{_meta_line(path, 'date')}: 'date:' must be YYYY-MM-DD, got {date_text!r}")
        return None
    features, problems = parse_features(meta.get("features", ""))
    found = [f"{path}:{_meta_line(path, 'features')}: 'features:' {problem}" for problem in problems]
    if "languages" not in meta:
        found.append(f"{path}:1: 'languages:' is missing: list the languages the release's strings know, e.g. 'languages: en'")
    languages, problems = parse_languages(meta.get("languages", "en"))
    found += [f"{path}:{_meta_line(path, 'languages')}: 'languages:' {problem}" for problem in problems]
    errors += found
    if found:
        return None
    release = Release(version, date, f"{docs_url}/changelog/{version}/", features, languages)
    return ChangelogEntry(release, converted.html, path)


def sort_releases(releases: list[ChangelogEntry], folder: Path, errors: list[str]) -> list[ChangelogEntry]:
    """Newest first. The changelog is the only place a version number is written."""
    if not releases:
        errors.append(f"{folder}: no releases found; add a changelog entry with 'version:' and 'date:'")
    return sorted(releases, key=lambda r: r.key, reverse=True)


def _meta_line(path: Path, key: str) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    return next((i + 1 for i, line in enumerate(lines) if line.lower().startswith(f"{key}:")), 1)
