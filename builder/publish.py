"""``python -m builder publish``: put a build where readers get it, exact versions first, never changing one.

Rules for every target:

- An exact version (``cdn/vX.Y.Z/...``) is immutable: publishing different bytes over a published
  one is refused before anything is written; identical bytes are fine, so publishing is idempotent.
  Published exact versions are never deleted, even when the build no longer has them.
- Files go up in three phases: exact versions, then every other non-HTML file (the ``vN/`` and
  ``latest/`` aliases, CSS and scripts, ``_headers``), then HTML, JSON (``manifest.json``, the search
  index) and XML (sitemap, feed), which point at the rest.

A folder target is a series of complete snapshots and one symbolic link, swapped atomically::

    DIR/current -> snapshots/20261126T214400.123456Z   (serve DIR/current)
    DIR/snapshots/...                                   (the newest 3 are kept, for rollback)

Each publish writes a new snapshot (unchanged files and the published exact versions the build
lacks are hard links into the previous one) and its record (``builder.snapshots``: time, commit,
widget versions), then replaces ``current`` with one rename(2): a reader resolves the old tree or
the new one, never a mix. ``builder.rollback`` lists the snapshots and switches back. Beside
``current`` it writes nginx's and Caddy's configuration for serving it (``builder.webserver``:
``nginx.conf``, ``nginx-server.conf``, ``Caddyfile``), from the same cache policy as ``_headers``;
they name ``DIR/current``, so a rollback needs no new configuration.

An S3 target gets only the files whose MD5 differs from the object's ETag, or whose Content-Type
or Cache-Control (the build's policy, ``builder.headers``) differs from what they went up with,
which ``PREFIX/.publish-state.json`` records. ``_headers`` itself is not uploaded. ``.br`` and
``.gz`` files go up under their own keys with ``Content-Encoding: br`` / ``gzip`` and the type of
the uncompressed file, so a CDN in front can serve ``x.js.br`` for ``x.js`` when the browser
accepts it; ``x.js`` itself stays uncompressed for every other client. S3 publishing never
deletes objects. The state object also keeps the records of the last publishes, for ``--list``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from builder import snapshots, webserver
from builder.headers import EXACT_PATH

_POINTERS = (".html", ".xml", ".json")  # pages, feeds, manifest and search index name other files: last
_KEEP_SNAPSHOTS = 3
_KEEP_RECORDS = 20  # on S3: the records of the last publishes, for --list
_STATE = ".publish-state.json"  # on S3: the metadata each file was last uploaded with
_UPLOAD_THREADS = 8


class PublishError(snapshots.SnapshotError):
    """A refusal or failure, with every reason; ``status`` is the exit status (2: bad input)."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    path: str  # relative to the build output, with '/': 'cdn/v1.0.0/retell-widget.js'
    source: Path
    md5: str

    @property
    def phase(self) -> int:
        plain = re.sub(r"\.(br|gz)$", "", self.path)
        if is_exact(plain):
            return 0
        return 2 if plain.endswith(_POINTERS) else 1


@dataclass(frozen=True, slots=True)
class Published:
    md5: str | None  # None: the target cannot say without reading the file
    metadata_current: bool = True  # False: stored with another content type or cache policy


@dataclass(slots=True)
class Plan:
    put: list[LocalFile] = field(default_factory=list)  # in publishing order
    unchanged: list[LocalFile] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # published exact versions the build lacks
    dropped: list[str] = field(default_factory=list)  # other published files the build lacks
    conflicts: list[str] = field(default_factory=list)


def is_exact(path: str) -> bool:
    """An exact widget or SDK version's file (``cdn/v2.1.0/...``, ``cdn/sdk/2.0.8/...``): published
    once, never changed (the cache policy's immutable paths)."""
    return path.startswith("cdn/") and bool(EXACT_PATH.match(path[len("cdn/"):]))


def gather(source: Path) -> dict[str, LocalFile]:
    """Every file of a build output. Dot files (editor and build leftovers) are not published."""
    if not source.is_dir():
        raise PublishError([f"error: --from {source}: no such folder; run `python -m builder build` first"], 2)
    if not (source / "cdn/manifest.json").is_file():
        raise PublishError([f"error: --from {source}: not a build output (no cdn/manifest.json)"], 2)
    files = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in relative.split("/")):
            files[relative] = LocalFile(relative, path, _md5(path.read_bytes()))
    return files


