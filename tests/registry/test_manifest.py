import json

import pytest

from registry import Manifest, ManifestError
from registry.manifest import FileEntry, SdkEntry
from tests.releases import manifest_json

SDK = {"version": "2.0.8", "livekit_client": "2.23.0", "path": "sdk/2.0.8/retell-web-client.js",
       "alias": "sdk/retell-web-client.js", "licenses": "sdk/2.0.8/THIRD_PARTY_LICENSES.txt"}
JS = {"version": "1.2.0", "bytes": 10, "gzip": 9, "brotli": 8, "integrity": "sha384-x", "module": False}
CSS = {"version": "1.2.0", "bytes": 10, "gzip": 9, "brotli": 8, "integrity": "sha384-y"}


def good() -> dict:
    data = manifest_json("1.0.0", "1.2.0", "2.0.0-beta.1", bot_token=("1.2.0",))
    return {**data, "sdk": SDK, "releases": data["releases"],
            "files": {"v1.2.0/retell-widget.css": CSS, "v1.2.0/retell-widget.js": JS}}


def test_a_manifest_reads_back_to_the_same_json_in_the_same_order():
    data = {key: good()[key] for key in ("latest", "lines", "changelog", "sdk", "releases", "files")}
    manifest = Manifest.from_json(data)
    assert json.dumps(manifest.to_json()) == json.dumps(data)
    assert manifest.latest == "1.2.0" and manifest.lines == {"v1": "1.2.0", "v2": "2.0.0-beta.1"}
    assert manifest.releases["1.2.0"].supports("bot-token") and not manifest.releases["1.0.0"].supports("bot-token")
    assert manifest.files["v1.2.0/retell-widget.js"] == FileEntry("1.2.0", 10, 9, 8, "sha384-x", False)
    assert manifest.files["v1.2.0/retell-widget.css"].module is None
    assert manifest.sdk == SdkEntry(**SDK)
    assert Manifest.from_json({k: v for k, v in data.items() if k != "sdk"}).sdk is None


@pytest.mark.parametrize("change, errors", [
    ({"latest": None, "files": []}, ["'latest' must be a string", "'files' must be a JSON object"]),
    ({"extra": 1}, ["unknown key 'extra'"]),
    ({"lines": {"v1": 1}}, ["lines.v1: must be a version string"]),
    ({"sdk": {**SDK, "path": 7}}, ["sdk: 'path' must be a string"]),
    ({"files": {"v1/a.js": {**JS, "bytes": True, "module": "yes"}, "v1/b.css": {"version": "1.2.0"}}},
     ["files.v1/a.js: 'bytes' must be a whole number; 'module' must be true or false",
      "files.v1/b.css: 'bytes' is missing; 'gzip' is missing; 'brotli' is missing; 'integrity' is missing"]),
    ({"files": {"v1/a.js": "x"}}, ["files.v1/a.js: must be a JSON object"]),
])
def test_every_problem_is_reported_at_its_key(change, errors):
    with pytest.raises(ManifestError) as info:
        Manifest.from_json(good() | change)
    assert info.value.errors == errors


def test_a_release_is_reported_at_its_key_and_missing_keys_together():
    data = good()
    data["releases"]["1.2.0"] = {**data["releases"]["1.2.0"], "features": ["captcha"]}
    with pytest.raises(ManifestError) as info:
        Manifest.from_json(data)
    assert info.value.errors == ["releases.1.2.0: 'features' must be some of bot-token, consent, dynamic-variables, in that order, once each"]
    with pytest.raises(ManifestError) as info:
        Manifest.from_json({"latest": "1.0.0", "lines": {}})
    assert info.value.errors == ["'changelog' is missing", "'releases' is missing", "'files' is missing"]
    with pytest.raises(ManifestError, match="the manifest must be a JSON object"):
        Manifest.from_json([])
    releases = Manifest.from_json(good()).releases
    with pytest.raises(ValueError, match="releases are keyed by their version: 9.9.9"):
        Manifest("1.0.0", {}, "", {"9.9.9": releases["1.0.0"]}, {})


def test_reading_a_file_names_it_in_each_problem(tmp_path):
    path = tmp_path / "manifest.json"
    with pytest.raises(ManifestError, match=f"{path}: cannot read the manifest"):
        Manifest.read(path)
    path.write_text("{")
    with pytest.raises(ManifestError, match=f"{path}: cannot read the manifest"):
        Manifest.read(path)
    path.write_text(json.dumps({"latest": "1.0.0", "lines": {}, "changelog": "", "releases": {}}))
    with pytest.raises(ManifestError) as info:
        Manifest.read(path)
    assert info.value.errors == [f"{path}: 'files' is missing"]
