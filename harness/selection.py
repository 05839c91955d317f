"""Which clients a ``python -m harness check`` run checks: ``--client``, ``--changed-since REF``
and ``--shard K/N``, applied in that order to the registry's clients, and why each was chosen.

``--changed-since REF`` asks git what changed between REF and the working tree (uncommitted and
untracked files included) and maps each changed path to the clients it can break, as the builder
maps files to what it serves (``builder.cdn``):

- ``clients.toml``: the clients whose parsed ``[[client]]`` table differs from REF's, or is new
  (so a comment or a reformatting changes nobody);
- ``<src>/releases/X.Y.Z/`` (an archived release) and ``<src>/changelog/X.Y.Z.md`` (what the
  release can do, in the manifest the proxy reads): the clients pinning X.Y.Z;
- ``<widget>/vN/``: the clients pinning line vN's current release, the one built from those
  sources; ``<widget>/core/``: the clients pinning any line's current release (the call core is
  built into each of them); a line's current release that moved: the clients pinning either one;
- everyone, for what every check runs through: ``<widget>/sdk/`` and the rest of ``<widget>/``,
  ``proxy/``, ``registry/``, ``builder/``, ``harness/``, ``serving/``, ``pyproject.toml``, the
  site's settings and templates, and any path no rule knows;
- nobody, for what no check reads: tests, benchmarks, the docs, deployment files, CI, ``*.md``.

A shard is chosen per client id, independently of the other clients, so the order of the steps
does not matter and a shard's members do not depend on what else changed.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import registry
from registry.errors import ErrorList

MAX_SHARDS = 1024
# Paths (from the repository's root) whose change can alter every client's check.
_EVERYONE = ("proxy/", "registry/", "builder/", "harness/", "serving/", "pyproject.toml")
# Paths no check reads: a change there selects nobody.
_NOBODY = ("tests/", "bench/", "docs-dev/", "deploy/", ".github/", ".ci/", ".gitignore", "LICENSE")
_VERSION_FILE = re.compile(r"(.+)\.md")


class SelectionError(ErrorList):
    """A flag that cannot select anything (a malformed shard, an unknown REF); ``errors`` says why."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as ``--shard 2/4`` writes it).

    A client belongs to the shard that scores highest for it, the score being a hash of the
    client's id and the shard's number (rendezvous hashing). With N fixed, a client's shard
    depends on its own id only: adding or removing a client moves no other client, and the
    shards stay even (a hash spreads ids uniformly). Unlike ``hash(id) mod N``, changing N moves
    only the clients the new shard takes (about 1/N of them) instead of nearly all, so a shard's
    history in CI stays comparable when the matrix grows. Its cost, N hashes per client, is
    microseconds against a browser's seconds.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"--shard {self.index}/{self.count}: N must be from 1 to {MAX_SHARDS}")
        if not 1 <= self.index <= self.count:
            raise ValueError(f"--shard {self.index}/{self.count}: K must be from 1 to N "
                             f"(the shards are 1/{self.count} to {self.count}/{self.count})")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if match is None:
            raise ValueError(f"--shard {text}: expected K/N, shard K of N, e.g. 2/4")
        return cls(int(match[1]), int(match[2]))

    def holds(self, client_id: str) -> bool:
        return shard_of(client_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(client_id: str, count: int) -> int:
    """The shard (1 to ``count``) that holds ``client_id``."""
    def score(shard: int) -> bytes:
        return hashlib.sha256(f"{shard}\0{client_id}".encode()).digest()
    return max(range(1, count + 1), key=score)


@dataclass(frozen=True, slots=True)
class Selection:
    clients: tuple[registry.Client, ...]  # in the registry's order
    reasons: tuple[str, ...]  # why they were chosen, one line each, to print


def select(clients: Sequence[registry.Client], registry_path: Path, widget: Path, only: Sequence[str] = (),
           changed_since: str | None = None, shard: Shard | None = None) -> Selection:
    """The clients a run checks, and why; ``SelectionError`` lists every problem (no browser needed)."""
    known = {c.id for c in clients}
    unknown = [c for c in only if c not in known]
    if unknown:
        raise SelectionError([f"--client {c}: no such client in {registry_path}" for c in unknown])
    chosen = [c for c in clients if not only or c.id in only]
    reasons: list[str] = []
    if changed_since is not None:
        why = changes_since(changed_since, registry_path, widget, chosen)
        reasons += _explain(why, chosen, changed_since)
        chosen = [c for c in chosen if "everyone" in why or c.id in why]
    if shard is not None:
        before = len(chosen)
        chosen = [c for c in chosen if shard.holds(c.id)]
        reasons.append(f"shard {shard}: {len(chosen)} of {before} clients")
    return Selection(tuple(chosen), tuple(reasons))


def _explain(why: dict[str, list[str]], clients: Sequence[registry.Client], ref: str) -> list[str]:
    if "everyone" in why:  # one line per cause, not one per client
        return [f"everyone: {cause}" for cause in why["everyone"]]
    lines = [f"{c.id}: {'; '.join(why[c.id])}" for c in clients if c.id in why]
    return lines or [f"nobody: no change since {ref} can affect a client's check"]


def changes_since(ref: str, registry_path: Path, widget: Path, clients: Sequence[registry.Client]) -> dict[str, list[str]]:
    """Client id (or "everyone") -> why a change since ``ref`` can have broken its check."""
    repo = _Repo.of(registry_path, ref)
    src, widget_rel = repo.prefix(registry_path.parent), repo.prefix(widget)
    why: dict[str, list[str]] = {}

    def add(key: str, reason: str) -> None:
        if reason not in why.setdefault(key, []):
            why[key].append(reason)

    for client_id, reason in _registry_changes(repo, registry_path, clients).items():
        add(client_id, reason)
    pinned: dict[str, list[str]] = {}
    for c in clients:
        pinned.setdefault(c.widget_version, []).append(c.id)
    current = _current_releases(path.stem for path in (registry_path.parent / "changelog").glob("*.md"))
    before = _current_releases(PurePosixPath(p).stem for p in repo.files(ref, f"{src}changelog/"))
    for line in sorted(set(current) | set(before)):
        if current.get(line) != before.get(line):
            for version in {current.get(line), before.get(line)} - {None}:
                for client_id in pinned.get(version, []):
                    add(client_id, f"pins {version}, which {'became' if version == current.get(line) else 'was'} "
                                   f"{line}'s current release (now {current.get(line)}, at {ref} {before.get(line)})")
    for path in repo.changed(ref):
        for key, reason in _path_effects(path, src, widget_rel, registry_path.name, current, pinned):
            add(key, reason)
    return why


def _path_effects(path: str, src: str, widget: str, registry_name: str, current: dict[str, str],
                  pinned: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(client id or "everyone", reason) for one changed path."""
    def pinning(versions: list[str], what: str) -> list[tuple[str, str]]:
        return [(cid, f"pins {v}, {what}") for v in versions for cid in pinned.get(v, [])]

    if path == f"{src}{registry_name}":
        return []  # compared entry by entry in _registry_changes
    if part := _under(path, f"{src}releases/"):
        return pinning([part.split("/")[0]], f"whose archived files changed ({src}releases/{part.split('/')[0]}/)")
    if (part := _under(path, f"{src}changelog/")) and (match := _VERSION_FILE.fullmatch(part)):
        return pinning([match[1]], f"whose changelog entry changed ({path})")
    if _under(path, f"{src}docs/") or path.endswith(".md") and "/" not in path:
        return []
    if part := _under(path, widget):
        folder = part.split("/")[0]
        if folder == "core":
            return pinning(sorted(current.values()), f"a current release, built with {widget}core/, which changed")
        if re.fullmatch(r"v\d+", folder):
            version = current.get(folder)
            return pinning([version] if version else [], f"built from {widget}{folder}/, which changed")
        return [("everyone", f"{widget}{folder}/ changed" if "/" in part else f"{path} changed")]
    if path.startswith(_NOBODY):
        return []
    area = next((a for a in _EVERYONE if path.startswith(a)), None)
    if area is not None:
        return [("everyone", f"{area} changed")]
    return [("everyone", f"{path} changed, and no rule limits what it affects")]


def _under(path: str, folder: str) -> str:
    return path[len(folder):] if path.startswith(folder) else ""


def _current_releases(stems) -> dict[str, str]:  # noqa: ANN001
    """Line -> the version its alias serves: its newest stable release, else its newest pre-release
    (as ``builder.cdn.current_releases`` chooses, from the changelog's file names)."""
    versions = sorted((registry.Version.parse(s) for s in stems if registry.Version.is_valid(s)), reverse=True)
    current: dict[str, registry.Version] = {}
    for version in versions:
        if version.line not in current or (version.stable and not current[version.line].stable):
            current[version.line] = version
    return {line: str(v) for line, v in current.items()}


def _registry_changes(repo: _Repo, registry_path: Path, clients: Sequence[registry.Client]) -> dict[str, str]:
    """Client id -> "new" or "changed", comparing the parsed tables (formatting is no change)."""
    rel = repo.relative(registry_path)
    try:
        old = tomllib.loads(repo.show(repo.ref, rel))
    except tomllib.TOMLDecodeError:
        return {"everyone": f"{rel} at {repo.ref} is not valid TOML, so no entry can be compared"}
    now = tomllib.loads(registry_path.read_text(encoding="utf-8"))  # valid: the registry loaded
    if {k: v for k, v in old.items() if k != "client"} != {k: v for k, v in now.items() if k != "client"}:
        return {"everyone": f"{rel}'s settings outside [[client]] changed"}
    before = _by_id(old.get("client"))
    entries = _by_id(now.get("client"))
    found = {}
    for client in clients:
        if client.id not in before:
            found[client.id] = f"new in {rel} since {repo.ref}"
        elif before[client.id] != entries.get(client.id):
            found[client.id] = "registry entry changed"
    return found


def _by_id(entries: object) -> dict[str, dict]:
    if not isinstance(entries, list):
        return {}
    return {e["id"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}


@dataclass(frozen=True, slots=True)
class _Repo:
    root: Path
    ref: str

    @classmethod
    def of(cls, registry_path: Path, ref: str) -> _Repo:
        """The git repository holding the registry, checked to know ``ref`` and to have the
        registry file there."""
        folder = registry_path.resolve().parent
        if not folder.is_dir():
            raise SelectionError([f"--changed-since {ref}: {registry_path.parent} does not exist"])
        try:
            top = _git(folder, "rev-parse", "--show-toplevel")
        except _GitFailed:
            raise SelectionError([f"--changed-since {ref}: {registry_path} is not in a git repository, "
                                  "so there is nothing to compare it with"]) from None
        repo = cls(Path(top).resolve(), ref)
        if ref.startswith("-") or not repo.exists(f"{ref}^{{commit}}"):
            raise SelectionError([f"--changed-since {ref}: no such commit, branch or tag in {repo.root} "
                                  "(in CI, fetch it first: git fetch origin main)"])
        rel = repo.relative(registry_path)
        if not repo.exists(f"{ref}:{rel}"):
            raise SelectionError([f"--changed-since {ref}: {rel} does not exist at {ref}, so no registry "
                                  "entry can be compared (check every client instead)"])
        return repo

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def prefix(self, folder: Path) -> str:
        """What the paths under ``folder`` start with ("" at the root); a folder outside the
        repository gets one that no path does."""
        try:
            rel = self.relative(folder)
        except ValueError:
            return "\0"
        return "" if rel == "." else rel + "/"

    def exists(self, name: str) -> bool:
        try:
            _git(self.root, "rev-parse", "--verify", "--quiet", name)
        except _GitFailed:
            return False
        return True

    def show(self, ref: str, rel: str) -> str:
        return _git(self.root, "show", f"{ref}:{rel}", strip=False)

    def files(self, ref: str, folder: str) -> list[str]:
        return _git(self.root, "ls-tree", "-z", "--name-only", ref, "--", folder, strip=False).split("\0")[:-1]

    def changed(self, ref: str) -> list[str]:
        """Paths changed between ``ref`` and the working tree, and untracked ones, from the root."""
        tracked = _git(self.root, "diff", "-z", "--name-only", "--no-renames", ref, "--", strip=False)
        untracked = _git(self.root, "ls-files", "-z", "--others", "--exclude-standard", strip=False)
        return sorted(set((tracked + untracked).split("\0")) - {""})


class _GitFailed(Exception):
    pass


def _git(cwd: Path, *args: str, strip: bool = True) -> str:
    try:
        result = subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=cwd, capture_output=True,
                                text=True, encoding="utf-8", timeout=60, check=False)
    except FileNotFoundError:
        raise SelectionError(["--changed-since needs git, which is not installed"]) from None
    if result.returncode != 0:
        raise _GitFailed(result.stderr.strip())
    return result.stdout.strip() if strip else result.stdout
