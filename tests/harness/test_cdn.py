import gzip

import httpx
import pytest

from harness.cdn import cdn_app, parse_headers_file
from tests.conftest import Swappable, running

HEADERS = """# cache policy
/v1.0.0/*
  Cache-Control: public, max-age=31536000, immutable
/v1/*
  Cache-Control: public, max-age=300, stale-while-revalidate=86400
/*.json
  Cache-Control: no-cache
  X-Robots-Tag: noindex
"""


@pytest.fixture(scope="module")
def server():
    """One server for the module, each test's own CDN app served through it (a stop costs 0.2 s)."""
    app = Swappable()
    with running(app, lifespan="off") as port:
        yield app, port


@pytest.fixture
def cdn(tmp_path, server):
    root = tmp_path / "cdn"
    for folder in ("v1", "v1.0.0"):
        (root / folder).mkdir(parents=True)
        (root / folder / "retell-widget.js").write_text("console.log('widget');")
    (root / "v1.0.0" / "retell-widget.js.gz").write_bytes(gzip.compress(b"console.log('widget');"))
    (root / "v1.0.0" / "retell-widget.js.br").write_bytes(b"brotli-bytes")
    (root / "manifest.json").write_text("{}")
    (root / "_headers").write_text(HEADERS)
    (tmp_path / "secret.txt").write_text("outside")
    app, port = server
    with app.serving(cdn_app(root)), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client


def test_parses_netlify_headers():
    rules = parse_headers_file(HEADERS)
    assert [r[0].pattern for r in rules] == [r"^/v1\.0\.0/.*$", r"^/v1/.*$", r"^/.*\.json$"]
    assert rules[2][1] == [("Cache-Control", "no-cache"), ("X-Robots-Tag", "noindex")]


def test_applies_the_cache_policy_and_mime_types(cdn):
    exact = cdn.get("/v1.0.0/retell-widget.js", headers={"Accept-Encoding": "identity"})
    assert exact.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert exact.headers["content-type"] == "text/javascript; charset=utf-8"
    assert exact.headers["access-control-allow-origin"] == "*"
    assert "stale-while-revalidate" in cdn.get("/v1/retell-widget.js").headers["cache-control"]
    manifest = cdn.get("/manifest.json")
    assert manifest.headers["content-type"] == "application/json" and manifest.headers["x-robots-tag"] == "noindex"


@pytest.mark.parametrize("accept, encoding, body", [
    ("gzip, deflate, br", "br", b"brotli-bytes"),
    ("gzip", "gzip", gzip.compress(b"console.log('widget');", mtime=0)),
    ("br;q=0, gzip", "gzip", None),
    ("identity", None, b"console.log('widget');"),
], ids=["br", "gzip", "br-refused", "identity"])
def test_negotiates_precompressed_files(cdn, accept, encoding, body):
    with cdn.stream("GET", "/v1.0.0/retell-widget.js", headers={"Accept-Encoding": accept}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers.get("content-encoding") == encoding
    assert response.headers["vary"] == "Accept-Encoding"
    if encoding == "gzip":
        assert gzip.decompress(raw) == b"console.log('widget');"
    elif body is not None:
        assert raw == body


def test_revalidation_and_head(cdn):
    etag = cdn.get("/v1/retell-widget.js").headers["etag"]
    assert cdn.get("/v1/retell-widget.js", headers={"If-None-Match": etag}).status_code == 304
    head = cdn.head("/v1/retell-widget.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.headers["content-length"] == str(len("console.log('widget');"))


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/_headers", "/v1/", "/nope.js"])
def test_serves_nothing_outside_the_tree(cdn, path):
    assert cdn.get(path).status_code == 404
