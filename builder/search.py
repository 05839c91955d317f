"""The docs' full-text search index, made by Pagefind.

Pagefind's indexer is a Rust binary shipped in the ``pagefind_bin`` wheel (``pagefind[bin]``), so
the build stays Node-free. It splits the index into chunks and each result's text into its own
fragment, so a query downloads the chunks holding its words and the fragments of the results it
shows, not the whole index (``bench/search.py`` measures it).

Pagefind closes a chunk once it holds 20,000 postings (pages plus word positions), so on a
1,000-page site a rare word shares a ~20 KB chunk with common neighbours in alphabetical order
and a three-word query fetched ~70 KB of chunks. ``CHUNK_POSTINGS`` sets a tenth of that through
the indexer's only knob, the undocumented ``PAGEFIND_UNSTABLE_INDEX_CHUNK_SIZE`` (read by
pagefind_bin 1.5; tests/builder/test_search.py fails if a version stops reading it).

The index is made from the pages' content only (their markdown's HTML, the same that fills each
page's ``<main>``), written as minimal pages to a temporary folder: the navigation, ~60 KB of
every page on a 1,000-page site, is neither written nor read again. It is the build's slowest
small step (tens of milliseconds plus the binary's start), so it runs only when a page's content
changed: otherwise the previous build's index files are kept as a group. The dev server's
rebuilds keep the older index while the pages reload, then refresh it (``Rebuilder.refresh_search``).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from builder.content import ChangelogEntry, Page
from builder.render import Outputs, digest

FOLDER = "docs/pagefind"  # where the bundle is published; search.js imports pagefind.js from it
# What the docs' search box uses: the library, its WebAssembly, the entry, the index's metadata
# and chunks. Pagefind's own UI bundles and its web worker (~0.5 MB) are left out: search.js
# draws the results itself and runs Pagefind on the page's thread (``noWorker``).
_KEEP = re.compile(r"^(?:pagefind\.js|pagefind-entry\.json|pagefind\.[\w-]+\.pf_meta|wasm\.[\w-]+\.pagefind"
                   r"|(?:index|fragment|filter)/[\w.-]+)$")

# The pages and the bundle pass through memory-backed files where there are some: 1,050 pages in
# and 1,083 files out took 3.5-4.0 s through /tmp on a busy disk here, 1.3-1.5 s through /dev/shm.
_SCRATCH = "/dev/shm"

# Postings per index chunk (Pagefind's default: 20,000). On bench.search's 1,000-page docs-derived
# site, going below ~3,000 stops shrinking the worst query (47.5 KB at 3,000, 44.6 at 2,000, 43.7
# at 1,000) while the metadata every search loads first keeps growing (10.6, 11.6, 13.8 KB).
CHUNK_POSTINGS = 2000


@dataclass(frozen=True, slots=True)
class Document:
    """One search result's source: its URL below the docs root ("proxy/"), title and HTML."""

    url: str
    title: str
    html: str


def documents(pages: Iterable[Page], releases: Iterable[ChangelogEntry]) -> list[Document]:
    docs = [Document(f"{p.slug}/", p.title, p.html) for p in pages]
    docs += [Document(f"changelog/{r.version}/", f"Widget {r.version}", f"<h1>Widget {r.version}</h1>{r.html}")
             for r in releases]
    return docs


def _key(docs: list[Document]) -> str:
    """What the bundle is made from. Given as bytes, which ``digest`` hashes as they are: the
    ``repr`` of every page's HTML cost 26 ms of each rebuild of the 1,000-page site."""
    return digest(_version(), CHUNK_POSTINGS, *(part.encode("utf-8", "surrogatepass")
                                                for doc in docs for part in (doc.url, doc.title, doc.html)))


def render_search(out: Outputs, docs: list[Document], source: Path, errors: list[str], *, fresh: bool = True) -> bool:
    """Put the Pagefind bundle for ``docs`` under ``docs/pagefind/``, reusing the last one when
    no document changed. With ``fresh=False`` an older bundle is kept too, if there is one (the
    dev server's rebuilds: a page reloads without waiting for the indexer); returns whether the
    bundle is up to date."""
    key = _key(docs)
    if out.reuse("search", key):
        return True
    if not fresh and out.reuse("search", None):
        return False
    try:
        files = index(docs)
    except SearchIndexError as exc:
        errors.append(f"{source}: the search index was not made: {exc}")
        return False
    paths = []
    for name, data in sorted(files.items()):
        out.put(f"{FOLDER}/{name}", source, data)
        paths.append(f"{FOLDER}/{name}")
    out.rendered += 1
    out.groups["search"] = (key, tuple(paths))
    return True


class SearchIndexError(Exception):
    pass


def index(docs: list[Document]) -> dict[str, bytes]:
    """Run Pagefind over ``docs``; return the bundle's files we publish, by path in the bundle."""
    binary = _binary()
    with tempfile.TemporaryDirectory(prefix="pagefind-", dir=_SCRATCH if os.access(_SCRATCH, os.W_OK) else None) as tmp:
        site, bundle = Path(tmp, "site"), Path(tmp, "bundle")
        for doc in docs:
            folder = site / doc.url
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "index.html").write_text(_page(doc), encoding="utf-8")
        env = {**os.environ, "PAGEFIND_UNSTABLE_INDEX_CHUNK_SIZE": str(CHUNK_POSTINGS)}
        try:
            done = subprocess.run([binary, "--site", str(site), "--output-path", str(bundle), "--silent"],
                                  capture_output=True, text=True, timeout=300, check=False, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SearchIndexError(f"could not run {binary}: {exc}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SearchIndexError(f"pagefind exited with {done.returncode}: {' / '.join(detail)}")
        files = {}
        for folder, _, names in os.walk(bundle):
            for name in names:
                path = Path(folder, name)
                rel = path.relative_to(bundle).as_posix()
                if _KEEP.match(rel):
                    files[rel] = path.read_bytes()
    if "pagefind-entry.json" not in files:
        raise SearchIndexError("pagefind wrote no pagefind-entry.json")
    return files


def _page(doc: Document) -> str:
    # The language is set so Pagefind stems English words ("webhooks" finds "webhook"); a result's
    # title is the page's title, as in the navigation (Pagefind would take the first heading).
    title = html.escape(doc.title)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>'
            f'<main data-pagefind-body data-pagefind-meta="title:{title}">{doc.html}</main></body></html>')


def _binary() -> str:
    # The pagefind package's own lookup (PAGEFIND_BINARY_PATH, then the pagefind_bin wheels).
    try:
        from pagefind.service import get_executable
    except ImportError:
        raise SearchIndexError("the pagefind package is not installed (pip install 'pagefind[bin]')") from None
    try:
        found = get_executable()
    except FileNotFoundError:
        found = None
    if found is None or not found.is_file():
        raise SearchIndexError("pagefind's binary was not found: install 'pagefind[bin]' "
                               "(the pagefind package alone is only its Python API)")
    return str(found)


def _version() -> str:
    try:
        return metadata.version("pagefind_bin")
    except metadata.PackageNotFoundError:
        return ""
