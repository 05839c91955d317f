"""Writing a build: changed files only, each replaced atomically, or a whole new tree swapped in."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from builder.render import Output


def write(out: Path, files: dict[str, Output], on_disk: dict[str, Output]) -> int:
    if not on_disk:
        write_atomically(out, {p: o.data for p, o in files.items()})  # type: ignore[misc]
        return len(files)
    written = 0
    folders: set[Path] = set()
    for path, output in files.items():
        old = on_disk.get(path)
        if old is not None and old.digest == output.digest:
            continue
        target = out / path
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(output.data)  # type: ignore[arg-type]
        tmp.replace(target)  # a reader sees the old file or the new one, never half of one
        written += 1
    for path in set(on_disk) - set(files):
        (out / path).unlink(missing_ok=True)
        parent = (out / path).parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return written


def write_atomically(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        folders: set[Path] = set()
        for path, data in files.items():
            target = staging / path
            if target.parent not in folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                folders.add(target.parent)
            target.write_bytes(data)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(old)
        staging.rename(out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
