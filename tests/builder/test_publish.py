import contextlib
import fcntl
import gzip
import json
import logging
import re
import resource
import shutil
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from builder.__main__ import main
from builder.headers import headers_for
from builder.publish import LocalFile, Published, plan
from tests.builder.conftest import tiny_build, write_site
from tests.conftest import REPO, running

EXACT_JS = "cdn/v1.0.0/retell-widget.js"


def _build(root: Path) -> Path:
    assert main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"),
                 "--out", str(root / "dist")]) == 0
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One build of the tiny fixture site (tests/builder/conftest.py), as `python -m builder build`
    writes it, for the module: an exact version with its alias, Retell's SDK, docs and demo pages,
    a few of each kind of file, which is what these tests look at. Publishing the real build costs
    20 to 30 ms a file on the local S3 server, and a copy per test; the first folder test
    publishes it."""
    return _build(write_site(tmp_path_factory.mktemp("built")))


@pytest.fixture
def dist(built, tmp_path) -> Path:
    """A fresh copy of that build (sources beside it), each test's own to change."""
    shutil.copytree(built, tmp_path / "site")
    return tmp_path / "site" / "dist"


def publish(dist: Path, to: str, *extra: str) -> int:
    return main(["publish", "--from", str(dist), "--to", to, *extra])


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def progress_paths(out: str) -> list[str]:
    return re.findall(r"^  \[\d+/\d+\] (\S+)$", out, re.M)


def phase(path: str) -> int:
    """Exact versions first, then other assets, then what points at them (the rule publish follows)."""
    plain = re.sub(r"\.(br|gz)$", "", path)
    return 0 if re.match(r"cdn/(v|sdk/)\d+\.\d+\.\d+/", plain) else 2 if plain.endswith((".html", ".json", ".xml")) else 1


def test_plan_reads_an_exact_version_only_when_the_target_cannot_give_its_digest():
    exact = LocalFile(EXACT_JS, Path("unused"), "aa")
    page = LocalFile("docs/index.html", Path("unused"), "bb")
    unknown = {EXACT_JS: Published(None), "docs/index.html": Published(None)}

    def never(path: str) -> str:
        raise AssertionError(f"read {path}")

    assert plan({EXACT_JS: exact}, unknown, lambda path: "aa").unchanged == [exact]
    assert plan({EXACT_JS: exact}, unknown, lambda path: "ff").conflicts == [EXACT_JS]
    # Any other file with an unknown digest is simply put again, without reading it.
    assert plan({"docs/index.html": page}, unknown, never).put == [page]
    assert plan({EXACT_JS: exact}, {EXACT_JS: Published("aa", metadata_current=False)}, never).put == [exact]
    assert plan({}, unknown, never).kept == [EXACT_JS]


# Publishing to a folder.

def test_publishes_a_build_as_a_snapshot_behind_the_current_link(tmp_path, capsys):
    # The real site's build, every file of it: each kind of file it has goes in its phase.
    shutil.copytree(REPO / "site_src", tmp_path / "real" / "site_src")
    shutil.copytree(REPO / "widget", tmp_path / "real" / "widget")
    dist = _build(tmp_path / "real") / "dist"
    capsys.readouterr()
    target = tmp_path / "www"
    assert publish(dist, str(target)) == 0
    assert (target / "current").is_symlink()
    assert tree(target / "current") == tree(dist)
    out = capsys.readouterr().out
    paths = progress_paths(out)
    assert sorted(paths) == sorted(tree(dist)) and re.search(rf"\[{len(paths)}/{len(paths)}\]", out)
    assert [phase(p) for p in paths] == sorted(phase(p) for p in paths)
    assert f"published {len(paths)} file(s) to {target} (0 unchanged)" in out

    # Idempotent: the same build again changes nothing, not even the link.
    link = (target / "current").readlink()
    assert publish(dist, str(target)) == 0
    assert f"{target} is up to date ({len(paths)} files)" in capsys.readouterr().out
    # One snapshot, and beside it (outside the served tree) its record.
    assert (target / "current").readlink() == link
    assert sorted(p.name for p in (target / "snapshots").iterdir()) == [link.name, f"{link.name}.json"]


