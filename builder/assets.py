"""Widget files as the CDN serves them: minified, hashed for SRI, and pre-compressed."""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass

# The minifier is tdewolff/minify (Go, via its Python binding): it parses current JavaScript
# (classes, private #fields, template literals, dynamic import, ?? and ?.) and CSS; it is
# imported inside the function that needs it so that `check` on a tree without widgets stays light.
_MEDIA_TYPES = {".js": "application/javascript", ".mjs": "application/javascript", ".css": "text/css"}
# Files the build compresses beside themselves as .gz and .br.
COMPRESSED = (".js", ".mjs", ".css", ".json", ".svg")


@dataclass(frozen=True, slots=True)
class Encoded:
    """One file's bytes with everything the manifest and `_headers` need to know about them."""

    data: bytes
    gzip: bytes
    brotli: bytes
    integrity: str


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def minify(name: str, text: str) -> str:
    """Minify a JS or CSS file; other files pass through unchanged. Raises ``ValueError``."""
    suffix = name[name.rfind("."):]
    if name.endswith(".d.ts") or suffix not in _MEDIA_TYPES:
        return text
    import minify as tdewolff

    try:
        return tdewolff.string(_MEDIA_TYPES[suffix], text)
    except Exception as exc:  # the binding raises a bare Exception carrying the parser's message
        raise ValueError(str(exc)) from None


def encode(data: bytes) -> Encoded:
    import brotli

    # mtime=0 keeps the .gz bytes identical from one build to the next.
    return Encoded(data, gzip.compress(data, compresslevel=9, mtime=0), brotli.compress(data, quality=11), sri(data))


def encode_precompressed(data: bytes, brotli_data: bytes) -> Encoded:
    """As ``encode``, with a brotli copy made ahead (and checked) by whoever supplies ``data``."""
    return Encoded(data, gzip.compress(data, compresslevel=9, mtime=0), brotli_data, sri(data))
