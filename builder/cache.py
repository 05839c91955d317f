"""What a ``Builder`` keeps between builds: ``BuildState`` (saved beside the output folder, for the
next process) and ``Memo`` (this process only). Everything is keyed by content, never by time.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import jinja2

import builder
import registry
from builder.assets import Encoded
from builder.content import ChangelogEntry, Converted, Page
from builder.docs import DocsMemo
from builder.links import Memo as LinksMemo
from builder.links import Scan
from builder.render import Output, digest
from builder.sdk import Sdk

# The cache folder beside the output holds two pickles: converted markdown (large, changes only
# with the docs) and everything else.
_STATE, _MARKDOWN = "state.pickle", "markdown.pickle"
# Libraries whose output ends up in the build: another version means another cache.
_LIBRARIES = ("cmarkgfm", "pygments", "jinja2", "tdewolff-minify", "brotli")


@dataclass(frozen=True, slots=True)
class RegistryRead:
    """The registry as last read, keyed by the file's bytes and the known versions."""

    key: str
    registry: registry.Registry
    client_keys: dict[str, str]  # client id -> digest of its entry, so one edit re-renders one page


@dataclass(slots=True)
class BuildState:
    code: str  # code_fingerprint() and the site settings: a state made by other code is not reused
    out: str = ""
    converted: dict[str, Converted] = field(default_factory=dict)  # markdown digest -> result
    minified: dict[str, str] = field(default_factory=dict)  # digest(name, source) -> text
    encoded: dict[str, Encoded] = field(default_factory=dict)  # file digest -> encodings
    outputs: dict[str, Output] = field(default_factory=dict)  # what is in ``out`` now
    groups: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # see Outputs.reuse
    scans: dict[str, Scan] = field(default_factory=dict)  # page digest -> links and ids
    registry: RegistryRead | None = None
    stats: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path -> (mtime, size, digest)


@dataclass(slots=True)
class Memo:
    """Rendered and parsed parts reused by later builds of the same ``Builder``; never saved."""

    archived: dict = field(default_factory=dict)  # see builder.cdn.gather
    sources: dict[tuple[str, str], Page | ChangelogEntry | None] = field(default_factory=dict)  # (path, digest) ->
    tables: registry.TableCache = field(default_factory=registry.TableCache)
    sdk: tuple[tuple, Sdk] | None = None  # (the folder's stats, what was read)
    manifest: tuple[str, registry.Manifest, bytes] | None = None  # (key, manifest, its JSON)
    env: tuple[str, jinja2.Environment] | None = None  # (template fingerprint, environment)
    headers: dict[tuple[str, ...], bytes] = field(default_factory=dict)  # paths -> _headers file
    docs: DocsMemo = field(default_factory=DocsMemo)
    links: LinksMemo = field(default_factory=LinksMemo)


def code_fingerprint() -> str:
    """Every first-party module the output depends on (the builder's and the registry's: a
    theme or a rule changed there changes pages), and the libraries' versions."""
    sources = [(f"{package.__name__}/{path.name}", path.read_bytes())
               for package in (builder, registry) for path in sorted(Path(package.__file__).parent.glob("*.py"))]
    return digest(sources, [metadata.version(name) for name in _LIBRARIES])


def load_state(folder: Path | None, code: str) -> BuildState:
    if folder is not None and (folder / _STATE).is_file():
        try:
            with (folder / _STATE).open("rb") as f:
                state = pickle.load(f)
            if isinstance(state, BuildState) and state.code == code:
                with (folder / _MARKDOWN).open("rb") as f:
                    state.converted = pickle.load(f)
                return state
        except Exception:  # a damaged or foreign cache only costs a cold build
            pass
    return BuildState(code)


def save_state(folder: Path, state: BuildState, markdown_changed: bool) -> None:
    if folder.is_file():
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    if markdown_changed or not (folder / _MARKDOWN).is_file():
        _dump(state.converted, folder / _MARKDOWN)
    converted, state.converted = state.converted, {}
    try:
        _dump(state, folder / _STATE)
    finally:
        state.converted = converted


def saved(folder: Path | None) -> bool:
    return folder is not None and (folder / _STATE).is_file()


def forget(folder: Path | None) -> None:
    """Drop the saved state (the output is about to differ from what it describes)."""
    if folder is not None:
        (folder / _STATE).unlink(missing_ok=True)


def _dump(value: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)  # a reader never sees half a cache file
