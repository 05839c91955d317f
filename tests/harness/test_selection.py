"""Which clients ``harness check`` runs: ``--shard`` and ``--changed-since``, on a small git
repository made in tmp_path (no sandbox, no browser)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.selection import Selection, SelectionError, Shard, select, shard_of
from registry import load

# (id, widget_version): client-a pins an archived release, client-b v1's current one (built from
# widget/v1/), client-c and client-d v2's current one.
CLIENTS = [("client-a", "1.0.0"), ("client-b", "1.1.0"), ("client-c", "2.0.0"), ("client-d", "2.0.0")]
FILES = {
    "site_src/changelog/1.0.0.md": "version: 1.0.0\n", "site_src/changelog/1.1.0.md": "version: 1.1.0\n",
    "site_src/changelog/2.0.0.md": "version: 2.0.0\n", "site_src/releases/1.0.0/retell-widget.js": "one();\n",
    "site_src/docs/index.md": "# Docs\n", "widget/v1/retell-widget.js": "v1();\n", "widget/v2/retell-widget.js": "v2();\n",
    "widget/core/call.js": "call();\n", "widget/sdk/retell-web-client.js": "sdk();\n", "proxy/app.py": "app = 1\n",
    "tests/test_x.py": "x = 1\n", "README.md": "# Read me\n",
}
_GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def entry(client_id: str, version: str, name: str | None = None) -> str:
    return (f'[[client]]\nid = "{client_id}"\nname = "{name or client_id.title()}"\norigins = ["https://{client_id}.example"]\n'
            f'agents = ["agent_{client_id.replace("-", "_")}"]\ntheme = "blue"\nposition = "bottom-right"\n'
            f'widget_version = "{version}"\nbrand_color = "#123456"\n\n')


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **_GIT}).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose commit tagged ``base`` has the registry and every file above; a first
    commit, tagged ``empty``, has no registry."""
    git(tmp_path, "init", "-q", "-b", "main")
    write(tmp_path, "README.md", "# Read me\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "empty")
    git(tmp_path, "tag", "empty")
    for path, text in FILES.items():
        write(tmp_path, path, text)
    write(tmp_path, "site_src/clients.toml", "".join(entry(*c) for c in CLIENTS))
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    git(tmp_path, "tag", "base")
    return tmp_path


def write(repo: Path, path: str, text: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)


def chosen(repo: Path, ref: str = "base", **flags) -> Selection:  # noqa: ANN003
    path = repo / "site_src" / "clients.toml"
    return select(load(path).clients, path, repo / "widget", changed_since=ref, **flags)


def ids(selection: Selection) -> list[str]:
    return [c.id for c in selection.clients]


def test_registry_edits_select_the_changed_and_new_entries_and_formatting_changes_nobody(repo):
    registry = repo / "site_src" / "clients.toml"
    # Reordered, commented, re-spaced: the same parsed entries.
    registry.write_text("# the clients\n" + "".join(entry(*c).replace(" = ", "=") for c in reversed(CLIENTS)))
    assert chosen(repo).reasons == ("nobody: no change since base can affect a client's check",)
    assert ids(chosen(repo)) == []
    registry.write_text("".join(entry(*c, name="Renamed" if c[0] == "client-b" else None) for c in CLIENTS)
                        + entry("client-e", "2.0.0"))
    selection = chosen(repo)
    assert ids(selection) == ["client-b", "client-e"]
    assert selection.reasons == ("client-b: registry entry changed",
                                 "client-e: new in site_src/clients.toml since base")
    git(repo, "commit", "-qam", "edit")  # committed or not, the comparison is with base
    assert chosen(repo).reasons == selection.reasons


# A changed path -> the reasons printed (one repository for every case: each is undone after).
EFFECTS = [
    ("site_src/releases/1.0.0/retell-widget.js",
     ["client-a: pins 1.0.0, whose archived files changed (site_src/releases/1.0.0/)"]),
    ("site_src/changelog/2.0.0.md", ["client-c: pins 2.0.0, whose changelog entry changed (site_src/changelog/2.0.0.md)",
                                     "client-d: pins 2.0.0, whose changelog entry changed (site_src/changelog/2.0.0.md)"]),
    ("widget/v1/retell-widget.js", ["client-b: pins 1.1.0, built from widget/v1/, which changed"]),
    ("widget/core/call.js", [f"{c}: pins {v}, a current release, built with widget/core/, which changed"
                             for c, v in CLIENTS[1:]]),
    ("widget/sdk/retell-web-client.js", ["everyone: widget/sdk/ changed"]),
    ("proxy/app.py", ["everyone: proxy/ changed"]),
    ("harness/check.py", ["everyone: harness/ changed"]),  # a new, untracked file counts too
    ("Makefile", ["everyone: Makefile changed, and no rule limits what it affects"]),
    ("tests/test_x.py", ["nobody: no change since base can affect a client's check"]),
    ("site_src/docs/index.md", ["nobody: no change since base can affect a client's check"]),
    ("README.md", ["nobody: no change since base can affect a client's check"]),
]


def test_a_changed_file_selects_the_clients_it_can_break(repo):
    for path, expected in EFFECTS:
        write(repo, path, "changed();\n")
        selection = chosen(repo)
        assert list(selection.reasons) == expected, path
        everyone = expected[0].startswith("everyone")
        assert ids(selection) == ([c for c, _ in CLIENTS] if everyone else
                                  [line.split(":")[0] for line in expected if not line.startswith("nobody")]), path
        git(repo, "reset", "-q", "--hard", "base")
        git(repo, "clean", "-qfd")


def test_a_line_whose_current_release_moves_selects_the_clients_of_the_old_one(repo):
    write(repo, "site_src/changelog/1.2.0.md", "version: 1.2.0\n")
    selection = chosen(repo)
    assert ids(selection) == ["client-b"]
    # Its files now come from the archive, not from widget/v1/.
    assert selection.reasons == ("client-b: pins 1.1.0, which was v1's current release (now 1.2.0, at base 1.1.0)",)


def test_changed_since_is_refused_before_any_browser(repo, tmp_path_factory):
    path = repo / "site_src" / "clients.toml"
    clients = load(path).clients
    refusals = {
        "no-such-ref": "--changed-since no-such-ref: no such commit, branch or tag in",
        "--output=x": "--changed-since --output=x: no such commit, branch or tag in",
        "empty": "--changed-since empty: site_src/clients.toml does not exist at empty, so no registry entry can be compared",
    }
    for ref, message in refusals.items():
        with pytest.raises(SelectionError) as caught:
            select(clients, path, repo / "widget", changed_since=ref)
        assert caught.value.errors[0].startswith(message), caught.value.errors
    outside = tmp_path_factory.mktemp("not-a-repo") / "clients.toml"
    outside.write_text(entry("client-a", "1.0.0"))
    with pytest.raises(SelectionError) as caught:
        select(load(outside).clients, outside, outside.parent / "widget", changed_since="base")
    assert caught.value.errors == [f"--changed-since base: {outside} is not in a git repository, so there is nothing "
                                   "to compare it with"]
    with pytest.raises(SelectionError) as caught:
        select(clients, path, repo / "widget", only=["client-a", "client-x", "client-y"])
    assert caught.value.errors == [f"--client client-x: no such client in {path}", f"--client client-y: no such client in {path}"]


@pytest.mark.parametrize("text, message", [
    ("0/3", "--shard 0/3: K must be from 1 to N (the shards are 1/3 to 3/3)"),
    ("4/3", "--shard 4/3: K must be from 1 to N (the shards are 1/3 to 3/3)"),
    ("1/0", "--shard 1/0: N must be from 1 to 1024"),
    ("x", "--shard x: expected K/N, shard K of N, e.g. 2/4"),
    ("1/2/3", "--shard 1/2/3: expected K/N, shard K of N, e.g. 2/4"),
    ("-1/3", "--shard -1/3: expected K/N, shard K of N, e.g. 2/4"),
])
def test_a_malformed_shard_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError) as caught:
        Shard.parse(text)
    assert str(caught.value) == message


