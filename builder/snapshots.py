"""What a publish put live, and switching a folder target between its snapshots.

Each publish is described by a ``Snapshot`` record: when (its name, a UTC timestamp), the git
commit of the checkout the build came from, and the widget versions its manifest serves. A folder
target keeps one record beside each snapshot::

    DIR/snapshots/20261126T214400.123456Z/        the tree (DIR/current points here)
    DIR/snapshots/20261126T214400.123456Z.json    its record, outside the served tree

so the commit is not served to readers. An S3 target keeps its records in ``.publish-state.json``.
``switch`` repoints ``DIR/current`` with one rename(2), as a publish does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import ErrorList

_NAME_FORMAT = "%Y%m%dT%H%M%S.%fZ"


class SnapshotError(ErrorList):
    """A refusal, with every reason; ``status`` is the exit status (2: bad input)."""

    def __init__(self, errors: list[str], status: int = 1) -> None:
        super().__init__(errors)
        self.status = status


@dataclass(frozen=True, slots=True)
class Snapshot:
    name: str  # its UTC time, '20261126T214400.123456Z': names sort by time
    commit: str | None  # the build's git commit; None: not built from a git checkout
    dirty: bool  # the checkout had uncommitted changes when published
    latest: str  # the manifest's newest stable release; "" when there is none
    lines: Mapping[str, str] = field(default_factory=dict)  # 'v1' -> the release 'v1/' serves

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.strptime(self.name, _NAME_FORMAT).replace(tzinfo=dt.UTC)

    @classmethod
    def from_json(cls, data: object) -> Snapshot:
        if not isinstance(data, Mapping):
            raise ValueError("a snapshot record must be a JSON object")
        kinds = {"name": str, "commit": (str, type(None)), "dirty": bool, "latest": str, "lines": Mapping}
        problems = [f"'{key}' is missing" if key not in data else f"'{key}' has the wrong type"
                    for key, kind in kinds.items() if not isinstance(data.get(key), kind) or key not in data]
        problems += [f"unknown key '{key}'" for key in data if key not in kinds]
        if problems:
            raise ValueError("; ".join(problems))
        return cls(data["name"], data["commit"], data["dirty"], data["latest"], dict(data["lines"]))

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "commit": self.commit, "dirty": self.dirty, "latest": self.latest,
                "lines": dict(self.lines)}

    def describe(self) -> str:
        """'2026-11-26 21:44:00 UTC  commit 1a2b3c4d5e6f  latest 2.5.0 (v1 1.4.0, v2 2.5.0)'"""
        commit = "unknown" if self.commit is None else self.commit[:12] + (" (uncommitted changes)" if self.dirty else "")
        lines = ", ".join(f"{line} {version}" for line, version in sorted(self.lines.items()))
        return (f"{self.time:%Y-%m-%d %H:%M:%S} UTC  commit {commit}  "
                f"latest {self.latest or 'none'}" + (f" ({lines})" if lines else ""))


def new_name(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime(_NAME_FORMAT)


def describe(source: Path) -> Snapshot:
    """The record of publishing the build in ``source`` now.

    The commit is the one checked out where ``source`` lives, as builds are made in the checkout
    (``dist/``). A folder target's snapshot given as ``source`` keeps the commit its own record says.
    """
    recorded = read_record(source.parent, source.name) if source.parent.name == "snapshots" else None
    if recorded is not None:
        commit, dirty = recorded.commit, recorded.dirty
    else:
        commit, dirty = _git_commit(source)
    latest, lines = _versions(source / "cdn/manifest.json")
    return Snapshot(new_name(), commit, dirty, latest, lines)


def _git_commit(folder: Path) -> tuple[str | None, bool]:
    # Outside variables such as GIT_DIR would name another repository than the folder's own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                                  timeout=30, env=env)
        except (OSError, subprocess.SubprocessError):
            return None  # no git here: the commit is unknown, which the record says
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if commit is None:
        return None, False
    return commit.strip(), bool(git("status", "--porcelain", "--untracked-files=no"))


def _versions(manifest: Path) -> tuple[str, dict[str, str]]:
    from registry.manifest import Manifest, ManifestError

    try:
        read = Manifest.read(manifest)
    except ManifestError:
        return "", {}  # the build's checks refuse a bad manifest; a record is no place to repeat them
    return read.latest, dict(read.lines)


# A folder target's snapshots.

def names(snapshots: Path) -> list[str]:
    """The snapshots in ``DIR/snapshots``, oldest first (staging folders start with a dot)."""
    if not snapshots.is_dir():
        return []
    return sorted(p.name for p in snapshots.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_record(snapshots: Path, name: str) -> Snapshot | None:
    """``name``'s record, or None for a snapshot published before records were kept (or unreadable)."""
    try:
        return Snapshot.from_json(json.loads((snapshots / f"{name}.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def write_record(snapshots: Path, record: Snapshot) -> None:
    temporary = snapshots / f".{record.name}.json.tmp"
    temporary.write_text(json.dumps(record.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, snapshots / f"{record.name}.json")


def current_name(root: Path) -> str | None:
    current = root / "current"
    return current.readlink().name if current.is_symlink() else None


def switch(root: Path, name: str) -> None:
    """Point ``root/current`` at ``snapshots/name``: a new link, renamed over the old one, so a
    reader resolves the old snapshot or the new one, never a missing ``current``."""
    link = root / f".current-{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(Path("snapshots") / name)
    os.replace(link, root / "current")  # the one atomic step readers can observe


def remove(snapshots: Path, name: str) -> None:
    shutil.rmtree(snapshots / name)
    (snapshots / f"{name}.json").unlink(missing_ok=True)


@contextlib.contextmanager
def lock(root: Path) -> Iterator[None]:
    """One publish or rollback at a time per folder target."""
    with open(root / ".publish.lock", "w") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SnapshotError([f"error: another publish to {root} is running; try again when it is done"]) from None
        yield


def rollback_target(root: Path, wanted: str | None) -> str:
    """The snapshot a rollback switches to: ``wanted``, or the one before the current one."""
    existing, current = names(root / "snapshots"), current_name(root)
    if current is None:
        raise SnapshotError([f"error: nothing is published at {root} (no {root / 'current'}); "
                             "nothing to roll back"])
    if wanted is not None:
        if wanted not in existing:
            raise SnapshotError([f"error: no snapshot '{wanted}' in {root / 'snapshots'}; "
                                 f"the snapshots are: {', '.join(existing)}"], 2)
        return wanted
    older = [name for name in existing if name < current]
    if not older:
        raise SnapshotError([f"error: nothing to roll back to: {current}, the current snapshot, is the oldest "
                             f"kept in {root / 'snapshots'}"])
    return older[-1]
