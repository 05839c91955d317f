"""The client registry as the builder reads it: ``registry.load``, reparsing only changed clients.

Parsing the TOML of 1,000 clients takes ~50 ms, most of a rebuild after one client's edit. The
file is cut at its ``[[client]]`` lines and each table is parsed on its own, once per distinct
text; ``registry.clients.parse`` then validates the whole list as ``registry.load`` does. Any file this
cut could read differently from a whole-file parse (other tables, multi-line strings), and any
error, goes to ``registry.load`` itself, so the result and the messages are always its own.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import registry
from registry.clients import parse as parse_registry

_HEADER = re.compile(r"^\[\[client\]\]$", re.M)
# Any other line starting with "[" is another table header (or a value line of a multi-line
# array, which is safe but rare): the whole-file parse decides then.
_OTHER_TABLE = re.compile(r"^[ \t]*\[(?!\[client\]\]$)", re.M)


class _Unlocated:
    """``registry.clients.parse`` asks for lines only to report errors, and errors go to ``registry.load``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def line(self, index: int, key: str | None) -> int:
        return 1


def load(path: Path, known_versions: set[str], tables: dict[str, dict]) -> registry.Registry:
    """``registry.load(path, known_versions)``; ``tables`` keeps each client's parsed table by
    its text, between calls. Raises ``registry.RegistryError``."""
    text = path.read_text(encoding="utf-8")
    data = _parse(text, tables)
    if data is None:
        return registry.load(path, known_versions=known_versions)
    try:
        return parse_registry(data, _Unlocated(path), set(known_versions))  # type: ignore[arg-type]
    except registry.RegistryError:
        return registry.load(path, known_versions=known_versions)  # for the messages with lines


def _parse(text: str, tables: dict[str, dict]) -> dict | None:
    """What ``tomllib.loads(text)`` returns, or None when only a whole-file parse can tell."""
    if '"""' in text or "'''" in text or _OTHER_TABLE.search(text):
        return None
    preamble, *chunks = _HEADER.split(text)
    try:
        data = tomllib.loads(preamble)
        if "client" in data:
            return None
        clients = []
        for chunk in chunks:
            table = tables.get(chunk)
            if table is None:
                parsed = tomllib.loads("[[client]]" + chunk)
                if list(parsed) != ["client"] or len(parsed["client"]) != 1:
                    return None
                table = tables[chunk] = parsed["client"][0]
            clients.append(table)
    except tomllib.TOMLDecodeError:
        return None
    if len(tables) > 2 * len(chunks) + 16:  # forget the tables of clients edited away
        live = set(chunks)
        for chunk in [c for c in tables if c not in live]:
            del tables[chunk]
    if clients:
        data["client"] = clients
    return data
