import json
import re
from pathlib import Path

from builder.__main__ import main
from tests.builder.conftest import V1_CSS, V1_JS, release

V1_FIX = V1_JS.replace("hello from v1", "hello from v1.1")


def run(verb: str, root: Path) -> int:
    return main([verb, "--src", str(root / "site_src"), "--widget", str(root / "widget"), "--out", str(root / "dist")])


def test_freeze_archives_the_current_release_once(make_site, capsys):
    root = make_site()
    assert run("freeze", root) == 0
    assert "archived 1.0.0 in" in capsys.readouterr().out
    record = json.loads((root / "site_src/releases/1.0.0/release.json").read_text())
    assert record["line"] == "v1" and set(record["files"]) == {"retell-widget.js", "retell-widget.css"}
    assert run("freeze", root) == 0
    assert "already archived" in capsys.readouterr().out


def test_an_older_release_keeps_its_archived_bytes_after_the_line_moves_on(make_site):
    root = make_site()
    assert run("freeze", root) == 0 and run("build", root) == 0
    pinned = (root / "dist/cdn/v1.0.0/retell-widget.js").read_bytes()
    manifest = json.loads((root / "dist/cdn/manifest.json").read_text())
    integrity = manifest["files"]["v1.0.0/retell-widget.js"]["integrity"]

    (root / "widget/v1/retell-widget.js").write_text(V1_FIX)
    (root / "site_src/changelog/1.1.0.md").write_text(release("1.1.0", "2026-12-02"))
    assert run("build", root) == 0
    manifest = json.loads((root / "dist/cdn/manifest.json").read_text())
    assert manifest["lines"] == {"v1": "1.1.0"} and manifest["latest"] == "1.1.0"
    # The client pinning 1.0.0 still gets the same bytes, so its integrity hash still holds.
    assert (root / "dist/cdn/v1.0.0/retell-widget.js").read_bytes() == pinned
    assert manifest["files"]["v1.0.0/retell-widget.js"]["integrity"] == integrity
    assert b"hello from v1.1" in (root / "dist/cdn/v1/retell-widget.js").read_bytes()
    assert b"hello from v1.1" in (root / "dist/cdn/v1.1.0/retell-widget.js").read_bytes()
    demo = (root / "dist/clients/client-a/index.html").read_text()
    assert f'integrity="{integrity}"' in demo and "the line's current release is 1.1.0" in demo


def test_changing_a_released_widget_without_a_new_version_fails(make_site, capsys):
    root = make_site()
    assert run("freeze", root) == 0
    (root / "widget/v1/retell-widget.js").write_text(V1_FIX)
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert re.search(r"1\.0\.0\.md:1: .*widget/v1 has changed since 1\.0\.0 was released .*"
                     r"add a changelog entry for the next v1 version, e\.g\. .*1\.0\.1\.md", err)


def test_an_older_release_without_an_archive_fails(make_site, capsys):
    root = make_site(releases={"1.0.0.md": release("1.0.0"), "1.1.0.md": release("1.1.0")})
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert re.search(r"1\.0\.0\.md:1: release 1\.0\.0 is older than v1's current 1\.1\.0 and has no archived files", err)


def test_a_tampered_archive_fails(make_site, capsys):
    root = make_site()
    assert run("freeze", root) == 0
    archived = root / "site_src/releases/1.0.0/retell-widget.css"
    archived.write_text(archived.read_text() + "x")
    (root / "site_src/releases/1.0.0/retell-widget.js").unlink()
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert "archived file retell-widget.css no longer matches the integrity 1.0.0 was released with" in err
    assert "archived file retell-widget.js of release 1.0.0 is missing" in err


def test_a_broken_release_record_fails(make_site, capsys):
    root = make_site()
    assert run("freeze", root) == 0
    (root / "site_src/releases/1.0.0/release.json").write_text("{")
    assert run("build", root) == 1
    assert "release.json:1: not a release record" in capsys.readouterr().err


def test_latest_skips_pre_releases_and_a_line_serves_its_newest_stable(make_site):
    root = make_site(
        widget={"v1/retell-widget.js": V1_JS, "v1/retell-widget.css": V1_CSS,
                "v2/retell-widget.js": "export const x = 1;\n"},
        releases={"1.0.0.md": release("1.0.0"), "2.0.0-beta.1.md": release("2.0.0-beta.1", "2026-12-01")},
    )
    assert run("build", root) == 0
    manifest = json.loads((root / "dist/cdn/manifest.json").read_text())
    assert manifest["latest"] == "1.0.0"
    assert manifest["lines"] == {"v1": "1.0.0", "v2": "2.0.0-beta.1"}
    assert manifest["releases"]["2.0.0-beta.1"]["stable"] is False
    assert (root / "dist/cdn/v2.0.0-beta.1/retell-widget.js").is_file()


