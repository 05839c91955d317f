"""The CDN's ``manifest.json``: what a build published, for the parts that read it.

``builder.cdn`` writes it with ``Manifest.to_json``; the builder's demo pages and snippets, the
proxy (the releases a client may pin, ``/api/widget-version``) and the sandbox read it with
``Manifest.read`` or ``Manifest.from_json``. The JSON keeps its keys in the order written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from registry.errors import ErrorList
from registry.releases import Release


class ManifestError(ErrorList, ValueError):
    """Every problem found in a manifest, one ``where: message`` per entry."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One published file ('v2.1.0/call.js', 'sdk/2.0.8/retell-web-client.js')."""

    version: str  # the release (or the SDK's version) whose bytes it holds
    size: int  # bytes, as served uncompressed ("bytes" in the JSON)
    gzip: int
    brotli: int
    integrity: str  # its SRI hash
    module: bool | None = None  # JS only: whether it must load with type="module"

    @classmethod
    def from_json(cls, data: Mapping) -> FileEntry:
        _check(data, {"version": str, "bytes": int, "gzip": int, "brotli": int, "integrity": str}, {"module": bool})
        return cls(data["version"], data["bytes"], data["gzip"], data["brotli"], data["integrity"], data.get("module"))

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"version": self.version, "bytes": self.size, "gzip": self.gzip,
                                   "brotli": self.brotli, "integrity": self.integrity}
        return data if self.module is None else data | {"module": self.module}


@dataclass(frozen=True, slots=True)
class SdkEntry:
    """Retell's SDK as vendored and published (``builder.sdk``)."""

    version: str  # of retell-client-js-sdk
    livekit_client: str  # the livekit-client version bundled in it
    path: str  # its immutable CDN path, 'sdk/2.0.8/retell-web-client.js'
    alias: str  # 'sdk/retell-web-client.js'
    licenses: str  # the CDN path of its third-party licences

    @classmethod
    def from_json(cls, data: Mapping) -> SdkEntry:
        _check(data, {"version": str, "livekit_client": str, "path": str, "alias": str, "licenses": str})
        return cls(data["version"], data["livekit_client"], data["path"], data["alias"], data["licenses"])

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "livekit_client": self.livekit_client, "path": self.path,
                "alias": self.alias, "licenses": self.licenses}


@dataclass(frozen=True, slots=True)
class Manifest:
    latest: str  # the newest stable release; "" when there is none
    lines: Mapping[str, str]  # 'v1' -> the release 'v1/' serves
    changelog: str  # the changelog's URL
    releases: Mapping[str, Release]  # every published release, newest first
    files: Mapping[str, FileEntry]  # CDN path -> the file, sorted by path
    sdk: SdkEntry | None = None  # None when the site loads the SDK from its own sdk_url

    def __post_init__(self) -> None:
        mismatched = [v for v, r in self.releases.items() if r.version != v]
        if mismatched:
            raise ValueError(f"releases are keyed by their version: {', '.join(mismatched)}")

    @classmethod
    def from_json(cls, data: object) -> Manifest:
        """Raise ``ManifestError`` listing every problem, each at its key path."""
        if not isinstance(data, Mapping):
            raise ManifestError(["the manifest must be a JSON object"])
        errors = [f"'{key}' is missing" for key in _KEYS if key not in data]
        errors += [f"unknown key '{key}'" for key in data if key not in (*_KEYS, "sdk")]
        for key, kind in (("latest", str), ("changelog", str), ("lines", Mapping), ("releases", Mapping), ("files", Mapping)):
            if key in data and not isinstance(data[key], kind):
                errors.append(f"'{key}' must be a {'string' if kind is str else 'JSON object'}")
        if errors:
            raise ManifestError(errors)
        lines = dict(data["lines"])
        errors += [f"lines.{line}: must be a version string" for line, v in lines.items() if not isinstance(v, str)]
        releases = _entries(data["releases"], "releases", Release.from_json, errors, by_key=True)
        files = _entries(data["files"], "files", FileEntry.from_json, errors)
        sdk = None
        if "sdk" in data:
            try:
                sdk = SdkEntry.from_json(data["sdk"])
            except ValueError as exc:
                errors.append(f"sdk: {exc}")
        if errors:
            raise ManifestError(errors)
        return cls(data["latest"], lines, data["changelog"], releases, files, sdk)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """The manifest file at ``path``; ``ManifestError`` names the file in each problem."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ManifestError([f"{path}: cannot read the manifest: {exc}"]) from None
        try:
            return cls.from_json(data)
        except ManifestError as exc:
            raise ManifestError([f"{path}: {e}" for e in exc.errors]) from None

    def to_json(self) -> dict[str, object]:
        return {
            "latest": self.latest,
            "lines": dict(self.lines),
            "changelog": self.changelog,
            **({"sdk": self.sdk.to_json()} if self.sdk is not None else {}),
            "releases": {version: release.to_json() for version, release in self.releases.items()},
            "files": {path: entry.to_json() for path, entry in self.files.items()},
        }


_KEYS = ("latest", "lines", "changelog", "releases", "files")


def _check(data: Mapping, required: dict[str, type], optional: dict[str, type] | None = None) -> None:
    if not isinstance(data, Mapping):
        raise ValueError("must be a JSON object")
    kinds = required | (optional or {})
    problems = [f"'{key}' is missing" for key in required if key not in data]
    problems += [f"unknown key '{key}'" for key in data if key not in kinds]
    for key, value in data.items():
        kind = kinds.get(key)
        # bool is an int in Python, but no size; and a size is no bool.
        if kind is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            problems.append(f"'{key}' must be {_KIND_NAMES[kind]}")
    if problems:
        raise ValueError("; ".join(problems))


_KIND_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}


def _entries(data: Mapping, where: str, parse: Callable, errors: list[str], by_key: bool = False) -> dict:
    parsed = {}
    for key, value in data.items():
        try:
            parsed[key] = parse(key, value) if by_key else parse(value)
        except ValueError as exc:
            # Release's own messages start with the release; the key path says the rest.
            message = str(exc).removeprefix(f"release {key!r}: ")
            errors.append(f"{where}.{key}: {message}")
    return parsed
