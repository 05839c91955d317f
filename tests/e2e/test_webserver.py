"""A client's demo page served by Debian's nginx from a published folder, with the configuration
``publish`` wrote: the widget loads under its integrity hash, and Retell's SDK as a module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from builder.__main__ import main
from harness import webservers
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nginx_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")):
        if os.environ.get("RETELL_REQUIRE_SERVERS") == "1":
            pytest.fail("nginx is not installed (.ci/run installs it)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    work = tmp_path_factory.mktemp("nginx-site")
    # The pages name the CDN and docs by URL: the one origin nginx is about to serve.
    port = webservers.free_port()
    origin = f"http://127.0.0.1:{port}"
    assert main(["build", "--src", str(REPO / "site_src"), "--widget", str(REPO / "widget"), "--out", str(work / "dist"),
                 "--set", f"cdn_url={origin}/cdn", "--set", f"docs_url={origin}/docs"]) == 0
    assert main(["publish", "--from", str(work / "dist"), "--to", str(work / "www")]) == 0
    with webservers.nginx(work / "www", work / "nginx", port) as url:
        yield url


def test_a_client_page_gets_the_widget_and_the_sdk_from_nginx(page: Page, nginx_origin: str):
    widget = page.locator(f'script[src="{nginx_origin}/cdn/v1.0.0/retell-widget.js"][integrity^="sha384-"]')
    with page.expect_response(f"{nginx_origin}/cdn/v1.0.0/retell-widget.js") as script:
        page.goto(f"{nginx_origin}/clients/client-a/")
    assert widget.count() == 1 and widget.get_attribute("crossorigin") == "anonymous"
    # The script ran, so its bytes matched the hash: a blocked one defines nothing.
    button = page.locator(".retell-widget__button")
    expect(button).to_be_visible()
    assert page.evaluate("typeof window.RetellWidget") == "function"
    headers = script.value.all_headers()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    # The .br copy where the browser offers br (Chromium does to a secure context, 127.0.0.1 included).
    offered = script.value.request.all_headers()["accept-encoding"]
    assert headers["content-encoding"] == ("br" if "br" in offered else "gzip") and "accept-encoding" in headers["vary"].lower()
    # 1.0.0 imports Retell's SDK only after the proxy gave a token, and nothing here serves the
    # proxy: the page imports the SDK as the current lines do, from the exact version's URL.
    sdk_url = f"{nginx_origin}/cdn/sdk/2.0.8/retell-web-client.js"
    with page.expect_response(sdk_url) as sdk:
        exported = page.evaluate("url => import(url).then(m => typeof m.RetellWebClient)", sdk_url)
    assert exported == "function"
    assert sdk.value.all_headers()["content-type"] == "text/javascript; charset=utf-8"