def test_private_widget_files_are_not_published(make_site):
    root = make_site(widget={"v1/retell-widget.js": V1_JS, "v1/chunks/panel.js": "export const p = 1;\n",
                             "v1/retell-widget.d.ts": "export declare class RetellWidget {}\n",
                             "v1/demo/index.html": "<p>demo</p>", "v1/tests/x.js": "x", "v1/_draft.js": "x",
                             "v1/README.md": "notes"})
    assert run("build", root) == 0
    published = sorted(p.relative_to(root / "dist/cdn/v1.0.0").as_posix() for p in (root / "dist/cdn/v1.0.0").rglob("*"))
    assert published == ["chunks", "chunks/panel.js", "chunks/panel.js.br", "chunks/panel.js.gz",
                         "retell-widget.d.ts", "retell-widget.js", "retell-widget.js.br", "retell-widget.js.gz"]
    assert "declare class" in (root / "dist/cdn/v1.0.0/retell-widget.d.ts").read_text()


def test_a_widget_file_that_cannot_be_minified_is_an_error(make_site, capsys):
    root = make_site(widget={"v1/retell-widget.js": "function ( {\n"})
    assert run("build", root) == 1
    assert re.search(r"widget/v1/retell-widget\.js:1: cannot minify: ", capsys.readouterr().err)


def test_the_real_sites_manifest_reads_back_byte_for_byte(tmp_path):
    from registry import Manifest
    from tests.conftest import REPO

    assert main(["build", "--src", str(REPO / "site_src"), "--widget", str(REPO / "widget"), "--out", str(tmp_path / "dist")]) == 0
    path = tmp_path / "dist/cdn/manifest.json"
    manifest = Manifest.read(path)
    assert json.dumps(manifest.to_json(), indent=2) == path.read_text()
    # What each release can do is the changelog's: the first of each line to send a bot token.
    assert {v for v, r in manifest.releases.items() if r.supports("bot-token") and r.key.minor == 2} == {"1.2.0", "2.2.0"}
    assert not manifest.releases["2.1.0"].supports("bot-token")


CORE = "// The shared call core.\nexport const core = 'one';\n"


def test_the_shared_core_is_published_in_each_lines_release_and_frozen_with_it(make_site, capsys):
    root = make_site(widget={"v1/retell-widget.js": V1_JS, "v2/retell-widget.js": V1_JS, "core/call.js": CORE,
                             "core/tests/x.js": "x"},
                     releases={"1.0.0.md": release("1.0.0"), "2.0.0.md": release("2.0.0")})
    assert run("build", root) == 0
    for folder in ("v1.0.0", "v2.0.0", "v1", "v2", "latest"):
        assert "core" in (root / f"dist/cdn/{folder}/core/call.js").read_text()
    assert not (root / "dist/cdn/core").exists() and not (root / "dist/cdn/v1.0.0/core/tests").exists()
    files = json.loads((root / "dist/cdn/manifest.json").read_text())["files"]
    assert files["v1.0.0/core/call.js"]["module"] is True

    # Frozen with each release: a later change to the core needs new releases, and the archived
    # ones keep the bytes they were released with.
    assert run("freeze", root) == 0
    assert (root / "site_src/releases/1.0.0/core/call.js").is_file()
    released = (root / "dist/cdn/v1.0.0/core/call.js").read_bytes()
    (root / "widget/core/call.js").write_text(CORE.replace("one", "two"))
    assert run("build", root) == 1
    err = capsys.readouterr().err
    assert "has changed since 1.0.0 was released" in err and "has changed since 2.0.0 was released" in err
    (root / "site_src/changelog/1.0.1.md").write_text(release("1.0.1", "2026-11-27"))
    (root / "site_src/changelog/2.0.1.md").write_text(release("2.0.1", "2026-11-27"))
    assert run("build", root) == 0
    assert (root / "dist/cdn/v1.0.0/core/call.js").read_bytes() == released
    assert "two" in (root / "dist/cdn/v1.0.1/core/call.js").read_text()


def test_a_line_without_its_own_sources_is_not_built_from_the_core_alone(make_site, capsys):
    root = make_site(widget={"v1/retell-widget.js": V1_JS, "core/call.js": CORE, "v2/notes.txt": "x"},
                     releases={"1.0.0.md": release("1.0.0"), "2.0.0.md": release("2.0.0")})
    assert run("build", root) == 1
    assert "release 2.0.0 needs widget sources in" in capsys.readouterr().err