def test_a_changed_page_makes_a_new_snapshot_and_keeps_exact_versions_the_build_lacks(dist, tmp_path, capsys):
    target = tmp_path / "www"
    assert publish(dist, str(target)) == 0
    first = (target / "current").resolve()
    published_js = (dist / EXACT_JS).read_bytes()
    # The next build has a new release and no longer the old exact version.
    (dist / "cdn/v1.0.1").mkdir()
    (dist / "cdn/v1.0.1/retell-widget.js").write_bytes(b"// 1.0.1\n")
    (dist / "cdn/v1/retell-widget.js").write_bytes(b"// 1.0.1\n")
    (dist / EXACT_JS).unlink()
    (dist / "docs/getting-started/index.html").write_text("<p>new page</p>")
    capsys.readouterr()

    assert publish(dist, str(target)) == 0
    out = capsys.readouterr().out
    assert "3 to put" in out and "1 published exact-version file(s) kept" in out
    current = target / "current"
    assert current.resolve() != first
    assert (current / EXACT_JS).read_bytes() == published_js
    assert (current / "cdn/v1.0.1/retell-widget.js").read_bytes() == b"// 1.0.1\n"
    assert (current / "docs/getting-started/index.html").read_text() == "<p>new page</p>"
    # The previous snapshot is intact, for a rollback; unchanged files share its storage.
    assert (first / "cdn/v1/retell-widget.js").read_bytes() != b"// 1.0.1\n"
    assert (current / "clients/index.html").stat().st_ino == (first / "clients/index.html").stat().st_ino


@pytest.mark.parametrize("exact", [EXACT_JS, "cdn/sdk/2.0.8/retell-web-client.js"])
def test_refuses_to_change_a_published_exact_version(dist, tmp_path, capsys, exact):
    target = tmp_path / "www"
    assert publish(dist, str(target)) == 0
    before = tree(target / "current")
    (dist / exact).write_bytes(b"// same version, different bytes\n")
    (dist / "docs/index.html").write_text("<p>changed too</p>")
    capsys.readouterr()

    assert publish(dist, str(target)) == 1
    err = capsys.readouterr().err
    assert f"error: {exact} is already published at {target} with different bytes" in err
    assert "refusing to publish: 1 exact-version file(s) would change" in err
    assert tree(target / "current") == before


def test_a_failed_write_leaves_the_published_tree_as_it_was(dist, tmp_path, capsys):
    target = tmp_path / "www"
    assert publish(dist, str(target)) == 0
    before, link = tree(target / "current"), (target / "current").readlink()
    (dist / "docs/index.html").write_text("<p>new</p>" + "x" * 4096)
    # A full disk, as the kernel reports it: this process may not write a file past 1 KB, so the
    # changed page (copied, not linked) fails with EFBIG while the unchanged files link fine.
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limits[1]))
    try:
        assert publish(dist, str(target)) == 1
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert "writing the new snapshot failed: [Errno 27] File too large" in capsys.readouterr().err
    assert (target / "current").readlink() == link and tree(target / "current") == before
    assert sorted(p.name for p in (target / "snapshots").iterdir()) == [link.name, f"{link.name}.json"]


def test_keeps_the_newest_three_snapshots(dist, tmp_path):
    target = tmp_path / "www"
    for n in range(5):
        (dist / "docs/index.html").write_text(f"<p>{n}</p>")
        assert publish(dist, str(target)) == 0
    folders = sorted(p.name for p in (target / "snapshots").iterdir() if p.is_dir())
    records = sorted(p.name for p in (target / "snapshots").iterdir() if p.is_file())
    assert len(folders) == 3 and records == [f"{name}.json" for name in folders]  # pruned together
    assert (target / "current/docs/index.html").read_text() == "<p>4</p>"
    assert (target / "current" / EXACT_JS).is_file()


def test_dry_run_prints_the_plan_in_publishing_order_and_writes_nothing(dist, tmp_path, capsys):
    target = tmp_path / "www"
    assert publish(dist, str(target), "--dry-run") == 0
    out = capsys.readouterr().out
    assert not target.exists()
    puts = re.findall(r"^    put (\S+)  \((.*)\)$", out, re.M)
    assert sorted(p for p, _ in puts) == sorted(tree(dist))
    assert [phase(p) for p, _ in puts] == sorted(phase(p) for p, _ in puts)
    policy = dict(puts)
    assert "Cache-Control: public, max-age=31536000, immutable" in policy[EXACT_JS]
    assert "stale-while-revalidate" in policy["cdn/v1/retell-widget.js"]
    assert "max-age=0" in policy["docs/index.html"]
    assert out.rstrip().endswith("dry run: nothing was changed")


