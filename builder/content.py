"""Markdown sources: docs pages and changelog releases, read and validated before any writing."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import markdown

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")
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


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    title: str
    order: float
    html: str
    headings: tuple[Heading, ...]
    text: str
    source: Path
    digest: str  # of the source text; unchanged digest means unchanged page


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    date: dt.date
    html: str
    source: Path

    @property
    def key(self) -> tuple[int, int, int, int, str]:
        major, minor, patch, pre = _VERSION.match(self.version).groups()  # type: ignore[union-attr]
        # A pre-release sorts before its release: 2.0.0-beta.1 < 2.0.0.
        return int(major), int(minor), int(patch), 0 if pre else 1, pre or ""

    @property
    def line(self) -> str:
        return f"v{self.key[0]}"

    @property
    def stable(self) -> bool:
        return "-" not in self.version


def convert(text: str) -> Converted:
    """Markdown to HTML with heading ids, tables and Pygments-highlighted fenced code."""
    md = markdown.Markdown(
        extensions=["meta", "fenced_code", "tables", "toc", "codehilite"],
        extension_configs={"codehilite": {"guess_lang": False, "css_class": "highlight"}},
    )
    html = md.convert(text)
    meta = {key: values[0].strip() if values else "" for key, values in md.Meta.items()}  # type: ignore[attr-defined]
    headings: list[Heading] = []

    def walk(tokens: list[dict]) -> None:
        for token in tokens:
            headings.append(Heading(token["level"], token["id"], token["name"]))
            walk(token["children"])

    walk(md.toc_tokens)  # type: ignore[attr-defined]
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
    return Converted(meta, html, tuple(headings), plain)


def page_from(path: Path, digest: str, converted: Converted, errors: list[str]) -> Page | None:
    slug = path.stem
    if not _SLUG.match(slug):
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
    return Page(slug, title, order, converted.html, converted.headings, converted.text, path, digest)


def doc_assets(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _DOC_ASSETS) if folder.is_dir() else []


def release_from(path: Path, converted: Converted, errors: list[str]) -> Release | None:
    version = converted.meta.get("version", "")
    date_text = converted.meta.get("date", "")
    if not _VERSION.match(version):
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
    return Release(version, date, converted.html, path)


def sort_releases(releases: list[Release], folder: Path, errors: list[str]) -> list[Release]:
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
