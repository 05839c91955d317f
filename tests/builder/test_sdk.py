"""Retell's SDK: vendored in widget/sdk/, checked on every build, published beside the lines."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import brotli
import pytest

from builder import sdk
from builder.__main__ import main
from tests.builder.conftest import V1_JS, write_sdk
from tests.conftest import REPO

VENDORED = REPO / "widget" / "sdk"


def run(verb: str, root: Path, *extra: str) -> int:
    return main([verb, "--src", str(root / "site_src"), "--widget", str(root / "widget"), "--out", str(root / "dist"), *extra])


def test_the_committed_bundle_is_the_one_its_hash_and_lockfile_record():
    data = (VENDORED / sdk.FILE).read_bytes()
    recorded = (VENDORED / f"{sdk.FILE}.sha256").read_text().split()
    assert recorded == [hashlib.sha256(data).hexdigest(), sdk.FILE]
    assert brotli.decompress((VENDORED / f"{sdk.FILE}.br").read_bytes()) == data
    package = json.loads((VENDORED / "package.json").read_text())
    lock = json.loads((VENDORED / "package-lock.json").read_text())["packages"]
    assert package["dependencies"] == {"retell-client-js-sdk": "2.0.8"}  # exact pins, no ranges
    assert package["overrides"]["livekit-client"] == lock["node_modules/livekit-client"]["version"] == "2.23.0"
    assert lock["node_modules/retell-client-js-sdk"]["version"] == "2.0.8"
    assert re.search(rb"export\{\w+ as RetellWebClient\};\s*$", data)
    found = sdk.gather(VENDORED, errors := [])
    assert errors == [] and found is not None and (found.version, found.livekit_client) == ("2.0.8", "2.23.0")


def test_every_bundled_package_has_its_licence_text():
    licences = (VENDORED / sdk.LICENSES).read_text()
    for name in ("retell-client-js-sdk 2.0.8", "livekit-client 2.23.0", "@livekit/protocol", "@bufbuild/protobuf",
                 "webrtc-adapter", "sdp-transform", "eventemitter3", "jose", "loglevel", "tslib"):
        assert name in licences, name
    assert "Apache License" in licences and "Permission to use, copy, modify" in licences  # Apache-2.0, ISC
    assert "\nesbuild " not in licences  # the build tool is not in the bundle


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / sdk.FILE).write_text((f / sdk.FILE).read_text() + "\n// edited\n"), "does not match its recorded SHA-256"),
    (lambda f: (f / f"{sdk.FILE}.br").write_bytes(brotli.compress(b"other")), "is not retell-web-client.js compressed"),
    (lambda f: (f / f"{sdk.FILE}.sha256").unlink(), "retell-web-client.js.sha256:1: missing"),
    (lambda f: (f / "package.json").write_text('{"dependencies": {"retell-client-js-sdk": "^2.0.8"}}'), "exact version"),
    (lambda f: write_sdk(f, "export{x as RetellWebClient};"), "no longer dials wss://retell-ai-4ihahnq7.livekit.cloud"),
])
def test_a_damaged_vendored_sdk_fails_the_build_with_its_file(make_site, capsys, damage, message):
    root = make_site()
    damage(root / "widget" / "sdk")
    assert run("build", root) == 1
    assert message in capsys.readouterr().err
    assert not (root / "dist").exists()


def test_the_build_publishes_the_sdk_at_its_version_and_as_the_alias(make_site):
    root = make_site()
    assert run("build", root) == 0
    cdn = root / "dist" / "cdn"
    exact, alias = cdn / "sdk/2.0.8/retell-web-client.js", cdn / "sdk/retell-web-client.js"
    assert exact.read_bytes() == alias.read_bytes() == (root / "widget/sdk/retell-web-client.js").read_bytes()
    assert brotli.decompress((cdn / "sdk/2.0.8/retell-web-client.js.br").read_bytes()) == exact.read_bytes()
    assert (cdn / "sdk/2.0.8/THIRD_PARTY_LICENSES.txt").read_text().startswith("retell-client-js-sdk 2.0.8")
    manifest = json.loads((cdn / "manifest.json").read_text())
    assert manifest["sdk"] == {"version": "2.0.8", "livekit_client": "2.23.0", "path": "sdk/2.0.8/retell-web-client.js",
                               "alias": "sdk/retell-web-client.js", "licenses": "sdk/2.0.8/THIRD_PARTY_LICENSES.txt"}
    entry = manifest["files"]["sdk/2.0.8/retell-web-client.js"]
    assert entry["module"] is True and entry["integrity"].startswith("sha384-") and entry["bytes"] == len(exact.read_bytes())
    rules = (cdn / "_headers").read_text()
    assert "/sdk/2.0.8/retell-web-client.js\n  Cache-Control: public, max-age=31536000, immutable" in rules
    assert "/sdk/retell-web-client.js\n  Cache-Control: public, max-age=300, stale-while-revalidate=86400" in rules


def test_the_sdk_has_its_own_size_budget(make_site, capsys):
    root = make_site(site_toml_extra='[budgets]\n"sdk/retell-web-client.js" = 10\n')
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert re.search(r"site\.toml:\d+: sdk/retell-web-client\.js is \d+ gzip bytes, over its budget of 10", err), err


def test_a_widget_must_load_the_sdk_version_that_is_vendored(make_site, capsys):
    pinned = V1_JS.replace("const greeting", "const sdk = '../sdk/2.0.7/retell-web-client.js'; const greeting")
    root = make_site(widget={"v1/retell-widget.js": pinned})
    assert run("check", root) == 1
    err = capsys.readouterr().err
    assert re.search(r"widget/v1/retell-widget\.js:4: loads sdk/2\.0\.7/retell-web-client\.js, but widget/sdk/ vendors "
                     r"2\.0\.8; point it at sdk/2\.0\.8/retell-web-client\.js", err), err
    (root / "widget/v1/retell-widget.js").write_text(pinned.replace("2.0.7", "2.0.8"))
    assert run("check", root) == 0


def test_the_real_widget_lines_load_the_vendored_version(capsys):
    assert main(["check", "--src", str(REPO / "site_src"), "--widget", str(REPO / "widget")]) == 0
    for line in ("v1/retell-widget.js", "v2/retell-widget.js"):
        assert "../sdk/2.0.8/retell-web-client.js" in (REPO / "widget" / line).read_text()


def test_without_a_vendored_sdk_the_site_must_say_where_it_is(make_site, capsys):
    root = make_site(sdk=False)
    assert run("build", root) == 1
    assert "widget/sdk: missing, and site.toml sets no sdk_url" in capsys.readouterr().err
    assert run("build", root, "--set", "sdk_url=https://static.example/retell-web-client.js") == 0
    assert not (root / "dist/cdn/sdk").exists()
    page = (root / "dist/clients/client-a/index.html").read_text()
    assert '"sdkUrl": "https://static.example/retell-web-client.js"' in page


def test_snippets_leave_sdk_url_out_by_default(make_site):
    root = make_site()
    assert run("build", root) == 0
    assert "sdkUrl" not in (root / "dist/clients/client-a/index.html").read_text()