def test_a_second_publish_at_the_same_time_is_refused(dist, tmp_path, capsys):
    target = tmp_path / "www"
    assert publish(dist, str(target)) == 0
    with open(target / ".publish.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert publish(dist, str(target)) == 1
    assert f"error: another publish to {target} is running" in capsys.readouterr().err


@pytest.mark.parametrize("make_args, status, message", [
    (lambda d, t: ["--from", str(t / "nope"), "--to", str(t / "www")], 2,
     "no such folder; run `python -m builder build` first"),
    (lambda d, t: ["--from", str(d / "docs"), "--to", str(t / "www")], 2, "not a build output (no cdn/manifest.json)"),
    (lambda d, t: ["--from", str(d), "--to", "ftp://host/site"], 2,
     "unsupported scheme 'ftp://'; give a folder path or s3://BUCKET/PREFIX"),
    (lambda d, t: ["--from", str(d), "--to", "s3:///prefix"], 2, "name a bucket, as in s3://BUCKET/PREFIX"),
    (lambda d, t: ["--from", str(d), "--to", str(t / "www"), "--endpoint-url", "http://x"], 2,
     "--endpoint-url applies to s3:// targets only"),
    (lambda d, t: ["--from", str(d), "--to", str(d)], 2, "is inside --from"),
    (lambda d, t: ["--from", str(d), "--to", str(d / "www")], 2, "is inside --from"),
    (lambda d, t: ["--from", str(d), "--to", str(d.parent)], 2, "holds files publish did not make (dist, site_src"),
    (lambda d, t: (t.joinpath("a-file").write_text("x"), ["--from", str(d), "--to", str(t / "a-file")])[1], 2,
     "is a file, not a folder"),
])
def test_rejects_bad_input(dist, tmp_path, capsys, make_args, status, message):
    assert main(["publish", *make_args(dist, tmp_path)]) == status
    assert message in capsys.readouterr().err


def test_to_is_required(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["publish", "--from", "dist"])
    assert exit.value.code == 2
    assert "the following arguments are required: --to" in capsys.readouterr().err


# Publishing to S3, against a real S3-compatible server (moto's) on a free local port.

@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path) -> None:
    """Test credentials for the local server, and nothing from the machine's own AWS settings."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(s3_endpoint, aws_env) -> Callable[..., tuple[str, object]]:
    """A new empty bucket on the local server; returns its name and a boto3 client."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return bucket, client


def s3_tree(dist: Path) -> dict[str, bytes]:
    """What goes to S3: the build without the _headers rules file, which S3 applies as metadata."""
    return {path: data for path, data in tree(dist).items() if not path.endswith("_headers")}


def objects(client, bucket: str) -> dict[str, bytes]:
    """The published files (without publish's own state object)."""
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])
            if not o["Key"].endswith(".publish-state.json")]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_publishes_to_s3_with_the_cache_policy_types_and_encodings(dist, s3, s3_endpoint, capsys):
    bucket, client = s3
    assert publish(dist, f"s3://{bucket}/site", "--endpoint-url", s3_endpoint) == 0
    assert objects(client, bucket) == {f"site/{p}": data for p, data in s3_tree(dist).items()}
    assert "cdn/_headers" in tree(dist) and "site/cdn/_headers" not in objects(client, bucket)
    state = json.loads(client.get_object(Bucket=bucket, Key="site/.publish-state.json")["Body"].read())
    assert state["metadata"][EXACT_JS]["CacheControl"] == "public, max-age=31536000, immutable"

    js = client.head_object(Bucket=bucket, Key=f"site/{EXACT_JS}")
    assert js["ContentType"] == "text/javascript; charset=utf-8"
    assert js["CacheControl"] == "public, max-age=31536000, immutable"
    assert "ContentEncoding" not in js
    # Each precompressed variant goes up under its own key, with its encoding and the plain file's type.
    for suffix, encoding in ((".gz", "gzip"), (".br", "br")):
        variant = client.head_object(Bucket=bucket, Key=f"site/{EXACT_JS}{suffix}")
        assert (variant["ContentType"], variant["ContentEncoding"]) == ("text/javascript; charset=utf-8", encoding)
        assert variant["CacheControl"] == "public, max-age=31536000, immutable"
    gz = client.get_object(Bucket=bucket, Key=f"site/{EXACT_JS}.gz")["Body"].read()
    assert gzip.decompress(gz) == (dist / EXACT_JS).read_bytes()
    alias = client.head_object(Bucket=bucket, Key="site/cdn/v1/retell-widget.js")
    assert "stale-while-revalidate" in alias["CacheControl"]
    page = client.head_object(Bucket=bucket, Key="site/docs/getting-started/index.html")
    assert page["ContentType"] == "text/html; charset=utf-8" and "max-age=0" in page["CacheControl"]

    paths = progress_paths(capsys.readouterr().out)
    assert sorted(paths) == sorted(s3_tree(dist))
    # Every exact-version file is up before any alias, and every alias before any page.
    assert [phase(p) for p in paths] == sorted(phase(p) for p in paths)


