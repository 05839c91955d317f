"""Parsing a registry file one ``[[client]]`` table at a time, keeping each table between reads.

Parsing the TOML of 1,000 clients takes ~50 ms, most of a rebuild after one client's edit. The
file is cut at its ``[[client]]`` lines and each table is parsed on its own, once per distinct
text. Any file this cut could read differently from a whole-file parse (other tables, multi-line
strings), and any TOML error, is parsed whole, so the result and the messages are tomllib's own.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

_HEADER = re.compile(r"^\[\[client\]\]$", re.M)
# Any other line starting with "[" is another table header (or a value line of a multi-line
# array, which is safe but rare): the whole-file parse decides then.
_OTHER_TABLE = re.compile(r"^[ \t]*\[(?!\[client\]\]$)", re.M)


@dataclass(slots=True)
class TableCache:
    """Each client's parsed table, by the text of its table."""

    tables: dict[str, dict] = field(default_factory=dict)


def parse_tables(text: str, cache: TableCache) -> dict:
    """What ``tomllib.loads(text)`` returns (and raises)."""
    data = _cut(text, cache)
    return data if data is not None else tomllib.loads(text)


def _cut(text: str, cache: TableCache) -> dict | None:
    if '"""' in text or "'''" in text or _OTHER_TABLE.search(text):
        return None
    preamble, *chunks = _HEADER.split(text)
    tables = cache.tables
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
