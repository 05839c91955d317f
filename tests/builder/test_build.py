import base64
import gzip
import hashlib
import json
import re
from pathlib import Path

import brotli
import pytest

import registry
from builder.__main__ import main
from builder.build import Builder, BuildError
from builder.config import load_config
from tests.builder.conftest import V1_JS, V2_JS, release


def run(verb: str, root: Path, *extra: str) -> int:
    return main([verb, "--src", str(root / "site_src"), "--widget", str(root / "widget"),
                 "--out", str(root / "dist"), *extra])


def config(root: Path, **overrides: str):
    return load_config(root / "site_src", root / "widget", root / "dist", overrides)


def test_builds_the_cdn_tree_demo_pages_and_docs(make_site, capsys):
    root = make_site()
    assert run("build", root) == 0
    dist = root / "dist"
    served = (dist / "cdn/v1.0.0/retell-widget.js").read_bytes()
    assert len(served) < len(V1_JS) and b"hello from v1" in served and b"/* Widget" not in served  # minified
    for folder in ("v1", "latest"):
        # Aliases are real copies of the release's bytes, never redirects.
        assert (dist / "cdn" / folder / "retell-widget.js").read_bytes() == served
    assert gzip.decompress((dist / "cdn/v1/retell-widget.js.gz").read_bytes()) == served
    assert brotli.decompress((dist / "cdn/v1/retell-widget.css.br").read_bytes()) == (dist / "cdn/v1/retell-widget.css").read_bytes()
    for page in ("clients/index.html", "clients/client-a/index.html", "clients/client-b/index.html",
                 "docs/index.html", "docs/getting-started/index.html", "docs/guide/index.html", "docs/404.html",
                 "docs/changelog/index.html", "docs/changelog/1.0.0/index.html", "docs/changelog/feed.xml",
                 "docs/pagefind/pagefind-entry.json", "docs/pagefind/pagefind.js", "docs/sitemap.xml", "docs/assets/search.js", "docs/assets/pygments.css",
                 "cdn/_headers", "cdn/manifest.json"):
        assert (dist / page).is_file(), page
    out = capsys.readouterr().out
    assert re.search(r"built \d+ files \([\d,]+ bytes\) into .*dist in [\d.]+s", out)
    assert re.search(r"widget files: [\d,]+ bytes raw, [\d,]+ gzip, [\d,]+ brotli", out)
    assert re.search(r"\d+ pages; rendered \d+, wrote \d+ changed files", out)


def test_manifest_lists_every_file_with_sizes_and_sri(make_site):
    root = make_site()
    assert run("build", root, "--set", "docs_url=http://docs.test:9") == 0
    manifest = json.loads((root / "dist/cdn/manifest.json").read_text())
    assert manifest["latest"] == "1.0.0" and manifest["lines"] == {"v1": "1.0.0"}
    assert manifest["changelog"] == "http://docs.test:9/changelog/"
    assert manifest["releases"]["1.0.0"] == {"line": "v1", "date": "2026-11-26", "stable": True,
                                             "changelog": "http://docs.test:9/changelog/1.0.0/",
                                             "features": [], "languages": ["en"]}
    # The type the readers use reads it back to the same JSON, key order included.
    text = (root / "dist/cdn/manifest.json").read_text()
    assert json.dumps(registry.Manifest.from_json(manifest).to_json(), indent=2) == text
    widget_files = {f"{folder}/retell-widget.{ext}" for folder in ("v1", "v1.0.0", "latest") for ext in ("js", "css")}
    assert set(manifest["files"]) == widget_files | {"sdk/2.0.8/retell-web-client.js", "sdk/retell-web-client.js"}
    for path, entry in manifest["files"].items():
        data = (root / "dist/cdn" / path).read_bytes()
        assert entry["version"] == ("2.0.8" if path.startswith("sdk/") else "1.0.0")
        assert entry["bytes"] == len(data)
        assert entry["gzip"] == len((root / "dist/cdn" / f"{path}.gz").read_bytes())
        assert entry["brotli"] == len((root / "dist/cdn" / f"{path}.br").read_bytes())
        assert entry["integrity"] == "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert manifest["files"]["v1/retell-widget.js"]["module"] is False


