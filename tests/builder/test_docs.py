import json
import re

import pytest

import registry
from builder.__main__ import main
from tests.builder.conftest import release


def build(root, *extra):
    return main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"),
                 "--out", str(root / "dist"), "--set", "docs_url=https://docs.test", *extra])


def test_navigation_follows_order_and_picks_up_any_page(make_site):
    root = make_site()
    (root / "site_src/docs/proxy.md").write_text("title: Proxy\norder: 1.5\n\n# Proxy\n\nText.\n")
    (root / "site_src/docs/zz-unordered.md").write_text("# Unordered page\n")
    assert build(root) == 0
    html = (root / "dist/docs/guide/index.html").read_text()
    nav = re.search(r'<nav class="pages".*?</nav>', html, re.S)[0]
    assert re.findall(r">([^<]+)</a>", nav) == ["Getting started", "Proxy", "Guide", "Unordered page", "Changelog"]
    assert '<a href="../guide/" aria-current="page">' in nav
    index = (root / "dist/docs/index.html").read_text()
    assert '<a href="./getting-started/">Getting started</a>' in index and "Read the guide." in index


def test_pages_have_a_table_of_contents_highlighting_and_rewritten_links(make_site):
    root = make_site()
    assert build(root) == 0
    guide = (root / "dist/docs/guide/index.html").read_text()
    toc = re.search(r'<aside class="toc".*?</aside>', guide, re.S)[0]
    assert '<li class="level-2"><a href="#install">Install</a></li>' in toc
    assert '<li class="level-3"><a href="#verify">Verify</a></li>' in toc
    assert '<a href="../getting-started/">the start</a>' in guide
    start = (root / "dist/docs/getting-started/index.html").read_text()
    assert '<a href="../guide/#install">guide</a>' in start
    assert '<div class="highlight"><pre>' in start and '<span class="nb">print</span>' in start
    assert ".highlight .nb" in (root / "dist/docs/assets/pygments.css").read_text()


def test_sitemap_404_and_feed(make_site):
    root = make_site()
    assert build(root) == 0
    sitemap = (root / "dist/docs/sitemap.xml").read_text()
    for url in ("https://docs.test/", "https://docs.test/guide/", "https://docs.test/changelog/1.0.0/"):
        assert f"<loc>{url}</loc>" in sitemap
    not_found = (root / "dist/docs/404.html").read_text()
    # Served at any depth, so it links absolutely.
    assert 'href="https://docs.test/assets/docs.css"' in not_found and "Page not found" in not_found
    feed = (root / "dist/docs/changelog/feed.xml").read_text()
    assert '<feed xmlns="http://www.w3.org/2005/Atom">' in feed
    assert "<id>https://docs.test/changelog/1.0.0/</id>" in feed and '<category term="v1"/>' in feed


def test_changelog_pages_name_their_line(make_site):
    root = make_site()
    assert build(root) == 0
    page = (root / "dist/docs/changelog/1.0.0/index.html").read_text()
    assert "<h1>Widget 1.0.0</h1>" in page and "<strong>v1</strong> line" in page
    assert '<a href="../changelog/1.0.0/">1.0.0</a> <small>(v1 line, 2026-11-26)' in (root / "dist/docs/changelog/index.html").read_text()


