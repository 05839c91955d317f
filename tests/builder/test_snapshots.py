import json
import os
import subprocess
from pathlib import Path

import pytest

from builder import snapshots
from builder.snapshots import Snapshot
from tests.builder.conftest import tiny_build


def test_a_record_round_trips_and_refuses_what_it_does_not_know():
    record = Snapshot("20261126T214400.123456Z", "1a2b3c4d5e6f7a8b", True, "2.5.0", {"v1": "1.4.0", "v2": "2.5.0"})
    assert Snapshot.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.describe() == ("2026-11-26 21:44:00 UTC  commit 1a2b3c4d5e6f (uncommitted changes)  "
                                 "latest 2.5.0 (v1 1.4.0, v2 2.5.0)")
    assert Snapshot("20261126T214400.123456Z", None, False, "", {}).describe() == \
        "2026-11-26 21:44:00 UTC  commit unknown  latest none"
    with pytest.raises(ValueError) as caught:
        Snapshot.from_json({"name": "x", "dirty": "no", "latest": "1.0.0", "lines": {}, "extra": 1})
    assert str(caught.value) == "'commit' is missing; 'dirty' has the wrong type; unknown key 'extra'"


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_describes_a_build_by_its_checkout_commit_and_its_manifest_versions(tmp_path):
    outside = tiny_build(tmp_path / "plain" / "dist", latest="1.2.0")
    record = snapshots.describe(outside)
    assert (record.commit, record.dirty, record.latest, record.lines) == (None, False, "1.2.0", {"v1": "1.2.0"})

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "site.toml").write_text("a\n")
    (repo / ".gitignore").write_text("dist/\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    dist = tiny_build(repo / "dist")
    assert (snapshots.describe(dist).commit, snapshots.describe(dist).dirty) == (_git(repo, "rev-parse", "HEAD"), False)
    (repo / "site.toml").write_text("b\n")  # built from a change not yet committed
    assert snapshots.describe(dist).dirty is True

    # A folder target's snapshot, published again elsewhere, keeps the commit it was built from.
    folder = tiny_build(tmp_path / "www/snapshots/20261126T214400.123456Z")
    snapshots.write_record(folder.parent, Snapshot(folder.name, "feedc0de", False, "1.0.0", {"v1": "1.0.0"}))
    assert snapshots.describe(folder).commit == "feedc0de"


def test_switch_replaces_current_in_one_rename(tmp_path, monkeypatch):
    for name in ("old", "new"):
        (tmp_path / "snapshots" / name).mkdir(parents=True)
        (tmp_path / "snapshots" / name / "index.html").write_text(name)
    snapshots.switch(tmp_path, "old")
    renames = []
    rename = os.replace

    def watched(source, destination):
        # At the rename, readers still see the old tree, and the new link is complete.
        assert (tmp_path / "current/index.html").read_text() == "old"
        assert (Path(source) / "index.html").read_text() == "new"
        renames.append(Path(destination))
        rename(source, destination)

    monkeypatch.setattr(snapshots.os, "replace", watched)
    snapshots.switch(tmp_path, "new")
    assert renames == [tmp_path / "current"]
    assert (tmp_path / "current").readlink() == Path("snapshots/new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "snapshots"]  # no temporary link left
