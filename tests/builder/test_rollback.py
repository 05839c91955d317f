import re
from pathlib import Path

import pytest

from builder.__main__ import main
from tests.builder.conftest import tiny_build


@pytest.fixture
def www(tmp_path) -> tuple[Path, list[str]]:
    """A folder target after three publishes (1.0.0, 1.0.1, 1.0.2); returns it and its snapshots, oldest first."""
    target = tmp_path / "www"
    for n in range(3):
        build = tiny_build(tmp_path / f"build{n}", latest=f"1.0.{n}", page=f"<p>{n}</p>")
        assert main(["publish", "--from", str(build), "--to", str(target)]) == 0
    return target, sorted(p.name for p in (target / "snapshots").iterdir() if p.is_dir())


def rollback(target: Path, *args: str) -> int:
    return main(["publish", "--to", str(target), "--rollback", *args])


def page(target: Path) -> str:
    return (target / "current/docs/index.html").read_text()


def test_lists_snapshots_newest_first_with_commit_and_versions_marking_the_current_one(www, capsys):
    target, names = www
    (target / "snapshots" / f"{names[0]}.json").unlink()  # as published before records were kept
    capsys.readouterr()
    assert main(["publish", "--to", str(target), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"snapshots at {target}, newest first (* = current, what {target / 'current'} points at):"
    assert re.fullmatch(rf"\* {names[2]}  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC  commit unknown  latest 1.0.2 \(v1 1.0.2\)",
                        lines[1])
    assert lines[2].startswith(f"  {names[1]}  ") and lines[2].endswith("latest 1.0.1 (v1 1.0.1)")
    assert lines[3] == f"  {names[0]}  no record (published before publish kept records)"

    assert rollback(target) == 0
    assert main(["publish", "--to", str(target), "--list"]) == 0
    marked = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("* ")]
    assert marked == [names[1]]


def test_rolls_back_to_the_previous_snapshot_or_a_named_one(www, capsys):
    target, names = www
    capsys.readouterr()
    assert rollback(target, "--dry-run") == 0
    assert f"would switch {target / 'current'}: snapshots/{names[2]} -> snapshots/{names[1]}" in capsys.readouterr().out
    assert page(target) == "<p>2</p>"

    assert rollback(target) == 0
    out = capsys.readouterr().out
    assert f"rolled back {target / 'current'}: snapshots/{names[2]} -> snapshots/{names[1]} in " in out
    assert "now live: " in out and "latest 1.0.1 (v1 1.0.1)" in out
    assert page(target) == "<p>1</p>" and (target / "current").readlink() == Path("snapshots", names[1])
    assert rollback(target) == 0 and page(target) == "<p>0</p>"  # and again, to the one before that
    assert rollback(target, names[2]) == 0 and page(target) == "<p>2</p>"  # forward, by name
    capsys.readouterr()
    assert rollback(target, names[2]) == 0
    assert f"already points at snapshots/{names[2]}; nothing changed" in capsys.readouterr().out


def test_refuses_an_unknown_snapshot_and_having_nothing_to_roll_back_to(www, tmp_path, capsys):
    target, names = www
    capsys.readouterr()
    assert rollback(target, "20200101T000000.000000Z") == 2
    assert capsys.readouterr().err == (f"error: no snapshot '20200101T000000.000000Z' in {target / 'snapshots'}; "
                                       f"the snapshots are: {', '.join(names)}\n")
    assert page(target) == "<p>2</p>"

    assert rollback(target, names[0]) == 0
    capsys.readouterr()
    assert rollback(target) == 1
    assert capsys.readouterr().err == (f"error: nothing to roll back to: {names[0]}, the current snapshot, is the "
                                       f"oldest kept in {target / 'snapshots'}\n")
    assert page(target) == "<p>0</p>"

    assert rollback(tmp_path / "empty") == 1
    assert f"error: nothing is published at {tmp_path / 'empty'}" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("args, messages", [
    (["--to", "W", "--list", "--rollback"], ["--list and --rollback: give one of them"]),
    (["--to", "W", "--list", "--from", "dist", "--dry-run"],
     ["--list shows what is published at --to; --from does not apply", "--list changes nothing; --dry-run does not apply"]),
    (["--to", "W", "--rollback", "--from", "dist"], ["--rollback switches DIR/current between DIR's own snapshots"]),
    (["--to", "s3://bucket/site", "--rollback", "20261126T214400.123456Z", "--from", "dist"],
     ["--rollback 20261126T214400.123456Z: snapshot names belong to folder targets"]),
    (["--to", "s3://bucket/site", "--rollback"], ["--rollback to S3 needs --from DIR: S3 keeps one copy of each alias"]),
    (["--to", "W", "--list", "--endpoint-url", "http://127.0.0.1:1"], ["--endpoint-url applies to s3:// targets only"]),
])
def test_refuses_flags_that_do_not_go_together(tmp_path, capsys, args, messages):
    target = tmp_path / "www"
    assert main(["publish", *(str(target) if a == "W" else a for a in args)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(messages) and all(line.startswith(f"error: {m}") for line, m in zip(err, messages))
    assert not target.exists()
