"""``python -m builder publish --list`` and ``--rollback``: what is published, and going back.

A folder target keeps its newest snapshots whole, so a rollback there is ``DIR/current`` switched
to an older snapshot in one rename(2), as atomic as a publish and as fast as a symbolic link.

An S3 target has no snapshots: each alias, page and manifest is one object, overwritten by every
publish, and exact versions are never changed. A rollback there republishes the mutable objects
from an older build, which ``--from`` names (a build of the older commit, or a folder target's
``DIR/snapshots/NAME``), with the usual publish rules: exact versions the older build shares are
unchanged, later exact versions stay published, objects only later builds have are not deleted.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from builder import snapshots

if TYPE_CHECKING:
    from builder.publish import _S3


def run(target: str, *, listing: bool, rollback: str | None, source: Path | None, endpoint_url: str | None,
        dry_run: bool) -> int:
    """``--list`` (``listing``) or ``--rollback [NAME]`` (``rollback``: the name, "" for the previous one)."""
    from builder.publish import _destination, _Folder

    s3 = urlsplit(target).scheme == "s3"
    try:
        _check_flags(not s3, listing, rollback, source, dry_run)
        if s3 and not listing:
            assert source is not None
            # A publish of the older build, which makes its own S3 client and reports its own errors.
            return _rollback_s3(source, target, endpoint_url, dry_run)
        destination = _destination(target, endpoint_url)
        if not isinstance(destination, _Folder):
            return _list_s3(destination)
        return _list_folder(Path(target)) if listing else _rollback_folder(Path(target), rollback or None, dry_run)
    except snapshots.SnapshotError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return exc.status


def _check_flags(folder: bool, listing: bool, rollback: str | None, source: Path | None, dry_run: bool) -> None:
    errors = []
    if listing and rollback is not None:
        errors.append("error: --list and --rollback: give one of them")
    if listing and source is not None:
        errors.append("error: --list shows what is published at --to; --from does not apply")
    if listing and dry_run:
        errors.append("error: --list changes nothing; --dry-run does not apply")
    if rollback is not None and folder and source is not None:
        errors.append("error: --rollback switches DIR/current between DIR's own snapshots; --from does not apply "
                      "(to publish an older build, publish it without --rollback)")
    if rollback and not folder:
        errors.append(f"error: --rollback {rollback}: snapshot names belong to folder targets; for S3 give --from "
                      "with the build to go back to")
    elif rollback is not None and not folder and source is None:
        errors.append("error: --rollback to S3 needs --from DIR: S3 keeps one copy of each alias, page and manifest, "
                      "so a rollback republishes them from an older build (a build of the older commit, or a "
                      "folder target's DIR/snapshots/NAME)")
    if errors:
        raise snapshots.SnapshotError(errors, 2)


def _list_folder(root: Path) -> int:
    existing, current = snapshots.names(root / "snapshots"), snapshots.current_name(root)
    if not existing:
        print(f"nothing is published at {root}")
        return 0
    print(f"snapshots at {root}, newest first (* = current, what {root / 'current'} points at):")
    for name in reversed(existing):
        record = snapshots.read_record(root / "snapshots", name)
        about = record.describe() if record else "no record (published before publish kept records)"
        print(f"{'*' if name == current else ' '} {name}  {about}")
    return 0


def _list_s3(destination: _S3) -> int:
    records = destination.records()
    if not records:
        print(f"no publish records at {destination}")
        return 0
    print(f"publishes to {destination}, newest first (* = the last complete publish, what is live):")
    for n, record in enumerate(reversed(records)):
        print(f"{'*' if n == 0 else ' '} {record.describe()}")
    return 0


def _rollback_folder(root: Path, wanted: str | None, dry_run: bool) -> int:
    snapshots.rollback_target(root, wanted)  # the refusals, before the lock (which needs DIR) is taken
    with contextlib.nullcontext() if dry_run else snapshots.lock(root):
        # Under the lock, so no publish switches current between this look and the switch.
        current, name = snapshots.current_name(root), snapshots.rollback_target(root, wanted)
        record = snapshots.read_record(root / "snapshots", name)
        about = record.describe() if record else "no record"
        if name == current:
            print(f"{root / 'current'} already points at snapshots/{name}; nothing changed")
            return 0
        if dry_run:
            print(f"would switch {root / 'current'}: snapshots/{current} -> snapshots/{name} ({about})")
            print("dry run: nothing was changed")
            return 0
        started = time.perf_counter()
        snapshots.switch(root, name)
        took = time.perf_counter() - started
    print(f"rolled back {root / 'current'}: snapshots/{current} -> snapshots/{name} in {took * 1000:.1f} ms")
    print(f"  now live: {about}")
    return 0


def _rollback_s3(source: Path, target: str, endpoint_url: str | None, dry_run: bool) -> int:
    from builder.publish import publish

    if (source / "cdn/manifest.json").is_file():
        print(f"rolling back {target} to the build in {source}: {snapshots.describe(source).describe()}")
        print("  exact versions stay as published; aliases, pages and the manifest are republished from it")
    return publish(source, target, endpoint_url=endpoint_url, dry_run=dry_run)
