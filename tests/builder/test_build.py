import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from builder.__main__ import main


def run_build(root: Path, *extra: str) -> int:
    return main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"),
                 "--out", str(root / "dist"), *extra])


def test_builds_the_cdn_tree_demo_pages_and_docs(site_factory, capsys):
    root = site_factory()
    assert run_build(root) == 0
    dist = root / "dist"
    source_js = (root / "widget/v1/retell-widget.js").read_bytes()
    for folder in ("v1", "v1.0.0", "latest"):
        # Aliases are real copies of the release's bytes, never redirects.
        assert (dist / "cdn" / folder / "retell-widget.js").read_bytes() == source_js
        assert (dist / "cdn" / folder / "retell-widget.css").is_file()
    for page in ("clients/index.html", "clients/client-a/index.html", "clients/client-b/index.html",
                 "docs/index.html", "docs/getting-started/index.html", "docs/changelog/index.html"):
        assert (dist / page).is_file(), page
    out = capsys.readouterr().out
    assert re.search(r"built \d+ files \([\d,]+ bytes\) into .*dist in [\d.]+s", out)
    assert "cdn/" in out and "clients/" in out and "docs/" in out


def test_demo_page_embeds_its_snippet_pinned_with_sri(site_factory):
    root = site_factory()
    assert run_build(root, "--set", "cdn_url=http://cdn.test:9", "--set", "proxy_url=http://api.test:9/api/create-web-call") == 0
    html = (root / "dist/clients/client-b/index.html").read_text()
    digest = base64.b64encode(hashlib.sha384((root / "widget/v1/retell-widget.js").read_bytes()).digest()).decode()
    assert f'<script src="http://cdn.test:9/v1.0.0/retell-widget.js"\n        integrity="sha384-{digest}" crossorigin="anonymous">' in html
    assert '"agentId": "agent_bolt_sales"' in html and '"position": "bottom-left"' in html
    assert '"proxyEndpoint": "http://api.test:9/api/create-web-call"' in html
    # The page shows the same snippet it runs, escaped for reading.
    assert "&lt;script src=&#34;http://cdn.test:9/v1.0.0/retell-widget.js&#34;" in html
    manifest = json.loads((root / "dist/cdn/manifest.json").read_text())
    assert manifest["files"]["v1.0.0/retell-widget.js"]["integrity"] == f"sha384-{digest}"
    assert manifest["latest"] == "1.0.0" and manifest["lines"] == {"v1": "1.0.0"}


def test_reports_every_error_together_and_keeps_the_last_good_build(site_factory, capsys):
    root = site_factory()
    assert run_build(root) == 0
    before = (root / "dist/clients/client-a/index.html").read_bytes()

    def break_sources(root: Path) -> None:
        registry = root / "site_src/clients.toml"
        registry.write_text(registry.read_text().replace('theme = "blue"', 'theme = "rainbow"'))
        (root / "site_src/changelog/0.9.0.md").write_text("version: 0.9\ndate: 2026-01-01\n\nOld.\n")
        (root / "site_src/docs/Bad Name.md").write_text("# Bad\n")

    break_sources(root)
    assert run_build(root) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(re.match(r".*clients\.toml:\d+: client 'client-b': 'theme' must be one of", line) for line in err)
    assert any(re.match(r".*0\.9\.0\.md:1: 'version:' must be MAJOR\.MINOR\.PATCH", line) for line in err)
    assert any(re.match(r".*Bad Name\.md:1: page file names", line) for line in err)
    assert err[-1] == "build failed: 3 error(s)"
    assert (root / "dist/clients/client-a/index.html").read_bytes() == before


def test_a_release_without_widget_sources_fails(site_factory, capsys):
    root = site_factory()
    # widget/v2/ exists now; a line with no source folder is v9.
    (root / "site_src/changelog/9.0.0.md").write_text("version: 9.0.0\ndate: 2026-12-01\n\nNew line.\n")
    assert run_build(root) == 1
    assert "release 9.0.0 needs widget sources in" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--set", "cdn_url=ftp://x"], "cdn_url must be an absolute http(s) URL"),
    (["--set", "colour=red"], "override 'colour' is not a site setting"),
    (["--set", "novalue"], "--set takes KEY=VALUE"),
])
def test_rejects_bad_settings(site_factory, capsys, args, message):
    root = site_factory()
    assert run_build(root, *args) != 0
    assert message in capsys.readouterr().err
    assert not (root / "dist").exists()


def test_missing_source_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["build", "--src", str(tmp_path / "nope"), "--widget", str(tmp_path), "--out", str(tmp_path / "d")]) == 1
    assert "the site source folder does not exist" in capsys.readouterr().err
