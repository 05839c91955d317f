import pytest

from builder.headers import DOCS_CSP, IMMUTABLE, MOVING, REVALIDATE, cache_control, content_type, headers_file, headers_for


@pytest.mark.parametrize("path, policy", [
    ("v1.0.0/retell-widget.js", IMMUTABLE),
    ("/cdn/v2.1.0/chunks/panel.js.br", IMMUTABLE),
    ("v2.0.0-beta.1/retell-widget.js", IMMUTABLE),
    ("v1/retell-widget.js", MOVING),
    ("latest/retell-widget.css.gz", MOVING),
    ("manifest.json", MOVING),
    ("index.html", REVALIDATE),
    ("docs/", REVALIDATE),
    ("v1.0.0", MOVING),  # a name, not a file inside an exact version
])
def test_cache_policy(path, policy):
    assert cache_control(path) == policy


def test_the_policies_say_what_the_issue_asks():
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert "stale-while-revalidate=" in MOVING and "max-age=300" in MOVING
    assert "max-age=0" in REVALIDATE and "must-revalidate" in REVALIDATE


@pytest.mark.parametrize("path, kind", [
    ("v1/retell-widget.js", "text/javascript; charset=utf-8"),
    ("v1/retell-widget.js.br", "text/javascript; charset=utf-8"),
    ("v1/retell-widget.css.gz", "text/css; charset=utf-8"),
    ("manifest.json", "application/json"),
    ("v2/retell-widget.d.ts", "text/plain; charset=utf-8"),
    ("LICENSE", "application/octet-stream"),
])
def test_content_types(path, kind):
    assert content_type(path) == kind


def test_encoded_files_say_so():
    assert headers_for("v1/retell-widget.js.br")["Content-Encoding"] == "br"
    assert headers_for("v1/retell-widget.js.gz")["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in headers_for("v1/retell-widget.js")


def test_headers_file_has_one_rule_per_file():
    text = headers_file(["v1.0.0/retell-widget.js", "latest/retell-widget.js", "_headers"])
    assert "/v1.0.0/retell-widget.js\n  Cache-Control: public, max-age=31536000, immutable\n" in text
    assert "/latest/retell-widget.js\n  Cache-Control: public, max-age=300, stale-while-revalidate=86400\n" in text
    assert "/_headers" not in text
    # No rule repeats Access-Control-Allow-Origin: hosts would merge two into an invalid "*, *".
    assert "Access-Control-Allow-Origin" not in text


def test_the_build_writes_headers_for_the_cdn_and_the_docs(make_site):
    from builder.__main__ import main

    root = make_site()
    assert main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"), "--out", str(root / "dist")]) == 0
    cdn = (root / "dist/cdn/_headers").read_text()
    assert "/v1.0.0/retell-widget.js.br\n  Cache-Control: public, max-age=31536000, immutable\n" \
           "  Content-Type: text/javascript; charset=utf-8\n  Content-Encoding: br\n" in cdn
    assert "/manifest.json\n  Cache-Control: public, max-age=300, stale-while-revalidate=86400\n" in cdn
    docs = (root / "dist/docs/_headers").read_text()
    assert "/guide/index.html\n  Cache-Control: public, max-age=0, must-revalidate\n  Content-Type: text/html; charset=utf-8\n" in docs
    assert "/pagefind/pagefind-entry.json\n  Cache-Control: public, max-age=300" in docs
    # The docs' pages get their CSP; the CDN's files are scripts and styles for other sites' pages.
    assert f"/*\n  X-Content-Type-Options: nosniff\n  Content-Security-Policy: {DOCS_CSP}\n" in docs
    assert "Content-Security-Policy" not in cdn