def plan(local: dict[str, LocalFile], published: dict[str, Published], md5_of: Callable[[str], str]) -> Plan:
    """Compare the build with what is published; ``md5_of`` reads a published file's digest."""
    result = Plan()
    for path, file in local.items():
        remote = published.get(path)
        if remote is None:
            result.put.append(file)
            continue
        md5 = remote.md5 if remote.md5 is not None or not is_exact(path) else md5_of(path)
        if md5 != file.md5:
            (result.conflicts.append(path) if is_exact(path) else result.put.append(file))
        elif remote.metadata_current:
            result.unchanged.append(file)
        else:
            result.put.append(file)  # the same bytes again, with the current type and cache policy
    for path in sorted(set(published) - set(local)):
        (result.kept if is_exact(path) else result.dropped).append(path)
    result.put.sort(key=lambda f: (f.phase, f.path))
    return result


def publish(source: Path, target: str, *, endpoint_url: str | None = None, dry_run: bool = False) -> int:
    """The ``publish`` verb: print the plan or carry it out; return the exit status."""
    started = time.perf_counter()
    try:
        destination = _destination(target, endpoint_url)
        if isinstance(destination, _Folder) and destination.root.resolve().is_relative_to(source.resolve()):
            raise PublishError([f"error: --to {target} is inside --from {source}; publish elsewhere"], 2)
        local = {path: file for path, file in gather(source).items() if destination.wants(path)}
        with destination.locked(dry_run):
            the_plan = plan(local, destination.published(), destination.md5_of)
            if the_plan.conflicts:
                raise PublishError([
                    *(f"error: {path} is already published at {destination} with different bytes"
                      for path in the_plan.conflicts),
                    f"refusing to publish: {len(the_plan.conflicts)} exact-version file(s) would change. "
                    "A published version is immutable; release a new version (a new changelog entry) instead.",
                ])
            _print_plan(the_plan, destination, dry_run)
            if dry_run:
                print("dry run: nothing was changed")
                return 0
            if not destination.needs_write(the_plan):
                print(f"{destination} is up to date ({len(the_plan.unchanged)} files)")
                return 0
            destination.write(the_plan, _progress(len(the_plan.put)), snapshots.describe(source))
    except snapshots.SnapshotError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return exc.status
    print(f"published {len(the_plan.put)} file(s) to {destination} ({len(the_plan.unchanged)} unchanged) "
          f"in {time.perf_counter() - started:.2f}s")
    return 0


def _print_plan(the_plan: Plan, destination: _Folder | _S3, dry_run: bool) -> None:
    print(f"publish to {destination}: {len(the_plan.put)} to put, {len(the_plan.unchanged)} unchanged, "
          f"{len(the_plan.kept)} published exact-version file(s) kept")
    if dry_run:
        names = ("exact versions", "aliases and assets", "HTML, JSON and XML")
        for phase, name in enumerate(names):
            files = [f for f in the_plan.put if f.phase == phase]
            if files:
                print(f"  phase {phase + 1}, {name}:")
                print("\n".join(f"    put {f.path}  ({_describe(f.path)})" for f in files))
    if the_plan.dropped:
        print(f"  {len(the_plan.dropped)} published file(s) no longer in the build: {destination.drop_note}")


def _progress(total: int) -> Callable[[str], None]:
    done = 0

    def report(path: str) -> None:
        nonlocal done
        done += 1
        print(f"  [{done}/{total}] {path}", flush=True)

    return report


def _destination(target: str, endpoint_url: str | None) -> _Folder | _S3:
    parts = urlsplit(target)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise PublishError([f"error: --to {target}: name a bucket, as in s3://BUCKET/PREFIX"], 2)
        try:
            return _S3(parts.netloc, parts.path.strip("/"), endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None)
        except ValueError as exc:  # botocore's word for a malformed endpoint URL
            raise PublishError([f"error: --endpoint-url: {exc}"], 2) from None
    if "://" in target:
        raise PublishError([f"error: --to {target}: unsupported scheme '{parts.scheme}://'; "
                            "give a folder path or s3://BUCKET/PREFIX"], 2)
    if endpoint_url:
        raise PublishError(["error: --endpoint-url applies to s3:// targets only"], 2)
    return _Folder(Path(target))


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _describe(path: str) -> str:
    return "; ".join(f"{name}: {value}" for name, value in _headers(path).items() if name != "Vary")


