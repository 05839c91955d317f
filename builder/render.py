"""Rendering helpers shared by the docs and the client pages: the Jinja environment and `Outputs`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from builder.config import SiteConfig


def environment(templates: Path, site: SiteConfig) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["site"] = site
    return env


def digest(*parts: object) -> str:
    # SHA-256 rather than BLAKE2b: every output's bytes are hashed (~77 MB for 1,000 pages), and
    # with the CPU's SHA extensions (used by OpenSSL) it is about twice as fast here.
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


@dataclass(slots=True)
class Output:
    key: str  # digest of everything the file was made from
    source: Path  # where an error in it should point
    data: bytes | None  # None when reused from the previous build without rendering
    digest: str
    size: int


@dataclass(slots=True)
class Outputs:
    """Every output file of one build. ``emit`` renders a file only when its inputs changed."""

    previous: dict[str, Output]
    previous_groups: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    files: dict[str, Output] = field(default_factory=dict)
    rendered: int = 0
    shared: dict[str, bytes] = field(default_factory=dict)  # see builder.links.check
    groups: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # name -> (key, paths)

    def reuse(self, group: str, key: str | None) -> bool:
        """Take a whole group of files (say, every client page) from the previous build when
        the group's key is unchanged (or whatever it is, when ``key`` is None), without looking
        at each file's key."""
        old = self.previous_groups.get(group)
        if old is None or (key is not None and old[0] != key) or any(path not in self.previous for path in old[1]):
            return False
        for path in old[1]:
            self.files[path] = self.previous[path]
        self.groups[group] = old
        return True

    def emit(self, path: str, key: str, source: Path, make: Callable[[], str | bytes]) -> None:
        old = self.previous.get(path)
        if old is not None and old.key == key:
            self.files[path] = Output(key, source, old.data, old.digest, old.size)
            return
        data = make()
        data = data.encode() if isinstance(data, str) else data
        self.files[path] = Output(key, source, data, digest(data), len(data))
        self.rendered += 1

    def put(self, path: str, source: Path, data: bytes, key: str | None = None) -> None:
        """A file whose bytes are already at hand (assets): keyed by its content, or by ``key``
        when the caller already has a digest of it."""
        key = key or digest(data)
        old = self.previous.get(path)
        if old is not None and old.key == key:
            self.files[path] = Output(key, source, old.data, old.digest, old.size)
            return
        # The key identifies the bytes, so it serves as their digest too.
        self.files[path] = Output(key, source, data, key, len(data))