def test_images_beside_the_markdown_are_published_and_checked(make_site, capsys):
    root = make_site()
    (root / "site_src/docs/flow.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    guide = root / "site_src/docs/guide.md"
    guide.write_text(guide.read_text() + "\n![flow](flow.svg)\n")
    assert build(root) == 0
    assert (root / "dist/docs/flow.svg").is_file()
    assert 'src="../flow.svg"' in (root / "dist/docs/guide/index.html").read_text()
    guide.write_text(guide.read_text() + "\n![missing](gone.png)\n")
    assert build(root) == 1
    assert re.search(r"guide\.md:\d+: docs/guide/index\.html: link '\.\./gone\.png': the asset docs/gone\.png is not built",
                     capsys.readouterr().err)


def test_page_meta_errors(make_site, capsys):
    root = make_site()
    (root / "site_src/docs/notitle.md").write_text("No heading here.\n")
    assert build(root) == 1
    assert "notitle.md:1: the page needs a 'title:' line or a '# Heading'" in capsys.readouterr().err


def test_release_file_must_be_named_after_its_version(make_site, capsys):
    root = make_site()
    (root / "site_src/changelog/1.0.1.md").write_text("version: 1.0.2\ndate: 2026-11-27\n\nx\n")
    (root / "site_src/changelog/1.0.3.md").write_text("version: 1.0.3\ndate: 27 Nov\n\nx\n")
    assert build(root) == 1
    err = capsys.readouterr().err
    assert "1.0.1.md:1: the file of version 1.0.2 must be named 1.0.2.md" in err
    assert "1.0.3.md:2: 'date:' must be YYYY-MM-DD, got '27 Nov'" in err


def test_a_release_records_its_features_and_languages_in_the_manifest(make_site):
    root = make_site(releases={"1.0.0.md": release("1.0.0", features="consent, bot-token", languages="en, pt-BR")})
    assert build(root) == 0
    manifest = registry.Manifest.read(root / "dist/cdn/manifest.json")
    first = manifest.releases["1.0.0"]
    assert first.features == ("bot-token", "consent") and first.languages == ("en", "pt-BR")
    assert first.supports("bot-token") and first.changelog == "https://docs.test/changelog/1.0.0/"


@pytest.mark.parametrize("meta, line, message", [
    ("features: bot-token, captcha\nlanguages: en", 3, "'features:' unknown feature 'captcha' (expected some of: bot-token, consent, dynamic-variables)"),
    ("features: bot-token, bot-token\nlanguages: en", 3, "'features:' feature 'bot-token' is listed twice"),
    ("languages: en, English", 3, "'languages:' language 'English' is malformed (a code such as 'en' or 'pt-BR')"),
    ("languages: en, en", 3, "'languages:' language 'en' is listed twice"),
    ("languages:", 3, "'languages:' no language listed (e.g. 'languages: en')"),
    ("features: consent", 1, "'languages:' is missing: list the languages the release's strings know, e.g. 'languages: en'"),
])
def test_a_release_with_unknown_features_or_languages_is_refused_at_its_line(make_site, capsys, meta, line, message):
    root = make_site()
    (root / "site_src/changelog/1.0.1.md").write_text(f"version: 1.0.1\ndate: 2026-11-27\n{meta}\n\nx\n")
    assert build(root) == 1
    assert f"1.0.1.md:{line}: {message}" in capsys.readouterr().err


def test_the_real_docs_match_the_code(tmp_path):
    # Examples in the builder's own docs pages, compared with what the code does.
    from builder.headers import IMMUTABLE, MOVING, REVALIDATE
    from tests.conftest import REPO
    from tests.releases import released

    docs = REPO / "site_src/docs"
    deployment = (docs / "deployment.md").read_text()
    for policy in (IMMUTABLE, MOVING, REVALIDATE):
        assert f"`{policy}`" in deployment
    versioning = (docs / "versioning.md").read_text()
    example = json.loads(re.search(r"```json\n(.*?)```", versioning, re.S)[1])
    assert registry.Manifest.from_json(example).to_json() == example  # every key, each as the build writes it
    assert next(iter(example["files"].values()))["module"] is False
    # The registry example is valid, and the field table names every field a client has.
    integration = (docs / "client-integration.md").read_text()
    (tmp_path / "clients.toml").write_text(re.search(r"```toml\n(.*?)```", integration, re.S)[1])
    registry.load(tmp_path / "clients.toml", released("1.0.0"))
    for field in registry.Client.__dataclass_fields__:
        assert f"| `{field}` |" in integration, field


def test_navigation_is_spliced_in_byte_for_byte_as_jinja_would_render_it():
    from builder.docs import _Nav, _with_nav

    nav = _Nav.of("../", '<ul data-shared>\n  <li><a href="../a/">Ä</a></li>\n  <li><a href="../b/">B</a></li>\n'
                         '  <li><a href="../b/">B again</a></li>\n</ul>')

    def page(nav):
        return f"<title>é</title><nav>{nav}</nav>"

    for current in (None, "a/", "b/", "missing/"):
        assert _with_nav(page, nav, current) == page(nav.markup(current)).encode()
    # A template that changes the navigation, or prints it twice, is rendered the plain way.
    for other in (lambda nav: f"<nav>{nav.upper()}</nav>", lambda nav: f"{nav}{nav}", lambda nav: "no navigation"):
        assert _with_nav(other, nav, "b/") == other(nav.markup("b/")).encode()