def _headers(path: str) -> dict[str, str]:
    # The one place publish reads the cache and content-type policy, shared with _headers.
    from builder.headers import headers_for

    return headers_for(path)


class _Folder:
    drop_note = "left out of the new snapshot (still in the previous one)"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.current = root / "current"
        self.snapshots = root / "snapshots"

    def __str__(self) -> str:
        return str(self.root)

    def exists(self) -> bool:
        return self.current.is_symlink()

    def wants(self, path: str) -> bool:
        return True  # a Netlify- or Cloudflare-Pages-style host reads cdn/_headers from the tree

    def needs_write(self, the_plan: Plan) -> bool:
        return bool(the_plan.put or the_plan.dropped) or not self.exists() or webserver.stale(self.root)

    @contextlib.contextmanager
    def locked(self, dry_run: bool) -> Iterator[None]:
        if self.root.exists() and not self.root.is_dir():
            raise PublishError([f"error: --to {self.root}: is a file, not a folder"], 2)
        strangers = sorted(p.name for p in self.root.iterdir()
                           if p.name not in ("current", "snapshots", *webserver.FILES) and not p.name.startswith(".")
                           ) if self.root.is_dir() else []
        if strangers or (self.current.exists() and not self.current.is_symlink()):
            raise PublishError([f"error: --to {self.root}: holds files publish did not make "
                                f"({', '.join(strangers) or 'current'}); give an empty or new folder"], 2)
        if dry_run:
            yield
            return
        self.snapshots.mkdir(parents=True, exist_ok=True)
        with snapshots.lock(self.root):
            yield

    def published(self) -> dict[str, Published]:
        # Types and cache policy live in the tree's own _headers file, so bytes are all there is.
        if not self.exists():
            return {}
        base = self.current.resolve()
        return {p.relative_to(base).as_posix(): Published(_md5(p.read_bytes())) for p in base.rglob("*") if p.is_file()}

    def md5_of(self, path: str) -> str:
        return _md5((self.current / path).read_bytes())

    def write(self, the_plan: Plan, progress: Callable[[str], None], record: snapshots.Snapshot) -> None:
        previous = self.current.resolve() if self.exists() else None
        staging = self.snapshots / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            # Unchanged files and kept exact versions are hard links: snapshots are never edited.
            for path in [*(f.path for f in the_plan.unchanged), *the_plan.kept]:
                assert previous is not None
                _link_or_copy(previous / path, staging / path)
            for file in the_plan.put:
                _link_or_copy(file.source, staging / file.path, link=False)
                progress(file.path)
            name = record.name
            snapshot = self.snapshots / name
            snapshots.write_record(self.snapshots, record)
            staging.rename(snapshot)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            (self.snapshots / f"{record.name}.json").unlink(missing_ok=True)
            raise PublishError([f"error: writing the new snapshot failed: {exc}; {self.current} is unchanged"]) \
                from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        snapshots.switch(self.root, name)
        print(f"  {self.current} -> snapshots/{name}")
        self._prune(keep=snapshot)
        _write_web_server_files(self.root)

    def _prune(self, keep: Path) -> None:
        # Old snapshots share their files' inodes with the current one, so published exact
        # versions outlive any snapshot removed here.
        for name in snapshots.names(self.snapshots)[:-_KEEP_SNAPSHOTS]:
            if name != keep.name:
                snapshots.remove(self.snapshots, name)