def test_s3_uploads_only_changed_files_and_never_deletes(dist, s3, s3_endpoint, capsys):
    bucket, client = s3
    client.put_object(Bucket=bucket, Key="docs/retired/index.html", Body=b"<p>old page</p>")
    to = f"s3://{bucket}"
    assert publish(dist, to, "--endpoint-url", s3_endpoint) == 0
    capsys.readouterr()
    assert publish(dist, to, "--endpoint-url", s3_endpoint) == 0
    out = capsys.readouterr().out
    assert progress_paths(out) == [] and f"is up to date ({len(s3_tree(dist))} files)" in out

    (dist / "docs/index.html").write_text("<p>edited</p>")
    assert publish(dist, to, "--endpoint-url", s3_endpoint) == 0
    out = capsys.readouterr().out
    assert progress_paths(out) == ["docs/index.html"]
    assert "1 published file(s) no longer in the build: left in place (publishing to S3 never deletes)" in out
    assert client.get_object(Bucket=bucket, Key="docs/index.html")["Body"].read() == b"<p>edited</p>"
    assert client.get_object(Bucket=bucket, Key="docs/retired/index.html")["Body"].read() == b"<p>old page</p>"


def test_s3_uploads_the_same_bytes_again_when_their_cache_policy_changes(dist, s3, s3_endpoint, capsys):
    bucket, client = s3
    assert publish(dist, f"s3://{bucket}", "--endpoint-url", s3_endpoint) == 0
    # As a publish by an older build whose policy cached v1/ for a minute would have recorded it.
    state = json.loads(client.get_object(Bucket=bucket, Key=".publish-state.json")["Body"].read())
    for path, metadata in state["metadata"].items():
        if path.startswith("cdn/v1/"):
            metadata["CacheControl"] = "public, max-age=60"
    client.put_object(Bucket=bucket, Key=".publish-state.json", Body=json.dumps(state).encode())
    capsys.readouterr()
    assert publish(dist, f"s3://{bucket}", "--endpoint-url", s3_endpoint) == 0
    paths = progress_paths(capsys.readouterr().out)
    assert sorted(paths) == sorted(p for p in s3_tree(dist) if p.startswith("cdn/v1/"))
    assert client.head_object(Bucket=bucket, Key="cdn/v1/retell-widget.js")["CacheControl"] == headers_for("cdn/v1/retell-widget.js")["Cache-Control"]
    assert publish(dist, f"s3://{bucket}", "--endpoint-url", s3_endpoint) == 0
    assert "is up to date" in capsys.readouterr().out


def _refusing(endpoint: str, key: str) -> Starlette:
    """An S3 endpoint that forwards everything to ``endpoint`` but refuses to store ``key``, as a
    bucket policy would: the failure reaches publish through boto3, unpatched."""
    http = httpx.AsyncClient()  # one for every request: a new client each time costs 20+ ms

    async def forward(request: Request) -> Response:
        body = await request.body()  # read in full: an unread body would be taken for the next request
        if request.method == "PUT" and request.url.path.endswith("/" + key):
            refusal = ("<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                       "<Message>Access Denied by bucket policy</Message></Error>")
            return Response(refusal, 403, media_type="application/xml")
        upstream = await http.request(request.method, endpoint + request.url.path, params=request.query_params,
                                      headers=[(k, v) for k, v in request.headers.raw
                                               if k not in (b"host", b"expect", b"content-length")],
                                      content=body)
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in ("content-length", "transfer-encoding",
                                                                                  "content-encoding", "connection")}
        return Response(upstream.content, upstream.status_code, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await http.aclose()

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "PUT", "POST", "HEAD", "DELETE"])],
                     lifespan=lifespan)


def test_a_failed_s3_upload_stops_before_anything_points_at_the_missing_file(dist, s3, s3_endpoint, capsys):
    bucket, client = s3
    with running(_refusing(s3_endpoint, "cdn/v1/retell-widget.js")) as port:
        assert publish(dist, f"s3://{bucket}", "--endpoint-url", f"http://127.0.0.1:{port}") == 1
    assert "error: S3 refused (AccessDenied): Access Denied by bucket policy; files already uploaded stay" \
        in capsys.readouterr().err
    uploaded = objects(client, bucket)
    assert {p for p in s3_tree(dist) if phase(p) == 0} <= set(uploaded)
    assert not any(phase(p) == 2 for p in uploaded)

    assert publish(dist, f"s3://{bucket}", "--endpoint-url", s3_endpoint) == 0
    assert objects(client, bucket) == s3_tree(dist)


