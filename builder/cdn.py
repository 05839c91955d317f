"""The versioned CDN tree: each major line, each exact version and ``latest/``, as real copies.

A line's newest release is built from its source folder, ``widget/vN/``, with the shared call core
``widget/core/`` under ``core/`` (see ``widget_sources``). Every older exact
version keeps the bytes it was released with: ``python -m builder freeze`` copies a release's
built files into ``site_src/releases/X.Y.Z/`` (with ``release.json`` recording their hashes), and
the build serves an archived release from there, verifying each file against its recorded
integrity, so a client pinning ``1.0.0`` with SRI keeps working after ``widget/v1`` moves on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.assets import Encoded, minify, sri
from builder.content import ChangelogEntry
from builder.sdk import Sdk, manifest_entry
from registry.manifest import FileEntry, Manifest
from registry.versions import line_of

# What a widget folder may publish; anything else there (demos, tests, notes) stays private.
_PUBLISHED = (".js", ".mjs", ".css", ".d.ts")
_PRIVATE_DIRS = {"test", "tests", "demo", "demos", "node_modules"}
_MODULE = re.compile(r"(?:^|[;}\n])\s*(?:export\s*[{*\w]|import\s*[{*\w\"'])")
RECORD = "release.json"
# Modules written once for every line (the call flow); published inside each line's release folder.
SHARED = "core"


@dataclass(frozen=True, slots=True)
class Folder:
    """One CDN folder ('v1', 'v1.0.0', 'latest') and the release whose files it holds."""

    name: str
    release: ChangelogEntry


@dataclass(frozen=True, slots=True)
class Tree:
    folders: tuple[Folder, ...]
    files: dict[str, bytes]  # release version -> {file name: bytes}, flattened as "X.Y.Z/name"
    lines: dict[str, ChangelogEntry]  # 'v1' -> the release 'v1/' serves
    latest: ChangelogEntry | None
    unreleased: tuple[str, ...]  # widget folders with sources but no changelog entry yet

    def paths(self) -> dict[str, bytes]:
        """Every CDN path ('v1/retell-widget.js') with its bytes; aliases are real copies."""
        out = {}
        for folder in self.folders:
            prefix = f"{folder.release.version}/"
            for key, data in self.files.items():
                if key.startswith(prefix):
                    out[f"{folder.name}/{key[len(prefix):]}"] = data
        return out


def widget_sources(folder: Path) -> dict[str, Path]:
    """Publishable files of one line's widget folder, by their path inside it, and the shared
    ``widget/core/`` files under ``core/``: every release built from source carries the copy of
    the call core it was tested with, so an archived release never depends on another's files."""
    found = _publishable(folder)
    if found:  # a line without sources of its own stays unbuilt, core or not
        found |= {f"{SHARED}/{name}": path for name, path in _publishable(folder.parent / SHARED).items()}
    return found


def _publishable(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(p.startswith((".", "_")) or p in _PRIVATE_DIRS for p in relative.parts):
            continue
        if path.name.endswith(_PUBLISHED):
            found[relative.as_posix()] = path
    return found


def current_releases(releases: list[ChangelogEntry]) -> dict[str, ChangelogEntry]:
    """What each line's alias serves: its newest stable release, else its newest pre-release."""
    current: dict[str, ChangelogEntry] = {}
    for release in releases:  # newest first
        if release.line not in current or (release.stable and not current[release.line].stable):
            current[release.line] = release
    return current


def gather(widget_dir: Path, archive: Path, releases: list[ChangelogEntry], errors: list[str],
           minified: Callable[[str, Path], str] = lambda name, path: minify(name, path.read_text(encoding="utf-8")),
           archived: dict | None = None) -> Tree:
    """Every release's files, from the archive or (for a line's current release) from source.

    ``minified`` turns a source file into its published text; the builder passes a cached one.
    ``archived`` keeps verified archive folders by their record's stat between builds.
    """
    archived = {} if archived is None else archived
    lines = current_releases(releases)
    files: dict[str, bytes] = {}
    for release in releases:
        record_path = archive / release.version / RECORD
        folder = widget_dir / release.line
        if record_path.is_file():
            # Any change to the folder's files (their size or time) verifies it again.
            with os.scandir(record_path.parent) as entries:
                seen = (str(record_path.parent), *sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries))
            if seen not in archived:
                problems: list[str] = []
                found = _archived(release, record_path, problems)
                errors += problems
                if not problems:
                    archived[seen] = found  # only a verified folder is trusted next time
            else:
                found = archived[seen]
            files |= found
            if lines[release.line] is release:
                _check_unchanged(release, record_path, widget_sources(folder), errors)
        elif lines[release.line] is release:
            sources = widget_sources(folder)
            if not sources:
                errors.append(f"{release.source}:1: release {release.version} needs widget sources in {folder}/")
            for name, path in sources.items():
                try:
                    files[f"{release.version}/{name}"] = minified(name, path).encode()
                except ValueError as exc:
                    errors.append(f"{path}:1: cannot minify: {exc}")
        else:
            errors.append(
                f"{release.source}:1: release {release.version} is older than {release.line}'s current "
                f"{lines[release.line].version} and has no archived files in {archive / release.version}/; "
                f"restore them from the published CDN folder v{release.version}/ "
                "(run `python -m builder freeze` before a line moves on)"
            )
    latest = next((r for r in releases if r.stable), None)
    folders = [Folder(f"v{r.version}", r) for r in releases]
    folders += [Folder(line, release) for line, release in sorted(lines.items())]
    if latest is not None:
        folders.append(Folder("latest", latest))
    released_lines = set(lines)
    unreleased = tuple(sorted(
        p.name for p in widget_dir.glob("v*") if line_of(p.name) is not None and p.name not in released_lines and widget_sources(p)
    )) if widget_dir.is_dir() else ()
    return Tree(tuple(folders), files, lines, latest, unreleased)