class _S3:
    drop_note = "left in place (publishing to S3 never deletes)"

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix, self.endpoint_url = bucket, prefix, endpoint_url
        config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                        max_pool_connections=_UPLOAD_THREADS)
        # A session of our own, not boto3's module-wide default one, so credentials are read now.
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self._records: list[snapshots.Snapshot] = []  # the last publishes', as the state object has them

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def needs_write(self, the_plan: Plan) -> bool:
        return bool(the_plan.put)

    def wants(self, path: str) -> bool:
        # S3 applies the policy as object metadata; the rules file itself would only be public.
        return path.rsplit("/", 1)[-1] != "_headers"

    @contextlib.contextmanager
    def locked(self, dry_run: bool) -> Iterator[None]:
        # S3 has no lock; two publishes of different builds at once are the operator's to avoid.
        with self._errors():
            yield

    def published(self) -> dict[str, Published]:
        # Listing gives each object's ETag (its MD5, for a single-part upload) but not its metadata;
        # the state object from the last publish says which metadata each file went up with.
        start = f"{self.prefix}/" if self.prefix else ""
        etags = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                etags[item["Key"][len(start):]] = item["ETag"].strip('"')
        state = self._read_state() if etags.pop(_STATE, None) else {}
        stored, self._records = state.get("metadata", {}), _records(state)
        found = {}
        for path, etag in etags.items():
            metadata = self._metadata(path)
            # A multipart upload's ETag is not the MD5 of the object.
            found[path] = Published(None if "-" in etag else etag, stored.get(path, metadata) == metadata)
        return found

    def _read_state(self) -> dict:
        body = self.client.get_object(Bucket=self.bucket, Key=self.key(_STATE))["Body"].read()
        try:
            state = json.loads(body)
        except ValueError:
            state = None
        # An unreadable state only costs re-uploading files whose metadata changed, and the records.
        return state if isinstance(state, dict) and isinstance(state.get("metadata"), dict) else {}

    def records(self) -> list[snapshots.Snapshot]:
        """The records of the last publishes, oldest first; the last is what is live."""
        from botocore.exceptions import ClientError

        with self._errors():
            try:
                return _records(self._read_state())
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return []  # nothing published here yet
                raise

    def _write_state(self, local: list[LocalFile], record: snapshots.Snapshot) -> None:
        state = {"metadata": {f.path: self._metadata(f.path) for f in local},
                 "publishes": [r.to_json() for r in [*self._records, record][-_KEEP_RECORDS:]]}
        self.client.put_object(Bucket=self.bucket, Key=self.key(_STATE), Body=json.dumps(state, indent=1).encode(),
                               ContentType="application/json", CacheControl="no-store")

    def md5_of(self, path: str) -> str:
        return _md5(self.client.get_object(Bucket=self.bucket, Key=self.key(path))["Body"].read())

    def _metadata(self, path: str) -> dict[str, str]:
        headers = _headers(path)
        metadata = {"ContentType": headers["Content-Type"], "CacheControl": headers["Cache-Control"]}
        if "Content-Encoding" in headers:
            metadata["ContentEncoding"] = headers["Content-Encoding"]
        return metadata

    def _put(self, file: LocalFile) -> str:
        data = file.source.read_bytes()
        md5 = base64.b64encode(bytes.fromhex(file.md5)).decode()
        self.client.put_object(Bucket=self.bucket, Key=self.key(file.path), Body=data, ContentMD5=md5,
                               **self._metadata(file.path))
        return file.path

    def write(self, the_plan: Plan, progress: Callable[[str], None], record: snapshots.Snapshot) -> None:
        # Each phase finishes before the next starts, so nothing points at a file not yet up.
        pool = ThreadPoolExecutor(_UPLOAD_THREADS)
        try:
            with self._errors():
                for phase in (0, 1, 2):
                    pending = {pool.submit(self._put, f) for f in the_plan.put if f.phase == phase}
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                        for future in finished:
                            progress(future.result())
                self._write_state([*the_plan.unchanged, *the_plan.put], record)
        finally:
            # After a failure or Ctrl-C, start no more uploads; the ones under way finish.
            pool.shutdown(cancel_futures=True)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise PublishError([f"error: bucket '{self.bucket}' does not exist at {self.endpoint_url or 'AWS'}"]) \
                    from None
            message = exc.response.get("Error", {}).get("Message", "")
            raise PublishError([f"error: S3 refused ({code}): {message}; files already uploaded stay, "
                                "and publishing again resumes"]) from None
        except NoCredentialsError:
            raise PublishError(["error: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                "or AWS_PROFILE"]) from None
        except EndpointConnectionError as exc:
            raise PublishError([f"error: cannot reach S3 at {exc.kwargs.get('endpoint_url')}"]) from None
        except BotoCoreError as exc:
            raise PublishError([f"error: S3: {exc}"]) from None


def _records(state: dict) -> list[snapshots.Snapshot]:
    found = []
    for data in state.get("publishes", []) if isinstance(state.get("publishes"), list) else []:
        with contextlib.suppress(ValueError):
            found.append(snapshots.Snapshot.from_json(data))
    return found


def _write_web_server_files(root: Path) -> None:
    # nginx's and Caddy's configuration for serving root/current, from the same policy as _headers.
    written = webserver.write(root)
    print(f"  web server configuration: {', '.join(str(path) for path in written)}")


def _link_or_copy(source: Path, target: Path, link: bool = True) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # a file system without hard links: a copy is as good, only bigger
    shutil.copyfile(source, target)