def test_a_second_major_line_and_latest(make_site):
    root = make_site(widget={"v1/retell-widget.js": V1_JS, "v2/retell-widget.js": V2_JS},
                     releases={"1.0.0.md": release("1.0.0"), "2.0.0.md": release("2.0.0", "2026-12-01")})
    assert run("build", root) == 0
    manifest = json.loads((root / "dist/cdn/manifest.json").read_text())
    assert manifest["latest"] == "2.0.0" and manifest["lines"] == {"v1": "1.0.0", "v2": "2.0.0"}
    assert manifest["files"]["v2/retell-widget.js"]["module"] is True
    # v2 has no stylesheet, so neither does any folder that serves it.
    assert not (root / "dist/cdn/latest/retell-widget.css").exists()
    assert (root / "dist/cdn/latest/retell-widget.js").read_bytes() == (root / "dist/cdn/v2.0.0/retell-widget.js").read_bytes()
    assert (root / "dist/cdn/v1/retell-widget.js").read_bytes() == (root / "dist/cdn/v1.0.0/retell-widget.js").read_bytes()
    feed = (root / "dist/docs/changelog/feed.xml").read_text()
    assert "<title>2.0.0 (v2 line)</title>" in feed and "<title>1.0.0 (v1 line)</title>" in feed


def test_a_new_line_folder_without_files_or_release_is_ignored(make_site, capsys):
    root = make_site()
    (root / "widget/v2").mkdir()
    assert run("build", root) == 0
    (root / "widget/v2/retell-widget.js").write_text(V2_JS)
    assert run("build", root) == 0
    assert "widget/v2/ has files but no changelog entry yet" in capsys.readouterr().out
    assert not (root / "dist/cdn/v2").exists()


def test_a_release_without_widget_sources_fails(make_site, capsys):
    root = make_site(releases={"1.0.0.md": release("1.0.0"), "2.0.0.md": release("2.0.0")})
    (root / "widget/v2").mkdir()
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert re.search(r"2\.0\.0\.md:1: release 2\.0\.0 needs widget sources in .*widget/v2/", err)


def test_budgets_print_every_size_and_fail_when_exceeded(make_site, capsys):
    root = make_site(site_toml_extra='\n[budgets]\n"v1/retell-widget.js" = 5000\n"v1/retell-widget.css" = 10\n')
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert re.search(r"budget v1/retell-widget\.js: [\d,]+ / 5,000 gzip bytes ok", err)
    assert re.search(r"budget v1/retell-widget\.css: [\d,]+ / 10 gzip bytes OVER", err)
    lines = (root / "site_src/site.toml").read_text().splitlines()
    line = next(i + 1 for i, text in enumerate(lines) if text.startswith('"v1/retell-widget.css"'))
    assert re.search(rf"site\.toml:{line}: v1/retell-widget\.css is [\d,]+ gzip bytes, over its budget of 10", err)
    assert not (root / "dist").exists()


def test_a_budget_for_a_file_that_is_not_built_is_an_error(make_site, capsys):
    root = make_site(site_toml_extra='\n[budgets]\n"v3/retell-widget.js" = 5000\n')
    assert run("build", root) == 1
    assert "budget for v3/retell-widget.js, which the build does not produce" in capsys.readouterr().err


