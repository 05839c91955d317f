"""The build pipeline: gather and validate every source, then render, then write.

``Builder`` keeps what it made between builds (in memory, and in a cache folder beside the output
folder; see ``builder.cache``), so a rebuild converts only changed markdown, renders only pages
whose inputs changed, and writes only files whose bytes changed.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import jinja2

import registry
from builder import cache as build_cache
from builder import cdn, links
from builder import sdk as vendored
from builder.assets import COMPRESSED, Encoded, encode, encode_precompressed, minify
from builder.budgets import check_budgets
from builder.clients import render_clients
from builder.config import BuildConfig
from builder.content import Converted, Page, ChangelogEntry, convert, doc_assets, page_from, release_from, sort_releases
from builder.docs import pygments_css, render_docs
from builder.headers import DOCS_CSP, headers_file
from builder.render import Output, Outputs, digest, environment
from builder.search import documents, render_search
from builder.write import write as write_files
from registry.errors import ErrorList

# Markdown converts in a second process only past this many pages. With cmark-gfm a page takes
# about 0.35 ms, so forking and shipping results back eat much of the gain below a few hundred
# pages: measured on a shared 2-core machine, 1,050 pages took 0.36 s in one process and
# 0.23-0.26 s split with a forked child (which inherits the imported converter, see below).
_PARALLEL_FROM = 400


class BuildError(ErrorList):
    """Every problem found, one ``file:line: message`` per entry, reported together."""

    def __init__(self, errors: list[str], notes: list[str] | None = None) -> None:
        super().__init__(errors)
        self.notes = notes or []  # context printed with the errors (e.g. every size vs budget)


@dataclass(slots=True)
class BuildReport:
    out: Path
    files: dict[str, int] = field(default_factory=dict)  # output path -> bytes
    seconds: float = 0.0
    pages: int = 0
    rendered: int = 0  # outputs rendered this time (the rest were unchanged)
    written: int = 0  # files written this time
    assets: tuple[int, int, int] = (0, 0, 0)  # widget files: raw, gzip, brotli bytes
    budgets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        groups: dict[str, list[int]] = {}
        for path, size in self.files.items():
            groups.setdefault(path.split("/", 1)[0], []).append(size)
        lines = [f"  {name + '/':<10} {len(sizes):>5} files {sum(sizes):>11,} bytes" for name, sizes in sorted(groups.items())]
        raw, gz, br = self.assets
        lines.append(f"  widget files: {raw:,} bytes raw, {gz:,} gzip, {br:,} brotli (one copy per release)")
        lines += [f"  budget {line}" for line in self.budgets]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append(f"  {self.pages} pages; rendered {self.rendered}, wrote {self.written} changed files")
        total = sum(self.files.values())
        lines.append(f"built {len(self.files)} files ({total:,} bytes) into {self.out} in {self.seconds:.2f}s")
        return lines


@dataclass(frozen=True, slots=True)
class _Sources:
    """Everything a build is made from, read and validated."""

    pages: list[Page]
    releases: list[ChangelogEntry]
    tree: cdn.Tree
    sdk: vendored.Sdk | None
    clients: registry.Registry
    templates: Path
    template_files: list[Path]
    fingerprint: str  # the code, the site settings and every template's bytes


@dataclass(slots=True)
class _Rendered:
    out: Outputs
    encoded: dict[str, Encoded]  # release file ("2.1.0/call.js") -> its encodings
    budgets: list[str]  # every size against its budget
    over: list[str]  # budgets exceeded, as errors


class Builder:
    """Builds ``config`` again and again, reusing everything whose inputs did not change.

    ``build()`` is the whole pipeline and saves the cache folder; ``rebuild()`` is the same
    pipeline keeping the cache in memory (for watchers calling it repeatedly); ``check()``
    validates without writing and returns the errors.
    """

    def __init__(self, config: BuildConfig, *, jobs: int | None = None, cache: bool = True) -> None:
        self.config = config
        self.jobs = jobs if jobs is not None else min(2, os.cpu_count() or 1)
        self.cache_path = config.out.parent / f".{config.out.name}.buildcache" if cache else None
        # Links resolve against the site's URLs, so the settings are part of the code's key.
        self.state = build_cache.load_state(self.cache_path, digest(build_cache.code_fingerprint(), config.site))
        self.memo = build_cache.Memo()
        self._dirty = False  # whether the cache needs saving after this build
        self._markdown_dirty = False  # whether converted markdown changed since the last save
        self.search_stale = False  # whether the last build kept an older search index

    def rebuild(self, *, search: bool = True) -> BuildReport:
        """Build again, keeping the cache in memory only (call ``save()`` to persist it). Content
        hashes decide what changed. ``search=False`` keeps the previous search index if there is
        one (``search_stale`` says so) for a later ``rebuild()`` to refresh: the dev server reloads
        pages first (the indexer takes ~1.5 s for 1,000 pages)."""
        return self._run(write=True, save=False, search=search)

    def build(self) -> BuildReport:
        """Build, and save the cache beside the output folder for the next process."""
        return self._run(write=True, save=True)

    def check(self) -> list[str]:
        """Validate everything a build would; write nothing; return the errors."""
        try:
            self._run(write=False, save=False)
        except BuildError as exc:
            return exc.errors
        return []

    def freeze(self) -> list[str]:
        """Archive each line's current release (see ``builder.cdn``); return the versions archived."""
        errors: list[str] = []
        _, releases = self._gather_markdown(errors)
        tree = cdn.gather(self.config.widget, self.config.archive, releases, errors, self._minified)
        if errors:
            raise BuildError(errors)
        return cdn.freeze(tree, self.config.widget, self.config.archive)

    def _run(self, write: bool, save: bool, search: bool = True) -> BuildReport:
        started = time.perf_counter()
        if self.state.out != str(self.config.out.resolve()) or not self.config.out.is_dir():
            self.state.outputs, self.state.groups = {}, {}  # nothing of ours is on disk there; write everything
        errors: list[str] = []
        # Gather: read and validate every source before anything is rendered or written.
        sources = self._gather(errors)
        # Render: every output file, reusing the previous build's where the inputs are the same.
        rendered = self._render(sources, errors, index=write, fresh_index=search)
        # Check: every internal link, anchor and asset resolves.
        pages = self._check_links(rendered.out, errors)
        if errors:
            raise BuildError(errors, [f"budget {line}" for line in rendered.budgets] if rendered.over else [])
        # Write: only files whose bytes changed; a first build goes to a staging folder first.
        written = self._write(rendered.out, save) if write else 0
        encoded = rendered.encoded.values()
        return BuildReport(
            self.config.out, {p: o.size for p, o in sorted(rendered.out.files.items())}, time.perf_counter() - started,
            pages=pages, rendered=rendered.out.rendered, written=written,
            assets=(sum(len(e.data) for e in encoded), sum(len(e.gzip) for e in encoded), sum(len(e.brotli) for e in encoded)),
            budgets=rendered.budgets,
            notes=[f"widget/{line}/ has files but no changelog entry yet, so it is not built" for line in sources.tree.unreleased],
        )

    def _gather(self, errors: list[str]) -> _Sources:
        config = self.config
        pages, releases = self._gather_markdown(errors)
        tree = cdn.gather(config.widget, config.archive, releases, errors, self._minified, self.memo.archived)
        sdk = self._sdk(errors)
        for release in tree.lines.values():
            vendored.check_pins(sdk, cdn.widget_sources(config.widget / release.line), errors)
        clients = self._registry({r.version: r.release for r in releases}, errors)
        templates = config.src / "templates"
        template_files = sorted(p for p in templates.rglob("*") if p.is_file()) if templates.is_dir() else []
        if not template_files:
            errors.append(f"{templates}: the templates folder is missing or empty")
        if errors:
            raise BuildError(errors)
        assert clients is not None
        fingerprint = digest(self.state.code, config.site,
                             [(p.relative_to(templates).as_posix(), p.read_bytes()) for p in template_files])
        return _Sources(pages, releases, tree, sdk, clients, templates, template_files, fingerprint)

    def _render(self, sources: _Sources, errors: list[str], index: bool = True, fresh_index: bool = True) -> _Rendered:
        out = Outputs(self.state.outputs, self.state.groups)
        encoded = {key: self._encode(data) for key, data in sources.tree.files.items()}
        sdk_files = self._sdk_files(sources.sdk)
        budgets, over = check_budgets(self.config, sources.tree, encoded, sdk_files)
        errors += over
        manifest = self._render_cdn(out, sources, encoded, sdk_files)
        self._render_pages(out, sources, manifest)
        # Index: the docs' full-text search (Pagefind), from the pages' content, only when it
        # changed; ``check`` writes nothing, so it skips the binary's run (~0.03-0.15 s of CPU).
        if index:
            self.search_stale = not render_search(out, documents(sources.pages, sources.releases),
                                                  self.config.src / "docs", errors, fresh=fresh_index)
        # The docs get the same cache policy when hosted on Netlify or Cloudflare Pages.
        docs_paths = [p.removeprefix("docs/") for p in out.files if p.startswith("docs/")]
        out.put("docs/_headers", self.config.src / "site.toml", self._headers(docs_paths, DOCS_CSP))
        return _Rendered(out, encoded, budgets, over)

    def _render_cdn(self, out: Outputs, sources: _Sources, encoded: dict[str, Encoded],
                    sdk_files: dict[str, Encoded]) -> registry.Manifest:
        """The CDN tree, Retell's SDK, ``manifest.json`` and ``_headers``; returns the manifest."""
        config, tree, sdk = self.config, sources.tree, sources.sdk
        for path, data in tree.paths().items():
            enc = encoded[f"{_folder_release(tree, path).version}/{path.split('/', 1)[1]}"]
            _put_asset(out, f"cdn/{path}", config.widget, enc)
        for path, enc in sdk_files.items():
            _put_asset(out, f"cdn/{path}", sdk.source if sdk else config.widget, enc)
        key = digest([(f.name, f.release) for f in tree.folders], [(k, e.integrity) for k, e in encoded.items()],
                     config.site.docs_url, [(p, e.integrity) for p, e in sdk_files.items()])
        if self.memo.manifest is None or self.memo.manifest[0] != key:
            made = cdn.manifest(tree, encoded, config.site.docs_url, sdk, sdk_files)
            self.memo.manifest = (key, made, json.dumps(made.to_json(), indent=2).encode())
        _, manifest, manifest_bytes = self.memo.manifest
        out.put("cdn/manifest.json", config.src / "changelog", manifest_bytes, key)
        out.put("cdn/_headers", config.src / "site.toml", self._headers([p.removeprefix("cdn/") for p in out.files]))
        return manifest

    def _render_pages(self, out: Outputs, sources: _Sources, manifest: registry.Manifest) -> None:
        """The docs site and the client demo pages."""
        config, templates = self.config, sources.templates
        for path in sources.template_files:
            if path.parent.name == "static":
                out.put(f"docs/assets/{path.name}", path, path.read_bytes())
        out.emit("docs/assets/pygments.css", sources.fingerprint, templates, pygments_css)
        try:
            # The fingerprint covers every template's bytes, so an environment (and the templates
            # it compiled, ~20 ms) is reused until one of them changes.
            if self.memo.env is None or self.memo.env[0] != sources.fingerprint:
                self.memo.env = (sources.fingerprint, environment(templates, config.site))
            env = self.memo.env[1]
            render_docs(env, out, sources.pages, sources.releases, sources.fingerprint, templates,
                        doc_assets(config.src / "docs"), self.memo.docs)
            render_clients(env, out, sources.clients, manifest, sources.fingerprint, templates, config.registry_path,
                           self.state.registry.client_keys if self.state.registry else None)
        except jinja2.TemplateError as exc:
            raise BuildError([f"{_template_location(exc, templates)}: template error: {exc}"]) from None

    def _check_links(self, out: Outputs, errors: list[str]) -> int:
        """Every internal link, anchor and asset of every page resolves; returns the page count."""
        scans = {}
        for path, output in out.files.items():
            if path.endswith(".html"):
                found = self.state.scans.get(output.digest)
                if found is None:
                    found = self.state.scans[output.digest] = links.scan(output.data or (self.config.out / path).read_bytes())
                    self._dirty = True
                scans[path] = found
        links.check(out.files, scans, self.config.site, errors, out.shared, self.memo.links)
        return len(scans)

    def _write(self, out: Outputs, save: bool) -> int:
        state, target = self.state, str(self.config.out.resolve())
        changes = set(state.outputs) != set(out.files) or any(
            state.outputs[p].digest != o.digest for p, o in out.files.items())
        if changes and not save:
            # The output is about to differ from what the saved cache describes; a stale cache
            # would make the next process skip files it must write.
            build_cache.forget(self.cache_path)
        written = write_files(self.config.out, out.files, state.outputs)
        if written or out.rendered or set(out.files) != set(state.outputs) or state.out != target:
            self._dirty = True
        state.out = target
        state.outputs = {p: o if o.data is None else Output(o.key, o.source, None, o.digest, o.size)
                         for p, o in out.files.items()}
        state.groups = out.groups
        live = {o.digest for o in out.files.values()}
        state.scans = {d: s for d, s in state.scans.items() if d in live}
        # An unchanged rebuild leaves the cache file as it is: saving it is most of its cost.
        if save and (self._dirty or not build_cache.saved(self.cache_path)):
            self.save()
        return written

    def _gather_markdown(self, errors: list[str]) -> tuple[list[Page], list[ChangelogEntry]]:
        docs, changelog = self.config.src / "docs", self.config.src / "changelog"
        digests: dict[str, str] = {}  # path -> digest of its text
        pending: dict[str, str] = {}
        stats: dict[str, tuple[int, int, str]] = {}
        for folder in (docs, changelog):
            for entry in sorted(_markdown_files(folder), key=lambda e: e.name):
                # A file whose size and modification time are unchanged is not read again.
                info = entry.stat()
                known = self.state.stats.get(entry.path)
                if known is not None and known[0] == info.st_mtime_ns and known[1] == info.st_size:
                    key = known[2]
                else:
                    text = Path(entry.path).read_text(encoding="utf-8")
                    key = digest(text)
                    if key not in self.state.converted:
                        pending[key] = text
                digests[entry.path] = key
                stats[entry.path] = (info.st_mtime_ns, info.st_size, key)
        self._dirty = self._dirty or stats != self.state.stats
        self.state.stats = stats
        for path, key in digests.items():
            if key not in self.state.converted and key not in pending:
                pending[key] = Path(path).read_text(encoding="utf-8")  # known by its stat, not converted yet
        self.state.converted.update(_convert_all(pending, self.jobs))
        self._markdown_dirty = self._markdown_dirty or bool(pending)
        # Page and ChangelogEntry objects are kept too: rebuilding 1,000 of them is most of an idle rebuild.
        made = self.memo.sources
        fresh: dict[tuple[str, str], Page | ChangelogEntry | None] = {}
        pages: list[Page] = []
        releases: list[ChangelogEntry] = []
        docs_prefix = str(docs) + os.sep
        for path, key in digests.items():
            is_page = path.startswith(docs_prefix)
            if (path, key) in made and made[(path, key)] is not None:
                item = made[(path, key)]
            else:
                converted = self.state.converted[key]
                item = (page_from(Path(path), key, converted, errors) if is_page
                        else release_from(Path(path), converted, self.config.site.docs_url, errors))
            fresh[(path, key)] = item
            if item is not None:
                (pages if is_page else releases).append(item)  # type: ignore[arg-type]
        self.memo.sources = fresh
        if not any(p.startswith(docs_prefix) for p in digests):
            errors.append(f"{docs}: no docs pages (*.md) found")
        used = set(digests.values())
        if len(self.state.converted) > len(used):
            self.state.converted = {d: c for d, c in self.state.converted.items() if d in used}
        return pages, sort_releases(releases, changelog, errors)

    def _registry(self, releases: dict[str, registry.Release], errors: list[str]) -> registry.Registry | None:
        path = self.config.registry_path
        try:
            key = digest(path.read_bytes(), sorted(releases.items()))
        except FileNotFoundError:
            errors.append(f"{path}:1: the client registry is missing")
            return None
        if self.state.registry is not None and self.state.registry.key == key:
            return self.state.registry.registry
        try:
            clients = registry.load(path, releases, cache=self.memo.tables)
        except registry.RegistryError as exc:
            errors += exc.errors
            return None
        self.state.registry = build_cache.RegistryRead(key, clients, {c.id: digest(c) for c in clients.clients})
        self._dirty = True
        return clients

    def _sdk(self, errors: list[str]) -> vendored.Sdk | None:
        folder = self.config.widget / vendored.FOLDER
        if not folder.is_dir():
            if not self.config.site.sdk_url:
                errors.append(f"{folder}: missing, and site.toml sets no sdk_url: the widget's default SDK URL "
                              f"(cdn/{vendored.FOLDER}/...) would not exist; vendor the SDK (widget/sdk/build.sh) or set sdk_url")
            return None
        # Reading and checking the 0.6 MB bundle costs ~5 ms: only again when a file changed.
        with os.scandir(folder) as entries:
            seen = tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries if e.is_file()))
        known = self.memo.sdk
        if known is not None and known[0] == seen:
            return known[1]
        problems: list[str] = []
        found = vendored.gather(folder, problems)
        errors += problems
        if found is not None:
            self.memo.sdk = (seen, found)
        return found

    def _sdk_files(self, sdk: vendored.Sdk | None) -> dict[str, Encoded]:
        if sdk is None:
            return {}
        files = {}
        for path, data in sdk.files().items():
            key = digest(data)
            if key not in self.state.encoded:
                # The bundle comes with its brotli copy: quality 11 on it would take a second.
                self.state.encoded[key] = encode_precompressed(data, sdk.brotli) if data is sdk.data else encode(data)
                self._dirty = True
            files[path] = self.state.encoded[key]
        return files

    def _headers(self, paths: list[str], csp: str | None = None) -> bytes:
        # A rebuild rarely adds or removes a file, and the rules for 2,000 paths take ~10 ms.
        made = self.memo.headers
        key = (*paths, csp or "")
        if key not in made:
            if len(made) > 4:
                made.clear()
            made[key] = headers_file(paths, csp).encode()
        return made[key]

    def _minified(self, name: str, path: Path) -> str:
        source = path.read_bytes()
        key = digest(name, source)
        if key not in self.state.minified:
            self.state.minified[key] = minify(name, source.decode("utf-8"))
            self._dirty = True
        return self.state.minified[key]

    def _encode(self, data: bytes) -> Encoded:
        key = digest(data)
        if key not in self.state.encoded:
            self.state.encoded[key] = encode(data)
            self._dirty = True
        return self.state.encoded[key]

    def save(self) -> None:
        """Write the cache folder, so that a new ``Builder`` (or process) starts warm."""
        if self.cache_path is None:
            return
        build_cache.save_state(self.cache_path, self.state, self._markdown_dirty)
        self._markdown_dirty = self._dirty = False


