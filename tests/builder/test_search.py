import gzip
import json
from pathlib import Path

import pytest

from builder import search
from builder.build import BuildError, Builder
from builder.config import load_config
from tests.builder.conftest import DOCS

# Past the old index's 600 characters of each page: the whole body is indexed now.
LONG = "Filler sentence about nothing. " * 40 + "\n\nA quokka guards the webhooks.\n"


def _fragments(bundle: Path) -> dict[str, dict]:
    # A fragment is gzip of "pagefind_dcd" and a page's JSON (its URL, text, title, anchors).
    made = [json.loads(gzip.decompress(p.read_bytes()).removeprefix(b"pagefind_dcd"))
            for p in (bundle / "fragment").iterdir()]
    return {f["url"]: f for f in made}


def test_the_index_holds_every_word_of_every_page_and_only_what_search_uses(make_site):
    root = make_site(docs={**DOCS, "guide.md": DOCS["guide.md"] + "\n" + LONG})
    Builder(load_config(root / "site_src", root / "widget", root / "dist", {})).build()
    bundle = root / "dist/docs/pagefind"
    entry = json.loads((bundle / "pagefind-entry.json").read_text())
    assert entry["languages"]["en"]["page_count"] == 3  # two pages and the release
    words = b"".join(gzip.decompress(p.read_bytes()) for p in (bundle / "index").iterdir())
    assert b"quokka" in words and b"filler" in words
    fragments = _fragments(bundle)
    guide = fragments["/guide/"]
    assert guide["meta"]["title"] == "Guide" and "A quokka guards the webhooks." in guide["content"]
    # Headings with ids become the sections a result links to.
    assert [(a["id"], a["text"]) for a in guide["anchors"] if a["id"]] == [("guide", "Guide"), ("install", "Install"), ("verify", "Verify")]
    assert fragments["/changelog/1.0.0/"]["meta"]["title"] == "Widget 1.0.0"
    # Pagefind's own UI bundles and its worker are not published; search.js draws the results.
    assert sorted(p.name for p in bundle.glob("*.js")) == ["pagefind.js"]


def test_the_index_is_made_again_only_when_a_page_changed(make_site, monkeypatch):
    root = make_site()
    builder = Builder(load_config(root / "site_src", root / "widget", root / "dist", {}))
    runs = []
    index = search.index
    monkeypatch.setattr(search, "index", lambda docs: runs.append(len(docs)) or index(docs))
    builder.build()
    builder.rebuild()
    assert runs == [3]
    (root / "site_src/docs/guide.md").write_text(DOCS["guide.md"] + "\nA wombat.\n")
    builder.rebuild()
    assert runs == [3, 3]
    assert "A wombat." in _fragments(root / "dist/docs/pagefind")["/guide/"]["content"]
    # The dev server's rebuilds keep the older index, for the next rebuild to refresh.
    (root / "site_src/docs/guide.md").write_text(DOCS["guide.md"] + "\nA numbat.\n")
    builder.rebuild(search=False)
    assert runs == [3, 3] and builder.search_stale
    assert "A wombat." in _fragments(root / "dist/docs/pagefind")["/guide/"]["content"]
    assert "A numbat." in (root / "dist/docs/guide/index.html").read_text()
    builder.rebuild()
    assert runs == [3, 3, 3] and not builder.search_stale
    assert "A numbat." in _fragments(root / "dist/docs/pagefind")["/guide/"]["content"]
    # `check` writes nothing, so it does not run the indexer.
    assert builder.check() == [] and runs == [3, 3, 3]


def test_index_chunks_hold_chunk_postings_not_pagefinds_20000(monkeypatch):
    # 3 pages of 500 words each: one chunk at Pagefind's default 20,000 postings, several at
    # ours. A pagefind_bin that stops reading PAGEFIND_UNSTABLE_INDEX_CHUNK_SIZE fails here.
    docs = [search.Document(f"p{page}/", f"P{page}", " ".join(f"<p>zq{page}x{i:04d}</p>" for i in range(500)))
            for page in range(3)]

    def chunks() -> int:
        return sum(name.startswith("index/") for name in search.index(docs))

    assert search.CHUNK_POSTINGS == 2000 and chunks() >= 3
    monkeypatch.setattr(search, "CHUNK_POSTINGS", 20000)
    assert chunks() == 1


def test_a_missing_indexer_is_a_build_error_that_says_what_to_install(make_site, monkeypatch):
    root = make_site()
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(root / "no-such-pagefind"))
    builder = Builder(load_config(root / "site_src", root / "widget", root / "dist", {}), cache=False)
    with pytest.raises(BuildError) as failed:
        builder.build()
    [error] = failed.value.errors
    assert error.endswith("site_src/docs: the search index was not made: pagefind's binary was not found: "
                          "install 'pagefind[bin]' (the pagefind package alone is only its Python API)")
    assert not (root / "dist").exists()


def test_the_dev_server_reloads_pages_first_and_refreshes_the_index_after(make_site, tmp_path):
    from builder.livereload import Rebuilder

    root = make_site()
    out = tmp_path / "served"
    rebuilder = Rebuilder(root / "site_src", root / "widget", out, {})
    rebuilder(set())
    assert rebuilder.refresh_search() is False  # the first build made it
    (root / "site_src/docs/guide.md").write_text(DOCS["guide.md"] + "\nA numbat.\n")
    rebuilder({root / "site_src/docs/guide.md"})
    assert "A numbat." in (out / "docs/guide/index.html").read_text()
    assert "A numbat." not in _fragments(out / "docs/pagefind")["/guide/"]["content"]
    assert rebuilder.refresh_search() is True
    assert "A numbat." in _fragments(out / "docs/pagefind")["/guide/"]["content"]