def test_reports_every_error_together_and_keeps_the_last_good_build(make_site, capsys):
    root = make_site()
    assert run("build", root) == 0
    before = (root / "dist/clients/client-a/index.html").read_bytes()
    registry = root / "site_src/clients.toml"
    registry.write_text(registry.read_text().replace('theme = "blue"', 'theme = "rainbow"'))
    (root / "site_src/changelog/0.9.0.md").write_text("version: 0.9\ndate: 2026-01-01\n\nOld.\n")
    (root / "site_src/docs/Bad Name.md").write_text("# Bad\n")
    guide = root / "site_src/docs/guide.md"
    guide.write_text(guide.read_text() + "\nSee [nowhere](missing.md) and [no anchor](getting-started.md#nope).\n")
    assert run("build", root) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(re.match(r".*clients\.toml:\d+: client 'client-b': 'theme' must be one of", line) for line in err)
    assert any(re.match(r".*0\.9\.0\.md:1: 'version:' must be MAJOR\.MINOR\.PATCH", line) for line in err)
    assert any(re.match(r".*Bad Name\.md:1: page file names", line) for line in err)
    assert err[-1] == "build failed: 3 error(s)"
    assert (root / "dist/clients/client-a/index.html").read_bytes() == before
    # Once the sources parse, the link check runs and points at the markdown line.
    registry.write_text(registry.read_text().replace('theme = "rainbow"', 'theme = "blue"'))
    (root / "site_src/changelog/0.9.0.md").unlink()
    (root / "site_src/docs/Bad Name.md").unlink()
    assert run("build", root) == 1
    err = capsys.readouterr().err.splitlines()
    line = len(guide.read_text().splitlines())
    assert any(re.match(rf".*guide\.md:{line}: docs/guide/index\.html: link '\.\./missing/': the page docs/missing/index\.html is not built", e) for e in err)
    assert any(re.match(rf".*guide\.md:{line}: .*has no anchor #nope", e) for e in err)
    assert err[-1] == "build failed: 2 error(s)"


def test_check_validates_without_writing(make_site, capsys):
    root = make_site()
    assert run("check", root) == 0
    assert "check passed" in capsys.readouterr().out
    assert not (root / "dist").exists()
    registry = root / "site_src/clients.toml"
    registry.write_text(registry.read_text().replace('agents = ["agent_b1", "agent_b2"]', 'agents = ["agent_a"]')
                        .replace('widget_version = "1.0.0"\nbrand_color = "#b91c1c"', 'widget_version = "1.4.0"\nbrand_color = "#b91c1c"'))
    assert run("check", root) == 1
    err = capsys.readouterr().err
    assert "agent 'agent_a' is already claimed by client 'client-a'" in err
    assert "widget_version '1.4.0' is not a released version" in err
    assert "check failed: 2 error(s)" in err
    assert not (root / "dist").exists()


def test_an_unchanged_rebuild_renders_and_writes_nothing(make_site):
    root = make_site()
    builder = Builder(config(root))
    first = builder.build()
    assert first.written == len(first.files)
    again = builder.build()
    assert (again.rendered, again.written) == (0, 0)
    # A new process reuses the cache file beside the output folder.
    fresh = Builder(config(root)).build()
    assert (fresh.rendered, fresh.written) == (0, 0)
    assert (root / ".dist.buildcache/state.pickle").is_file()


def test_one_changed_page_rerenders_only_that_page_and_what_lists_it(make_site):
    root = make_site()
    builder = Builder(config(root))
    builder.build()
    bundle = root / "dist/docs/pagefind"
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    guide = root / "site_src/docs/guide.md"
    guide.write_text(guide.read_text().replace("Steps.", "New steps."))
    report = builder.rebuild()
    assert "New steps." in (root / "dist/docs/guide/index.html").read_text()
    # The page and the search index holding its text; the docs home lists only the page's summary,
    # which did not change. Of the index, only files whose bytes changed are written: the entry,
    # the metadata, the chunk holding the new word and the page's fragment, not the library; and
    # the docs' _headers, which lists the new names.
    changed = [p for p in bundle.rglob("*") if p.is_file() and before.get(p) != p.read_bytes()]
    assert report.rendered == 2 and report.written == 1 + len(changed) + 1
    assert bundle / "pagefind-entry.json" in changed and bundle / "pagefind.js" not in changed


def test_a_removed_page_is_removed_from_the_output(make_site):
    root = make_site()
    builder = Builder(config(root))
    builder.build()
    (root / "site_src/docs/guide.md").unlink()
    (root / "site_src/docs/getting-started.md").write_text("title: Getting started\norder: 1\n\n# Start\n")
    builder.rebuild()
    assert not (root / "dist/docs/guide").exists()
    assert "guide/" not in (root / "dist/docs/getting-started/index.html").read_text()


def test_a_deleted_output_folder_is_rebuilt_in_full(make_site):
    root = make_site()
    builder = Builder(config(root))
    builder.build()
    import shutil

    shutil.rmtree(root / "dist")
    report = builder.build()
    assert report.written == len(report.files) and (root / "dist/docs/index.html").is_file()