def test_shards_cover_every_client_once_evenly_and_a_new_client_moves_no_other():
    names = [f"client-{n}" for n in range(1000)]
    homes = {name: shard_of(name, 4) for name in names}
    assert {name for name in names if any(Shard(k, 4).holds(name) for k in range(1, 5))} == set(names)
    assert all(sum(Shard(k, 4).holds(name) for k in range(1, 5)) == 1 for name in names[:50])
    sizes = [list(homes.values()).count(k) for k in range(1, 5)]
    assert all(200 <= size <= 300 for size in sizes), sizes
    # A client's shard is its id's alone: adding clients moves none, and a fifth shard takes
    # about a fifth of the clients from the others and moves no client between the first four.
    moved = [name for name in names if shard_of(name, 5) != homes[name]]
    assert 150 <= len(moved) <= 250, len(moved)
    assert all(shard_of(name, 5) == 5 for name in moved)
    assert Shard.parse(" 2/4 ") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"


def test_changed_since_then_shard_and_client(repo):
    write(repo, "proxy/app.py", "changed();\n")
    everyone = [c for c, _ in CLIENTS]
    parts = [ids(chosen(repo, shard=Shard(k, 2))) for k in (1, 2)]
    assert sorted(parts[0] + parts[1]) == everyone
    assert parts[0] == [c for c in everyone if shard_of(c, 2) == 1]
    selection = chosen(repo, shard=Shard(1, 2), only=["client-a", "client-b"])
    assert ids(selection) == [c for c in ["client-a", "client-b"] if shard_of(c, 2) == 1]
    assert selection.reasons == ("everyone: proxy/ changed", f"shard 1/2: {len(ids(selection))} of 2 clients")
