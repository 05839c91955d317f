"""A tiny site built from scratch per test, so builder tests never depend on work in progress
in the real ``widget/`` or ``site_src/``; only the templates and site.toml are the real ones."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

V1_JS = """/* Widget v1: a classic script. */
(function () {
  'use strict';
  const greeting = 'hello from v1';
  window.RetellWidget = class RetellWidget { constructor(options) { this.options = options; } };
  window.RetellWidgetGreeting = greeting;
})();
"""
V1_CSS = "/* v1 styles */\n.retell-widget {\n  position: fixed;\n  color: #ff0000;\n}\n"
V2_JS = """// Widget v2: an ES module with modern syntax.
export class RetellWidget extends EventTarget {
  #state = 'idle';
  static #count = 0;
  get state() { return this.#state; }
  async load(url) { const mod = await import(url); return mod?.default ?? null; }
  describe(name) { return `<p class="x">${name} is ${this.#state}</p>`; }
}
globalThis.RetellWidget = RetellWidget;
"""

CLIENTS = '''[[client]]
id = "client-a"
name = "Acme Dental"
origins = ["https://www.acme.example"]
agents = ["agent_a"]
theme = "purple"
position = "bottom-right"
widget_version = "1.0.0"
brand_color = "#0f766e"
tagline = "Smiles, by appointment"
font = "serif"
logo_text = "ACME"

[[client]]
id = "client-b"
name = "Bolt Bikes"
origins = ["https://bolt.example"]
agents = ["agent_b1", "agent_b2"]
theme = "blue"
position = "bottom-left"
widget_version = "1.0.0"
brand_color = "#b91c1c"
'''

DOCS = {
    "getting-started.md": "title: Getting started\norder: 1\n\n# Getting started\n\nRead the [guide](guide.md#install).\n\n"
                          "## Install\n\n```python\nprint('hi')\n```\n",
    "guide.md": "title: Guide\norder: 2\n\n# Guide\n\nBack to [the start](getting-started.md).\n\n## Install\n\nSteps.\n\n"
                "### Verify\n\nMore.\n",
}


# A stand-in for the vendored SDK (widget/sdk/): the real one is 0.6 MB, and these tests are
# about the builder. It carries what the build checks: its hash, its brotli copy, the pins.
TINY_SDK = ('var c=class{startCall(){return new WebSocket("wss://retell-ai-4ihahnq7.livekit.cloud/rtc/v1")}};'
            "export{c as RetellWebClient};\n")


def write_sdk(folder: Path, code: str = TINY_SDK, version: str = "2.0.8") -> None:
    import hashlib
    import json

    import brotli

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "retell-web-client.js").write_text(code)
    (folder / "retell-web-client.js.br").write_bytes(brotli.compress(code.encode()))
    (folder / "retell-web-client.js.sha256").write_text(f"{hashlib.sha256(code.encode()).hexdigest()}  retell-web-client.js\n")
    (folder / "package.json").write_text(json.dumps({"dependencies": {"retell-client-js-sdk": version}}))
    (folder / "package-lock.json").write_text(json.dumps({"packages": {"node_modules/livekit-client": {"version": "2.23.0"}}}))
    (folder / "THIRD_PARTY_LICENSES").write_text("retell-client-js-sdk 2.0.8\nLicense: ISC\n")


def release(version: str, date: str = "2026-11-26", body: str = "Changes.", features: str = "", languages: str = "en") -> str:
    meta = f"features: {features}\n" if features else ""
    return f"version: {version}\ndate: {date}\n{meta}languages: {languages}\n\n{body}\n"


def write_site(root: Path, *, widget: dict[str, str] | None = None, releases: dict[str, str] | None = None,
               docs: dict[str, str] | None = None, clients: str = CLIENTS, site_toml_extra: str = "",
               sdk: bool = True) -> Path:
    """The tiny site's sources under ``root``: ``root/site_src`` and ``root/widget``."""
    src = root / "site_src"
    shutil.copytree(REPO / "site_src" / "templates", src / "templates")
    (src / "site.toml").write_text((REPO / "site_src" / "site.toml").read_text().split("[budgets]")[0] + site_toml_extra)
    (src / "clients.toml").write_text(clients)
    for folder, files in (("docs", DOCS if docs is None else docs),
                          ("changelog", {"1.0.0.md": release("1.0.0")} if releases is None else releases)):
        (src / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (src / folder / name).write_text(text)
    default_widget = {"v1/retell-widget.js": V1_JS, "v1/retell-widget.css": V1_CSS}
    for name, text in (default_widget if widget is None else widget).items():
        (root / "widget" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "widget" / name).write_text(text)
    (root / "widget").mkdir(exist_ok=True)
    if sdk:
        write_sdk(root / "widget" / "sdk")
    return root


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Path]:
    return functools.partial(write_site, tmp_path / "site")


def tiny_build(out: Path, latest: str = "1.0.0", page: str = "<p>home</p>") -> Path:
    """A build output as small as ``builder publish`` takes: a manifest serving ``latest`` on v1,
    that release's exact file and its v1/ alias, and one page. Writes into ``out``; returns it."""
    import json

    files = {"cdn/manifest.json": json.dumps({"latest": latest, "lines": {"v1": latest}, "changelog": "/changelog/",
                                              "releases": {}, "files": {}}),
             f"cdn/v{latest}/retell-widget.js": f"// {latest}\n", "cdn/v1/retell-widget.js": f"// {latest}\n",
             "docs/index.html": page}
    for path, text in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    return out