def test_s3_refuses_to_change_a_published_exact_version(dist, s3, s3_endpoint, capsys):
    bucket, client = s3
    assert publish(dist, f"s3://{bucket}/p", "--endpoint-url", s3_endpoint) == 0
    before = objects(client, bucket)
    (dist / EXACT_JS).write_bytes(b"// tampered\n")
    (dist / "docs/index.html").write_text("<p>would point at it</p>")
    capsys.readouterr()
    assert publish(dist, f"s3://{bucket}/p", "--endpoint-url", s3_endpoint) == 1
    err = capsys.readouterr().err
    assert f"error: {EXACT_JS} is already published at s3://{bucket}/p at {s3_endpoint} with different bytes" in err
    assert objects(client, bucket) == before


def test_s3_endpoint_comes_from_the_environment_and_dry_run_uploads_nothing(dist, s3, s3_endpoint, capsys,
                                                                            monkeypatch):
    bucket, client = s3
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    assert publish(dist, f"s3://{bucket}/site", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"publish to s3://{bucket}/site at {s3_endpoint}: {len(s3_tree(dist))} to put" in out
    assert f"    put {EXACT_JS}  (Cache-Control: public, max-age=31536000, immutable; " in out
    assert objects(client, bucket) == {}
    assert publish(dist, f"s3://{bucket}/site") == 0
    assert len(objects(client, bucket)) == len(s3_tree(dist))


def test_s3_reports_a_missing_bucket(dist, s3, s3_endpoint, capsys):
    assert publish(dist, "s3://no-such-bucket/site", "--endpoint-url", s3_endpoint) == 1
    assert f"error: bucket 'no-such-bucket' does not exist at {s3_endpoint}" in capsys.readouterr().err


def test_s3_reports_missing_credentials(dist, s3, s3_endpoint, capsys, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert publish(dist, f"s3://{s3[0]}", "--endpoint-url", s3_endpoint) == 1
    assert "error: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in capsys.readouterr().err


def test_s3_reports_an_unreachable_endpoint(dist, s3, capsys):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        assert publish(dist, "s3://some-bucket", "--endpoint-url", f"http://127.0.0.1:{port}") == 1
    assert f"error: cannot reach S3 at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_s3_rollback_republishes_an_older_build_and_list_shows_each_publish(s3_endpoint, aws_env, tmp_path, capsys):
    # Tiny builds, not the site's: the local S3 server takes 20 to 30 ms per object.
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    to, endpoint = f"s3://{bucket}/site", ["--endpoint-url", s3_endpoint]
    assert main(["publish", "--to", to, "--list", *endpoint]) == 0
    assert capsys.readouterr().out == f"no publish records at {to} at {s3_endpoint}\n"
    old = tiny_build(tmp_path / "old", "1.0.0", "<p>old</p>")
    assert publish(old, to, *endpoint) == 0
    assert publish(tiny_build(tmp_path / "new", "1.0.1", "<p>new</p>"), to, *endpoint) == 0
    capsys.readouterr()

    assert main(["publish", "--to", to, "--rollback", "--from", str(old), *endpoint]) == 0
    out = capsys.readouterr().out
    assert f"rolling back {to} to the build in {old}: " in out and "latest 1.0.0 (v1 1.0.0)" in out
    # Only the mutable objects go up again, the alias before what points at it (a phase's uploads run
    # in parallel, so the last two come in either order).
    paths = progress_paths(out)
    assert paths[0] == "cdn/v1/retell-widget.js" and sorted(paths[1:]) == ["cdn/manifest.json", "docs/index.html"]
    uploaded = objects(client, bucket)
    assert uploaded["site/docs/index.html"] == b"<p>old</p>" and uploaded["site/cdn/v1/retell-widget.js"] == b"// 1.0.0\n"
    assert uploaded["site/cdn/v1.0.1/retell-widget.js"] == b"// 1.0.1\n"  # a published exact version stays

    assert main(["publish", "--to", to, "--list", *endpoint]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"publishes to {to} at {s3_endpoint}, newest first (* = the last complete publish, what is live):"
    assert [(line[:2], line.rsplit("latest ", 1)[1]) for line in lines[1:]] == [
        ("* ", "1.0.0 (v1 1.0.0)"), ("  ", "1.0.1 (v1 1.0.1)"), ("  ", "1.0.0 (v1 1.0.0)")]
    assert all("commit unknown" in line for line in lines[1:])