def source_digests(sources: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in sources.items()}


def _archived(release: ChangelogEntry, record_path: Path, errors: list[str]) -> dict[str, bytes]:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        expected: dict[str, str] = record["files"]
    except (ValueError, KeyError, TypeError):
        errors.append(f"{record_path}:1: not a release record (JSON with 'files': {{name: integrity}})")
        return {}
    files = {}
    for name, integrity in sorted(expected.items()):
        path = record_path.parent / name
        if not path.is_file():
            errors.append(f"{record_path}:1: archived file {name} of release {release.version} is missing")
            continue
        data = path.read_bytes()
        if sri(data) != integrity:
            errors.append(f"{record_path}:1: archived file {name} no longer matches the integrity "
                          f"{release.version} was released with; released bytes never change")
            continue
        files[f"{release.version}/{name}"] = data
    return files


def _check_unchanged(release: ChangelogEntry, record_path: Path, sources: dict[str, Path], errors: list[str]) -> None:
    try:
        recorded = json.loads(record_path.read_text(encoding="utf-8")).get("source", {})
    except ValueError:
        return  # already reported by _archived
    if recorded != source_digests(sources):
        folder = next(iter(sources.values())).parent if sources else f"widget/{release.line}"
        errors.append(
            f"{release.source}:1: {folder} has changed since {release.version} was released "
            f"(archived in {record_path.parent}/); add a changelog entry for the next {release.line} version, "
            f"e.g. {release.source.with_name(f'{release.key.next_patch()}.md')}"
        )


def freeze(tree: Tree, widget_dir: Path, archive: Path) -> list[str]:
    """Archive each line's current release that is not archived yet; return the versions written."""
    written = []
    for line, release in sorted(tree.lines.items()):
        target = archive / release.version
        if (target / RECORD).is_file():
            continue
        prefix = f"{release.version}/"
        names = {key[len(prefix):]: data for key, data in tree.files.items() if key.startswith(prefix)}
        for name, data in names.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
        record = {
            "version": release.version,
            "line": line,
            "files": {name: sri(data) for name, data in sorted(names.items())},
            "source": source_digests(widget_sources(widget_dir / line)),
        }
        (target / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        written.append(release.version)
    return written


def manifest(tree: Tree, encoded: dict[str, Encoded], docs_url: str, sdk: Sdk | None = None,
             sdk_files: dict[str, Encoded] | None = None) -> Manifest:
    """What the build published: ``latest``, ``lines``, ``releases``, ``changelog``, ``sdk`` and
    ``files`` (each widget file and the SDK's, with sizes and SRI)."""
    entries = {}
    for path, enc in (sdk_files or {}).items():
        if path.endswith(".js"):  # the licences are named by "sdk", not listed as assets
            entries[path] = _file_entry(sdk.version, enc, True)  # type: ignore[union-attr]
    for folder in tree.folders:
        prefix = f"{folder.release.version}/"
        for key in sorted(k for k in tree.files if k.startswith(prefix)):
            name = key[len(prefix):]
            enc = encoded[key]
            module = bool(_MODULE.search(enc.data.decode("utf-8", "replace"))) if name.endswith((".js", ".mjs")) else None
            entries[f"{folder.name}/{name}"] = _file_entry(folder.release.version, enc, module)
    return Manifest(
        latest=tree.latest.version if tree.latest else "",
        lines={line: r.version for line, r in sorted(tree.lines.items())},
        changelog=f"{docs_url}/changelog/",
        sdk=manifest_entry(sdk) if sdk is not None else None,
        releases={r.version: r.release for r in sorted({f.release for f in tree.folders}, key=lambda r: r.key, reverse=True)},
        files=dict(sorted(entries.items())),
    )


def _file_entry(version: str, enc: Encoded, module: bool | None) -> FileEntry:
    return FileEntry(version, len(enc.data), len(enc.gzip), len(enc.brotli), enc.integrity, module)
