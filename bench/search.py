"""Docs search benchmark: the bytes one query downloads, and what the index costs the build.

``python -m bench.search`` generates the 1,000-page benchmark site (bench/gen_site.py), builds it
(timing the Pagefind step: wall clock and the indexer's CPU), then opens a docs page in Chromium
and types each query into the search box. Every file is served from the build folder through
Playwright's request routing (no server, no network), which also counts each file's bytes: the
library (``pagefind.js``, its WebAssembly, fetched once when the box is first focused, then
cached) is reported apart from the index files a query fetches (the entry, the metadata, the index
chunks holding its words, the fragments of the results shown), which the 50 KB target is about.

It runs twice, on two corpora of the same page shape (bench/gen_site.py). The 50 KB target is
judged on the ``docs`` corpus, whose pages take their prose from the repository's own docs pages,
so words are as common or as rare, and as clustered on their topic's pages, as in real
documentation. The ``uniform`` corpus (the one bench.builder builds) is measured as the stated
worst case, for the reason ``UNIFORM_NOTE`` gives: every word is on every page.

A query loads at least the index chunk of each of its words. Pagefind closes a chunk once it
holds 20,000 postings (pages plus word positions), a constant with no documented option; the
build sets ``builder.search.CHUNK_POSTINGS`` (2,000) through the indexer's undocumented
``PAGEFIND_UNSTABLE_INDEX_CHUNK_SIZE``, so a rare word no longer brings ~20 KB of its common
alphabetical neighbours. A word's own postings are never split: a word on every page is a chunk
of its own whatever the limit, so the bytes of a query still follow how common its words are.
"""

from __future__ import annotations

import argparse
import mimetypes
import resource
import tempfile
import time
from pathlib import Path

from bench import common
from bench.gen_site import SMOKE, SiteSize, generate

UNIFORM_NOTE = ("every word is drawn from one 65-word list, so each is on every page about 6 times and is a "
                "~10 KB chunk of its own (two or three share a ~20 KB chunk at Pagefind's default): an n-word "
                "query fetches n such chunks, a word distribution no real docs site has.")

TARGET_BYTES = 50 * 1024
TARGET = "<= 50 KB of index files per query (1,000 pages)"
QUERIES = ("turnstile", "widget", "proxy token", "rollback cache header", "page 500")
_LIBRARY = ("pagefind.js", "wasm.en.pagefind", "wasm.unknown.pagefind")


def _build(root: Path, out: Path) -> dict:
    from builder import search
    from builder.build import Builder
    from builder.config import load_config

    timings: list[tuple[float, float]] = []
    index_sizes: list[int] = []
    index = search.index

    def timed(docs: list) -> dict[str, bytes]:
        index_sizes.extend(len(d.html) for d in docs)
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        made = index(docs)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timings.append((time.perf_counter() - started, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
        return made

    search.index = timed
    try:
        report = Builder(load_config(root / "site_src", root / "widget", out, {})).build()
    finally:
        search.index = index
    bundle = {p: s for p, s in report.files.items() if p.startswith("docs/pagefind/")}
    return {"pages": report.pages, "documents": len(index_sizes), "chunk_postings": search.CHUNK_POSTINGS,
            "build_seconds": round(report.seconds, 2),
            "index_seconds": round(timings[0][0], 3), "index_cpu_seconds": round(timings[0][1], 3),
            "bundle_files": len(bundle), "bundle_bytes": sum(bundle.values())}


def _queries(docs: Path, queries: tuple[str, ...]) -> list[dict]:
    from playwright.sync_api import Route, sync_playwright

    from harness.browser import chromium_executable

    fetched: list[tuple[str, int]] = []

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix("http://docs.test/").split("#")[0].split("?")[0]
        file = docs / path / "index.html" if path.endswith("/") or not path else docs / path
        if not file.is_file():
            route.fulfill(status=404, body="")
            return
        body = file.read_bytes()
        fetched.append((path, len(body)))
        route.fulfill(status=200, body=body, content_type=mimetypes.guess_type(file.name)[0] or "application/octet-stream")

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True)
        try:
            for query in queries:
                page = browser.new_context().new_page()  # an empty cache for every query
                page.route("http://docs.test/**", serve)
                page.goto("http://docs.test/page-0001/")
                box = page.get_by_role("searchbox", name="Search the docs")
                fetched.clear()
                box.focus()
                page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.endsWith('.pf_meta'))")
                page.wait_for_load_state("networkidle")
                library = sum(size for path, size in fetched if path.rsplit("/", 1)[-1] in _LIBRARY)
                at_focus = sum(size for path, size in fetched if "pagefind/" in path) - library
                fetched.clear()
                box.fill(query)
                page.locator(".search .results li").first.wait_for()
                page.wait_for_load_state("networkidle")
                found = page.locator(".search .results a").count()
                per_query = sum(size for path, size in fetched if "pagefind/" in path)
                chunks = [size for path, size in fetched if "pagefind/index/" in path]
                fragments = [size for path, size in fetched if "pagefind/fragment/" in path]
                rows.append({"query": query, "results_shown": found, "library_bytes": library,
                             "index_bytes_at_focus": at_focus, "index_bytes_for_query": per_query,
                             "index_bytes_total": at_focus + per_query, "chunks": len(chunks),
                             "chunk_bytes": sum(chunks), "fragments": len(fragments), "fragment_bytes": sum(fragments)})
                page.context.close()
        finally:
            browser.close()
    return rows


