"""The build pipeline: gather and validate every source, then render, then write."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

import registry
from builder.cdn import current_releases, gather_assets, manifest
from builder.config import BuildConfig
from builder.content import gather_pages, gather_releases
from builder.render import environment, render_clients, render_docs


class BuildError(Exception):
    """Every problem found, one ``file:line: message`` per entry, reported together."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(slots=True)
class BuildReport:
    out: Path
    files: dict[str, int] = field(default_factory=dict)  # output path -> bytes
    seconds: float = 0.0

    def summary(self) -> list[str]:
        groups: dict[str, list[int]] = {}
        for path, size in self.files.items():
            groups.setdefault(path.split("/", 1)[0], []).append(size)
        lines = [f"  {name + '/':<10} {len(sizes):>4} files {sum(sizes):>9,} bytes" for name, sizes in sorted(groups.items())]
        total = sum(self.files.values())
        lines.append(f"built {len(self.files)} files ({total:,} bytes) into {self.out} in {self.seconds:.2f}s")
        return lines


def build(config: BuildConfig) -> BuildReport:
    started = time.perf_counter()
    errors: list[str] = []

    # Gather: read and validate every source before anything is written.
    releases = gather_releases(config.src / "changelog", errors)
    pages = gather_pages(config.src / "docs", errors)
    assets = gather_assets(config.widget, releases, errors)
    try:
        clients = registry.load(config.registry_path, known_versions=[r.version for r in releases])
    except registry.RegistryError as exc:
        errors += exc.errors
        clients = None
    except FileNotFoundError:
        errors.append(f"{config.registry_path}: the client registry is missing")
        clients = None
    built_versions = {r.version for r in current_releases(releases).values()}
    for client in clients.clients if clients else ():
        if client.widget_version not in built_versions and client.widget_version in {r.version for r in releases}:
            errors.append(f"{config.registry_path}:1: client '{client.id}' pins {client.widget_version}, "
                          "which is not the current release of its line, so this build cannot produce its files")
    if errors:
        raise BuildError(errors)
    assert clients is not None

    # Render: every output file in memory, keyed by its path under the output folder.
    cdn_manifest = manifest(assets, releases)
    files: dict[str, bytes] = {f"cdn/{path}": data for path, data in assets.items()}
    files["cdn/manifest.json"] = json.dumps(cdn_manifest, indent=2).encode()
    try:
        env = environment(config.src / "templates", config.site)
        html = render_docs(env, pages, releases) | render_clients(env, clients, cdn_manifest)
    except jinja2.TemplateError as exc:
        where = f"{getattr(exc, 'filename', None) or config.src / 'templates'}:{getattr(exc, 'lineno', None) or 1}"
        raise BuildError([f"{where}: template error: {exc}"]) from None
    files |= {path: text.encode() for path, text in html.items()}

    # Write: into a sibling staging folder, then swap it in, so a failed write never leaves a
    # half-built tree where the old one was.
    _write_atomically(config.out, files)
    return BuildReport(config.out, {p: len(d) for p, d in sorted(files.items())}, time.perf_counter() - started)


def _write_atomically(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for path, data in files.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(old)
        staging.rename(out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
