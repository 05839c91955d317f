"""The versioned CDN tree: each major line, each exact version and ``latest/``, as real copies."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from builder.content import Release

_ASSET_SUFFIXES = (".js", ".css")


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def current_releases(releases: list[Release]) -> dict[str, Release]:
    """The newest release of each major line, keyed by line ('v1'); ``releases`` is newest first."""
    current: dict[str, Release] = {}
    for release in releases:
        current.setdefault(release.line, release)
    return current


def gather_assets(widget_dir: Path, releases: list[Release], errors: list[str]) -> dict[str, bytes]:
    """Map CDN paths ('v1/retell-widget.js') to bytes for the current release of every line.

    Older exact versions are immutable and already published; only a line's newest release is
    built from its source folder, ``widget/vN/``.
    """
    files: dict[str, bytes] = {}
    if not releases:
        return files
    latest = releases[0]
    for line, release in current_releases(releases).items():
        folder = widget_dir / line
        sources = sorted(p for p in folder.glob("*") if p.suffix in _ASSET_SUFFIXES) if folder.is_dir() else []
        if not sources:
            errors.append(f"{release.source}:1: release {release.version} needs widget sources in {folder}/")
            continue
        for source in sources:
            data = source.read_bytes()
            aliases = [line, f"v{release.version}"] + (["latest"] if release is latest else [])
            for folder_name in aliases:
                files[f"{folder_name}/{source.name}"] = data
    return files


def manifest(assets: dict[str, bytes], releases: list[Release]) -> dict:
    versions = {r.line: r.version for r in releases}
    versions["latest"] = releases[0].version if releases else ""
    entries = {}
    for path, data in sorted(assets.items()):
        folder = path.split("/", 1)[0]
        entries[path] = {
            "version": versions.get(folder, folder.removeprefix("v")),
            "bytes": len(data),
            "integrity": sri(data),
        }
    return {
        "latest": versions["latest"],
        "lines": {line: r.version for line, r in current_releases(releases).items()},
        "files": entries,
    }