CORPORA = ("docs", "uniform")  # the first is the one the target is judged on


def measure(size: SiteSize, corpus: str) -> dict:
    """Build the benchmark site with ``corpus``'s prose and run every query on it."""
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        root = generate(Path(tmp) / "site", size, corpus=corpus)
        build = _build(root, Path(tmp) / "dist")
        rows = _queries(Path(tmp) / "dist" / "docs", QUERIES)
    worst = max(r["index_bytes_total"] for r in rows)
    return {"build": build, "queries": rows, "worst_index_bytes": worst, "meets_target": worst <= TARGET_BYTES}


def run(size: SiteSize, smoke: bool) -> dict:
    corpora = {corpus: measure(size, corpus) for corpus in CORPORA}
    judged = corpora[CORPORA[0]]
    return {"target": TARGET, "judged_on": CORPORA[0], "worst_index_bytes": judged["worst_index_bytes"],
            "meets_target": judged["meets_target"], "uniform_is_worst_case_because": UNIFORM_NOTE, "corpora": corpora}


def _print(corpus: str, data: dict) -> None:
    print(common.table(["query", "shown", "library B", "at focus B", "query B (chunks, fragments)", "index B total"],
                       [[r["query"], r["results_shown"], r["library_bytes"], r["index_bytes_at_focus"],
                         f"{r['index_bytes_for_query']:,} ({r['chunks']}: {r['chunk_bytes']:,}, "
                         f"{r['fragments']}: {r['fragment_bytes']:,})", r["index_bytes_total"]] for r in data["queries"]]))
    build = data["build"]
    print(f"{build['documents']} documents indexed ({build['pages']} pages built, chunks of {build['chunk_postings']:,} postings); index step {build['index_seconds']} s wall, {build['index_cpu_seconds']} s CPU; "
          f"bundle {build['bundle_files']} files, {build['bundle_bytes']:,} bytes; build {build['build_seconds']} s")
    print(f"worst query ({corpus} corpus): {data['worst_index_bytes']:,} index bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a 12-page site per corpus, to check the benchmark runs")
    parser.add_argument("--results", type=Path, help="folder for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    data = run(SMOKE if args.smoke else SiteSize(), args.smoke)
    for corpus, measured in data["corpora"].items():
        judged = "the target is judged here" if corpus == data["judged_on"] else "the worst case, not judged"
        print(f"\n{corpus} corpus ({judged})")
        _print(corpus, measured)
    print(f"\nThe uniform corpus is pathological: {UNIFORM_NOTE}")
    print(f"{TARGET}, on the {data['judged_on']} corpus: {'met' if data['meets_target'] else 'MISSED'} "
          f"(worst {data['worst_index_bytes']:,} bytes)")
    print(f"wrote {common.write_results('search', data, args.smoke, args.results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
