"""Command line: ``python -m builder build | check | freeze | serve | publish``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", type=Path, default=Path("site_src"), help="site source folder (default: site_src)")
    parser.add_argument("--widget", type=Path, default=Path("widget"), help="widget source folder (default: widget)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a [site] setting from site.toml, e.g. --set cdn_url=http://cdn.localhost:8001",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m builder", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    _add_source_args(verbs.add_parser("build", help="build the CDN tree, client demo pages and docs into --out"))
    _add_source_args(verbs.add_parser("check", help="validate everything a build would, without writing"))
    _add_source_args(verbs.add_parser(
        "freeze", help="archive each line's current release in site_src/releases/ so its bytes outlive widget/ changes"))
    serve = verbs.add_parser(
        "serve", help="build into a temporary folder, serve it on 127.0.0.1, rebuild and reload pages on change",
        description="Build into a temporary folder (never dist/), serve /cdn/, /clients/ and /docs/ on one "
                    "local origin, watch --src and --widget, rebuild on change and reload open pages. A failed "
                    "rebuild keeps the last good build and shows its errors in the terminal and on the page.",
    )
    serve.add_argument("--src", type=Path, default=Path("site_src"), help="site source folder (default: site_src)")
    serve.add_argument("--widget", type=Path, default=Path("widget"), help="widget source folder (default: widget)")
    serve.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1; 0 picks a free one (default: 8000)")
    serve.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a [site] setting; cdn_url and docs_url already point at the local server",
    )
    publish = verbs.add_parser(
        "publish", help="publish a build to a folder or an S3 bucket, exact versions first, never overwriting one",
        description="Publish a build output: exact versions first, then aliases and assets, then HTML, JSON "
                    "and XML. A folder target gets a new snapshot in DIR/snapshots/ (the newest 3 are kept) and "
                    "DIR/current, a symbolic link, is swapped to it atomically, with nginx.conf, nginx-server.conf and a "
                    "Caddyfile for serving it written beside it; an S3 target gets only the files "
                    "that changed. A published exact version (cdn/vX.Y.Z/) is never changed or deleted: "
                    "different bytes for it are refused. --list shows what was published (time, git commit, "
                    "widget versions); --rollback switches a folder's DIR/current back to an older snapshot "
                    "atomically, or republishes an older build (--from) to S3, whose aliases, pages and "
                    "manifest have no older copy.",
    )
    publish.add_argument("--from", dest="source", type=Path, default=None, metavar="DIR",
                         help="build output to publish (default: dist); with --rollback to S3, the older build")
    publish.add_argument("--to", dest="target", required=True, metavar="DIR|s3://BUCKET/PREFIX",
                         help="a local folder, or an S3 bucket and optional key prefix")
    publish.add_argument("--endpoint-url", default=None, metavar="URL",
                         help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL, else AWS)")
    publish.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    publish.add_argument("--list", action="store_true",
                         help="list the snapshots (folder) or last publishes (S3): time, commit, widget versions; "
                              "* marks the live one")
    publish.add_argument("--rollback", nargs="?", const="", default=None, metavar="SNAPSHOT",
                         help="folder: switch DIR/current to SNAPSHOT (a name --list shows), by default the one "
                              "before the current; S3: republish the older build given with --from")
    return parser


def _fail(errors: list[str], notes: list[str] | None = None, verb: str = "build") -> int:
    for line in [*(notes or []), *errors]:
        print(line, file=sys.stderr)
    print(f"{verb} failed: {len(errors)} error(s)", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "publish" and (args.list or args.rollback is not None):
        from builder.rollback import run

        return run(args.target, listing=args.list, rollback=args.rollback, source=args.source,
                   endpoint_url=args.endpoint_url, dry_run=args.dry_run)
    if args.verb == "publish":
        from builder.publish import publish

        return publish(args.source or Path("dist"), args.target, endpoint_url=args.endpoint_url,
                       dry_run=args.dry_run)
    from builder.build import BuildError, Builder
    from builder.config import ConfigError, load_config

    overrides = dict(item.split("=", 1) for item in args.set if "=" in item)
    bad = [item for item in args.set if "=" not in item]
    if bad:
        print(f"error: --set takes KEY=VALUE, got {bad[0]!r}", file=sys.stderr)
        return 2
    if args.verb == "serve":
        from builder.serve import serve

        return serve(args.src, args.widget, args.port, overrides)
    try:
        config = load_config(args.src, args.widget, args.out, overrides)
    except ConfigError as exc:
        return _fail(exc.errors, verb=args.verb)
    if args.verb == "check":
        errors = Builder(config, cache=False).check()
        if errors:
            return _fail(errors, verb="check")
        print("check passed: no errors")
        return 0
    try:
        if args.verb == "freeze":
            written = Builder(config, cache=False).freeze()
            print("\n".join(f"archived {v} in {config.archive / v}/" for v in written)
                  or "every line's current release is already archived")
            return 0
        report = Builder(config).build()
    except BuildError as exc:
        return _fail(exc.errors, exc.notes, args.verb)
    print("\n".join(report.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
