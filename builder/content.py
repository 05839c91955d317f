"""Markdown sources: docs pages and changelog releases, read and validated before any writing."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import markdown

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    title: str
    html: str
    source: Path


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    date: dt.date
    html: str
    source: Path

    @property
    def key(self) -> tuple[int, int, int]:
        major, minor, patch = _VERSION.match(self.version).groups()  # type: ignore[union-attr]
        return int(major), int(minor), int(patch)

    @property
    def line(self) -> str:
        return f"v{self.key[0]}"


def _convert(text: str) -> tuple[dict[str, list[str]], str]:
    md = markdown.Markdown(extensions=["meta", "fenced_code", "tables", "toc"])
    html = md.convert(text)
    return md.Meta, html  # type: ignore[attr-defined]


def gather_pages(folder: Path, errors: list[str]) -> list[Page]:
    pages = []
    for path in sorted(folder.glob("*.md")):
        slug = path.stem
        if not _SLUG.match(slug):
            errors.append(f"{path}:1: page file names are lower-case words joined by '-'")
            continue
        meta, html = _convert(path.read_text(encoding="utf-8"))
        title = meta.get("title", [""])[0] or _first_heading(html)
        if not title:
            errors.append(f"{path}:1: the page needs a 'title:' line or a '# Heading'")
            continue
        pages.append(Page(slug, title, html, path))
    if not pages:
        errors.append(f"{folder}: no docs pages (*.md) found")
    return pages


def gather_releases(folder: Path, errors: list[str]) -> list[Release]:
    """Every release, newest first. The changelog is the only place a version number is written."""
    releases = []
    for path in sorted(folder.glob("*.md")):
        meta, html = _convert(path.read_text(encoding="utf-8"))
        version = meta.get("version", [""])[0]
        date_text = meta.get("date", [""])[0]
        if not _VERSION.match(version):
            errors.append(f"{path}:1: 'version:' must be MAJOR.MINOR.PATCH, got {version!r}")
            continue
        try:
            date = dt.date.fromisoformat(date_text)
        except ValueError:
            errors.append(f"{path}:2: 'date:' must be YYYY-MM-DD, got {date_text!r}")
            continue
        releases.append(Release(version, date, html, path))
    seen: dict[str, Path] = {}
    for release in releases:
        if release.version in seen:
            errors.append(f"{release.source}:1: version {release.version} is also released in {seen[release.version]}")
        seen[release.version] = release.source
    if not releases:
        errors.append(f"{folder}: no releases found; add a changelog entry with 'version:' and 'date:'")
    return sorted(releases, key=lambda r: r.key, reverse=True)


def _first_heading(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    return re.sub(r"<[^>]+>", "", match[1]).strip() if match else ""
