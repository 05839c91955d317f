from pathlib import Path

from builder.config import SiteConfig
from builder.links import check, scan
from builder.render import Output

SITE = SiteConfig("S", "https://cdn.test", "https://docs.test", "https://api.test/x", "https://cdn.test/sdk.js")


def outputs(pages: dict[str, str], source: Path) -> dict[str, Output]:
    return {path: Output("k", source, html.encode(), path, len(html)) for path, html in pages.items()}


def errors_for(pages: dict[str, str], tmp_path: Path) -> list[str]:
    source = tmp_path / "page.md"
    source.write_text("intro\nsee [x](other.md#gone)\n")
    files = outputs(pages, source)
    scans = {p: scan(o.data) for p, o in files.items() if p.endswith(".html")}
    errors: list[str] = []
    check(files, scans, SITE, errors)
    return errors


def test_scan_ignores_code_samples():
    links, ids = scan(b'<h2 id="a">A</h2><code>&lt;a href="nope"&gt; src="x"</code><pre>href="y"</pre><a href="z">z</a>')
    assert links == ("z",) and ids == {"a"}


def test_resolves_relative_absolute_and_anchor_links(tmp_path):
    pages = {
        "docs/index.html": '<a href="./guide/#install">g</a><a href="https://docs.test/guide/">abs</a>'
                           '<script src="https://cdn.test/v1/w.js"></script><a href="https://elsewhere.example/">ext</a>'
                           '<a href="mailto:x@y.z">mail</a><a href="#top">top</a><p id="top"></p>',
        "docs/guide/index.html": '<h2 id="install">Install</h2><a href="../">home</a>',
        "cdn/v1/w.js": "",
    }
    assert errors_for(pages, tmp_path) == []


def test_reports_missing_pages_assets_and_anchors_with_the_source_line(tmp_path):
    pages = {
        "docs/index.html": '<a href="./other/#gone">o</a><img src="img.png"><a href="https://cdn.test/v9/w.js">w</a>'
                           '<a href="#nowhere">n</a><a href="../../outside">x</a>',
        "docs/other/index.html": "<p>no ids</p>",
    }
    errors = errors_for(pages, tmp_path)
    source = tmp_path / "page.md"
    assert f"{source}:2: docs/index.html: link './other/#gone': docs/other/index.html has no anchor #gone" in errors
    assert f"{source}:1: docs/index.html: link 'img.png': the asset docs/img.png is not built" in errors
    assert f"{source}:1: docs/index.html: link 'https://cdn.test/v9/w.js': the asset cdn/v9/w.js is not built" in errors
    assert f"{source}:1: docs/index.html: link '#nowhere': docs/index.html has no anchor #nowhere" in errors
    assert f"{source}:1: docs/index.html: link '../../outside' leaves the site" in errors
    assert len(errors) == 5


def test_a_client_page_is_the_root_of_its_own_site(tmp_path):
    pages = {"clients/a/index.html": '<a href="../b/">other client</a>', "clients/b/index.html": ""}
    assert errors_for(pages, tmp_path) == [f"{tmp_path / 'page.md'}:1: clients/a/index.html: link '../b/' leaves the site"]