def test_check_on_the_api_returns_errors(make_site):
    root = make_site()
    (root / "site_src/docs/guide.md").write_text("title: Guide\norder: x\n\n# Guide\n")
    errors = Builder(config(root), cache=False).check()
    assert errors == [f"{root / 'site_src/docs/guide.md'}:2: 'order:' must be a number, got 'x'"]


def test_template_errors_name_the_template(make_site):
    root = make_site()
    (root / "site_src/templates/doc.html").write_text("{% extends 'docs_base.html' %}{% block main %}{{ nope }}{% endblock %}")
    with pytest.raises(BuildError) as info:
        Builder(config(root)).build()
    assert re.match(r".*doc\.html:1: template error: 'nope' is undefined", info.value.errors[0])


@pytest.mark.parametrize("args, message", [
    (["--set", "cdn_url=ftp://x"], "override 'cdn_url' must be an absolute http(s) URL, got 'ftp://x'"),
    (["--set", "colour=red"], "override 'colour' is not a site setting"),
    (["--set", "novalue"], "--set takes KEY=VALUE"),
])
def test_rejects_bad_settings(make_site, capsys, args, message):
    root = make_site()
    assert run("build", root, *args) != 0
    assert message in capsys.readouterr().err
    assert not (root / "dist").exists()


def test_missing_source_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["build", "--src", str(tmp_path / "nope"), "--widget", str(tmp_path), "--out", str(tmp_path / "d")]) == 1
    assert "the site source folder does not exist" in capsys.readouterr().err


def test_the_real_site_passes_check(capsys):
    # The repository's own site_src and widget, as `python -m builder check` sees them.
    from tests.conftest import REPO

    assert main(["check", "--src", str(REPO / "site_src"), "--widget", str(REPO / "widget"),
                 "--out", str(REPO / "dist")]) == 0, capsys.readouterr().err


def test_an_unsaved_rebuild_never_leaves_a_stale_cache(make_site):
    root = make_site()
    guide = root / "site_src/docs/guide.md"
    original = guide.read_text()
    Builder(config(root)).build()  # saves the cache
    watcher = Builder(config(root))
    guide.write_text(original.replace("Steps.", "Changed steps."))
    rebuilt = watcher.rebuild()  # in memory only
    assert rebuilt.written >= 2 and "Changed steps." in (root / "dist/docs/guide/index.html").read_text()
    # Back to the saved sources: a new process must write the page back, not trust the old cache.
    guide.write_text(original)
    report = Builder(config(root)).build()
    assert "Changed steps." not in (root / "dist/docs/guide/index.html").read_text()
    assert report.written >= 2


def test_a_rebuild_still_finds_a_link_broken_by_another_page(make_site):
    root = make_site()
    builder = Builder(config(root))
    builder.build()
    # getting-started.md links to guide.md#install; only guide.md changes.
    guide = root / "site_src/docs/guide.md"
    guide.write_text(guide.read_text().replace("## Install", "## Setup"))
    with pytest.raises(BuildError) as info:
        builder.rebuild()
    assert any("getting-started.md" in e and "has no anchor #install" in e for e in info.value.errors)


def test_a_rebuild_follows_registry_and_archive_changes(make_site):
    root = make_site()
    builder = Builder(config(root))
    assert builder.freeze() == ["1.0.0"]
    builder.build()
    registry = root / "site_src/clients.toml"
    registry.write_text(registry.read_text().replace('name = "Bolt Bikes"', 'name = "Bolt Cycles"'))
    report = builder.rebuild()
    assert "Bolt Cycles" in (root / "dist/clients/client-b/index.html").read_text()
    assert report.written == 2  # that client's page and the index
    archived = root / "site_src/releases/1.0.0/retell-widget.css"
    archived.write_bytes(archived.read_bytes() + b" ")
    with pytest.raises(BuildError, match="no longer matches the integrity"):
        builder.rebuild()


def test_converting_in_two_processes_gives_the_same_pages():
    from builder.build import _PARALLEL_FROM, _convert_all

    texts = {str(i): f"title: Page {i}\n\n# Page {i}\n\n## Part\n\n```python\nx = {i}\n```\n" for i in range(_PARALLEL_FROM)}
    assert _convert_all(texts, jobs=2) == _convert_all(texts, jobs=1)