def _put_asset(out: Outputs, path: str, source: Path, enc: Encoded) -> None:
    # The SRI hash already names these bytes; no need to hash them again.
    out.put(path, source, enc.data, enc.integrity)
    if path.endswith(COMPRESSED):
        out.put(f"{path}.gz", source, enc.gzip, "gz" + enc.integrity)
        out.put(f"{path}.br", source, enc.brotli, "br" + enc.integrity)


def _markdown_files(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if e.name.endswith(".md") and e.is_file()]
    except FileNotFoundError:
        return []


def _convert_all(texts: dict[str, str], jobs: int) -> dict[str, Converted]:
    if jobs < 2 or len(texts) < _PARALLEL_FROM:
        return {key: convert(text) for key, text in texts.items()}
    keys = list(texts)
    # The first conversion imports cmark-gfm, Pygments and the lexers it needs (~0.1 s); doing it
    # before forking spares each worker that import. Then the workers take one share each and
    # this process converts the last one itself rather than waiting idle.
    done = {keys[0]: convert(texts[keys[0]])}
    shares = [keys[1 + i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(jobs - 1, mp_context=get_context("fork")) as pool:
        futures = [(share, pool.submit(_convert_share, [texts[k] for k in share])) for share in shares[1:]]
        done |= {key: convert(texts[key]) for key in shares[0]}
        for share, future in futures:
            done |= dict(zip(share, future.result()))
    return {key: done[key] for key in keys}


def _convert_share(texts: list[str]) -> list[Converted]:
    return [convert(text) for text in texts]


def _template_location(exc: jinja2.TemplateError, templates: Path) -> str:
    if getattr(exc, "filename", None):
        return f"{exc.filename}:{getattr(exc, 'lineno', None) or 1}"  # type: ignore[attr-defined]
    # Errors while rendering carry the template's file and line in Jinja's rewritten traceback.
    where = f"{templates}:1"
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).is_relative_to(templates.resolve()) or \
                Path(tb.tb_frame.f_code.co_filename).is_relative_to(templates):
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _folder_release(tree: cdn.Tree, path: str) -> ChangelogEntry:
    name = path.split("/", 1)[0]
    return next(f.release for f in tree.folders if f.name == name)
