"""Retell's browser SDK, vendored in ``widget/sdk/`` and published beside the widget lines.

``widget/sdk/build.sh`` bundles ``retell-client-js-sdk`` (with the ``livekit-client`` it pins)
into one ES module and records its SHA-256; the build never runs Node, it checks the committed
file against that hash and publishes it twice: ``cdn/sdk/<version>/retell-web-client.js``,
immutable, which new widget releases load by default, and ``cdn/sdk/retell-web-client.js``, the
alias the archived 1.0.0 and 2.0.0 releases look for.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import brotli

from registry.manifest import SdkEntry
from registry.versions import PATTERN, Version

FILE = "retell-web-client.js"
LICENSES = "THIRD_PARTY_LICENSES"
PUBLISHED_LICENSES = "THIRD_PARTY_LICENSES.txt"  # a suffix, so the CDN sends it as text
FOLDER = "sdk"
# Where Retell's SDK connects, hard-coded in it: the region lookup over https:, the call over wss:.
# A client page's CSP must allow both; the sandbox's media server answers under this name.
MEDIA_HOST = "retell-ai-4ihahnq7.livekit.cloud"
MEDIA_ORIGINS = (f"https://{MEDIA_HOST}", f"wss://{MEDIA_HOST}")
_EXACT_PATH = re.compile(rf"\bsdk/({PATTERN})/" + re.escape(FILE))


@dataclass(frozen=True, slots=True)
class Sdk:
    version: str  # of retell-client-js-sdk
    livekit_client: str  # the livekit-client version bundled in it
    data: bytes
    brotli: bytes  # made by build.sh at quality 11 (a second of CPU here), checked on every build
    licenses: bytes
    source: Path  # the vendored file, for error messages

    @property
    def path(self) -> str:
        """The immutable CDN path new releases load by default."""
        return f"{FOLDER}/{self.version}/{FILE}"

    @property
    def alias(self) -> str:
        return f"{FOLDER}/{FILE}"

    def files(self) -> dict[str, bytes]:
        """CDN path -> bytes, both copies, with the licences of what the bundle contains."""
        out = {}
        for folder in (f"{FOLDER}/{self.version}", FOLDER):
            out[f"{folder}/{FILE}"] = self.data
            out[f"{folder}/{PUBLISHED_LICENSES}"] = self.licenses
        return out


def gather(folder: Path, errors: list[str]) -> Sdk | None:
    """The vendored SDK, verified; None (with errors) if it is not there or not intact."""
    bundle, recorded, package, lock = folder / FILE, folder / f"{FILE}.sha256", folder / "package.json", folder / "package-lock.json"
    missing = [p for p in (bundle, recorded, package, lock, folder / LICENSES, folder / f"{FILE}.br") if not p.is_file()]
    if missing:
        errors += [f"{p}:1: missing; regenerate the vendored SDK with `bash {folder}/build.sh`" for p in missing]
        return None
    data = bundle.read_bytes()
    expected = recorded.read_text(encoding="utf-8").split()[0] if recorded.read_text(encoding="utf-8").split() else ""
    if hashlib.sha256(data).hexdigest() != expected:
        errors.append(f"{recorded}:1: {bundle.name} does not match its recorded SHA-256; the vendored SDK changes "
                      f"only through `bash {folder}/build.sh`, which records the new hash")
        return None
    compressed = (folder / f"{FILE}.br").read_bytes()
    try:
        intact = brotli.decompress(compressed) == data
    except brotli.error:
        intact = False
    if not intact:
        errors.append(f"{folder / (FILE + '.br')}:1: is not {FILE} compressed; regenerate with `bash {folder}/build.sh`")
        return None
    try:
        version = json.loads(package.read_text(encoding="utf-8"))["dependencies"]["retell-client-js-sdk"]
        livekit = json.loads(lock.read_text(encoding="utf-8"))["packages"]["node_modules/livekit-client"]["version"]
    except (ValueError, KeyError, TypeError):
        errors.append(f"{package}:1: needs dependencies.retell-client-js-sdk, and its lockfile livekit-client's version")
        return None
    if f"wss://{MEDIA_HOST}".encode() not in data:
        errors.append(f"{bundle}:1: the SDK no longer dials wss://{MEDIA_HOST}; update MEDIA_HOST in builder/sdk.py, "
                      "the CSP docs and the sandbox together")
        return None
    if not Version.is_valid(version):
        errors.append(f"{package}:1: retell-client-js-sdk must be pinned to an exact version, got {version!r}")
        return None
    return Sdk(version, livekit, data, compressed, (folder / LICENSES).read_bytes(), bundle)


def check_pins(sdk: Sdk | None, sources: dict[str, Path], errors: list[str]) -> None:
    """A widget built from source loads the SDK version vendored next to it, if it names one."""
    for path in sources.values():
        if not path.name.endswith((".js", ".mjs")):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _EXACT_PATH.finditer(line):
                if sdk is None:
                    errors.append(f"{path}:{number}: loads {match[0]}, but no SDK is vendored in widget/sdk/")
                elif match[1] != sdk.version:
                    errors.append(f"{path}:{number}: loads {match[0]}, but widget/sdk/ vendors {sdk.version}; "
                                  f"point it at {sdk.path}")


def manifest_entry(sdk: Sdk) -> SdkEntry:
    return SdkEntry(sdk.version, sdk.livekit_client, sdk.path, sdk.alias, f"{FOLDER}/{sdk.version}/{PUBLISHED_LICENSES}")
