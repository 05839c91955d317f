"""The nginx and Caddy configuration ``publish`` writes, checked against Debian's real servers.

One tiny site is built and published once for the module; each server starts once (the ``server``
fixture) and answers every check, which compares its headers with the policy ``_headers`` is
written from (``builder.headers``).
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import brotli
import httpx
import pytest

from builder import webserver
from builder.__main__ import main
from builder.headers import DOCS_CSP, IMMUTABLE, MOVING, REVALIDATE, headers_for
from harness import webservers
from tests.builder.conftest import V2_JS, release, write_site

CHECKED = ("Cache-Control", "Content-Type", "X-Content-Type-Options")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny site with both lines and the SDK, built and published to a folder."""
    root = write_site(tmp_path_factory.mktemp("site"), widget={
        "v1/retell-widget.js": "window.RetellWidget = class {};\n" * 20, "v1/retell-widget.css": ".w { color: red }\n" * 20,
        "v2/retell-widget.js": V2_JS}, releases={"1.0.0.md": release("1.0.0"), "2.0.0.md": release("2.0.0")})
    assert main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"), "--out", str(root / "dist")]) == 0
    assert main(["publish", "--from", str(root / "dist"), "--to", str(root / "www")]) == 0
    return root / "www"


def _require(name: str) -> None:
    if shutil.which(name) or shutil.which(name, path="/usr/sbin"):
        return
    # CI (.ci/run) installs both and sets RETELL_REQUIRE_SERVERS: there a missing one is a broken set-up.
    if os.environ.get("RETELL_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    pytest.skip(f"{name} is not installed (apt-get install {name})")


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def server(request: pytest.FixtureRequest, published: Path, tmp_path_factory) -> Iterator[httpx.Client]:
    _require(request.param)
    run = getattr(webservers, request.param)
    with run(published, tmp_path_factory.mktemp(request.param)) as url, httpx.Client(base_url=url) as client:
        yield client


def _raw(client: httpx.Client, path: str, accept: str = "identity") -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (httpx would decode it)."""
    with client.stream("GET", path, headers={"Accept-Encoding": accept}) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("path, policy", [
    ("/cdn/v1.0.0/retell-widget.js", IMMUTABLE),
    ("/cdn/v2.0.0/retell-widget.js", IMMUTABLE),
    ("/cdn/v1.0.0/retell-widget.css", IMMUTABLE),
    ("/cdn/sdk/2.0.8/retell-web-client.js", IMMUTABLE),
    ("/cdn/v1/retell-widget.js", MOVING),
    ("/cdn/latest/retell-widget.js", MOVING),
    ("/cdn/sdk/retell-web-client.js", MOVING),
    ("/cdn/manifest.json", MOVING),
    ("/cdn/sdk/2.0.8/THIRD_PARTY_LICENSES.txt", IMMUTABLE),
    ("/docs/", REVALIDATE),
    ("/docs/guide/", REVALIDATE),
    ("/docs/404.html", REVALIDATE),
    ("/docs/sitemap.xml", MOVING),
    ("/clients/client-a/", REVALIDATE),
])
def test_types_and_cache_control_follow_the_policy(server, published, path, policy):
    response, _ = _raw(server, path)
    assert response.status_code == 200
    # The same values as _headers gives the file ('/docs/' serves its index).
    expected = headers_for(path.removeprefix("/docs") + ("index.html" if path.endswith("/") else ""))
    assert {name: response.headers.get(name) for name in CHECKED} == \
        {"Cache-Control": policy, "Content-Type": expected["Content-Type"], "X-Content-Type-Options": "nosniff"}
    assert expected["Cache-Control"] == policy


@pytest.mark.parametrize("accept, encoding", [
    ("gzip, deflate, br", "br"), ("br", "br"), ("gzip", "gzip"), ("gzip, br;q=0", "gzip"), ("identity", None),
])
@pytest.mark.parametrize("path", ["/cdn/v1.0.0/retell-widget.js", "/cdn/latest/retell-widget.js", "/cdn/v1/retell-widget.css"])
def test_precompressed_copies_are_chosen_by_accept_encoding(server, published, path, accept, encoding):
    original = (published / "current" / path.lstrip("/")).read_bytes()
    response, body = _raw(server, path, accept)
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == encoding
    assert response.headers.get_list("Vary") == ["Accept-Encoding"]
    assert response.headers["Content-Type"] == headers_for(path)["Content-Type"]
    decode = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda data: data}[encoding]
    assert decode(body) == original


def test_a_precompressed_file_asked_for_by_name_says_its_encoding(server, published):
    response, body = _raw(server, "/cdn/v1.0.0/retell-widget.js.br", "br, gzip")
    assert (response.headers["Content-Encoding"], response.headers["Content-Type"]) == ("br", "text/javascript; charset=utf-8")
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert body == (published / "current/cdn/v1.0.0/retell-widget.js.br").read_bytes()


@pytest.mark.parametrize("path, cors", [
    ("/cdn/v1.0.0/retell-widget.js", True), ("/cdn/manifest.json", True), ("/cdn/v9.9.9/missing.js", True),
    ("/docs/", False), ("/clients/client-a/", False),
])
def test_the_cdn_answers_every_origin_and_only_the_cdn(server, path, cors):
    response = server.get(path, headers={"Origin": "https://www.acme.example"})
    # One value: a second header would make "*, *", which browsers reject.
    assert response.headers.get_list("Access-Control-Allow-Origin") == (["*"] if cors else [])


def test_the_docs_and_only_the_docs_get_their_content_security_policy(server):
    # The policy docs/_headers gives every file of the docs, so the search's WebAssembly may run.
    paths = {"/docs/": DOCS_CSP, "/docs/guide/": DOCS_CSP, "/docs/missing/": DOCS_CSP,
             "/cdn/v1.0.0/retell-widget.js": None, "/cdn/v9.9.9/missing.js": None, "/clients/client-a/": None}
    found = {path: server.get(path).headers.get_list("Content-Security-Policy") for path in paths}
    assert found == {path: [csp] if csp else [] for path, csp in paths.items()}


@pytest.mark.parametrize("path", ["/cdn/v9.9.9/missing.js", "/docs/missing/", "/cdn/_headers", "/docs/_headers",
                                  "/clients/nobody/", "/cdn/.publish-state.json"])
def test_missing_and_private_files_get_the_sites_404_page(server, published, path):
    response = server.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.content == (published / "current/docs/404.html").read_bytes()
    assert response.headers["Cache-Control"] == REVALIDATE  # never a cached 404 once the file is published


def test_publish_writes_the_files_beside_current_and_keeps_them_true(published, tmp_path, capsys):
    nginx_server = (published / webserver.NGINX_SERVER).read_text()
    assert f'root "{published.resolve() / "current"}";' in nginx_server
    assert f'root * "{published.resolve() / "current"}"' in (published / webserver.CADDYFILE).read_text()
    # Every rule of the policy is in both, in its order.
    for pattern, value, _ in webserver._cache_entries():
        assert f'"~{pattern}" "{value}"'.replace("\\", "\\\\") in (published / webserver.NGINX_HTTP).read_text()
        assert f'`~{pattern}` "{value}"' in (published / webserver.CADDYFILE).read_text()
    # An edited file is put back by the next publish, even when the build is unchanged.
    copy = tmp_path / "www"
    shutil.copytree(published, copy, symlinks=True)
    (copy / webserver.NGINX_HTTP).write_text("# edited\n")
    assert webserver.stale(copy)
    source = published.parent / "dist"
    assert main(["publish", "--from", str(source), "--to", str(copy)]) == 0
    assert "web server configuration:" in capsys.readouterr().out
    assert not webserver.stale(copy)
    assert main(["publish", "--from", str(source), "--to", str(copy)]) == 0
    assert "is up to date" in capsys.readouterr().out
