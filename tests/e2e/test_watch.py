"""``python -m harness --watch``: a change to the sources shows up in the open pages by itself."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, Sandbox, start_sandbox

pytestmark = pytest.mark.e2e


# One watched sandbox for the module (starting one is about 2.5 s of CPU): each test edits a file
# of its own.
@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    tmp_path = tmp_path_factory.mktemp("watched")
    for part in ("site_src", "widget"):
        shutil.copytree(REPO / part, tmp_path / part)
    with start_sandbox(tmp_path, "--watch", "--src", str(tmp_path / "site_src"),
                       "--widget", str(tmp_path / "widget")) as sandbox:
        yield sandbox, tmp_path


def test_a_docs_edit_reloads_the_open_page(page: Page, watched):
    sandbox, root = watched
    page.goto(sandbox.state.origins["docs"] + "/getting-started/")
    expect(page.locator("h1").first).to_have_text("Getting started")
    source = root / "site_src/docs/getting-started.md"
    source.write_text(source.read_text().replace("# Getting started", "# Getting started, edited", 1))
    expect(page.locator("h1").first).to_have_text("Getting started, edited", timeout=20_000)


def test_a_registry_edit_reaches_the_demo_page_and_the_proxy(page: Page, watched):
    sandbox, root = watched
    client = sandbox.client("client-b")
    page.goto(client.origin + "/")
    expect(page.locator(".retell-widget")).to_have_class("retell-widget retell-widget--bottom-left retell-widget--theme-blue")
    registry = root / "site_src/clients.toml"
    registry.write_text(registry.read_text().replace('theme = "blue"', 'theme = "green"', 1))
    expect(page.locator(".retell-widget")).to_have_class("retell-widget retell-widget--bottom-left retell-widget--theme-green",
                                                         timeout=20_000)
    # The proxy still serves the client's own agent from its (rewritten) registry.
    response = sandbox.http.post(sandbox.local("proxy") + "/api/create-web-call", json={"agent_id": client.agents[0]},
                                 headers={"Origin": client.origin})
    assert response.status_code == 201
